// The example server's AWS Signature Version 4 verifier, checked against the
// examples AWS publishes for S3 (AKIAIOSFODNN7EXAMPLE, examplebucket,
// 2013-05-24T00:00:00Z), then every way a request can fail; plus the
// credentials file and the private-file check it relies on.

#include "../aws_chunked.hpp"
#include "../credentials.hpp"
#include "../options.hpp"
#include "../private_file.hpp"
#include "../sigv4.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace http = boost::beast::http;
using s3server::HttpRequest;
using s3server::S3Error;
using s3server::SigV4Verifier;
using namespace std::chrono_literals;

constexpr const char* example_key_id = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* example_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* example_scope = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";
const std::chrono::system_clock::time_point example_time = date::sys_days(date::year{2013} / 5 / 24);

s3server::Credentials example_credentials(const std::string& secret = example_secret) {
    return s3server::Credentials::parse(std::string(example_key_id) + ":" + secret + "\n", "test");
}

SigV4Verifier verifier_at(std::chrono::system_clock::time_point now,
                          std::optional<s3server::Credentials> credentials = example_credentials(),
                          bool allow_anonymous = false) {
    return SigV4Verifier(std::move(credentials), allow_anonymous, [now] { return now; });
}

HttpRequest request(http::verb method, const std::string& target,
                    std::initializer_list<std::pair<const char*, std::string>> headers, std::string body = {}) {
    HttpRequest req{method, target, 11};
    for (const auto& [name, value] : headers) req.insert(name, value);
    req.body() = std::move(body);
    return req;
}

// AWS's "GET Object" example: a Range header, an empty signed payload.
HttpRequest
get_object_example(const std::string& signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                   const std::string& credential = example_scope) {
    return request(
        http::verb::get, "/test.txt",
        {{"Host", "examplebucket.s3.amazonaws.com"},
         {"Authorization", "AWS4-HMAC-SHA256 Credential=" + credential +
                               ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" + signature},
         {"Range", "bytes=0-9"},
         {"x-amz-content-sha256", empty_sha256},
         {"x-amz-date", "20130524T000000Z"}});
}

// AWS's "PUT Object" example: a Date header besides x-amz-date, a '$' in the key.
HttpRequest put_object_example(const std::string& target, std::string body = "Welcome to Amazon S3.") {
    return request(
        http::verb::put, target,
        {{"Host", "examplebucket.s3.amazonaws.com"},
         {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
         {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                           "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                           "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
         {"x-amz-date", "20130524T000000Z"},
         {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
         {"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}},
        std::move(body));
}

// A bucket GET of AWS's examples (GET Bucket Lifecycle, GET Bucket).
HttpRequest bucket_get_example(const std::string& target, const std::string& signature) {
    return request(http::verb::get, target,
                   {{"Host", "examplebucket.s3.amazonaws.com"},
                    {"Authorization", std::string("AWS4-HMAC-SHA256 Credential=") + example_scope +
                                          ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" + signature},
                    {"x-amz-content-sha256", empty_sha256},
                    {"x-amz-date", "20130524T000000Z"}});
}

const std::string presigned_example_query =
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

HttpRequest presigned(const std::string& query) {
    return request(http::verb::get, "/test.txt?" + query, {{"Host", "examplebucket.s3.amazonaws.com"}});
}

// AWS's chunked upload example: 65536 + 1024 bytes of 'a' in three chunks.
HttpRequest chunked_example(const std::string& body) {
    return request(
        http::verb::put, "/examplebucket/chunkObject.txt",
        {{"Host", "s3.amazonaws.com"},
         {"x-amz-date", "20130524T000000Z"},
         {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
         {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                           "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                           "x-amz-decoded-content-length;x-amz-storage-class,"
                           "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"},
         {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
         {"Content-Encoding", "aws-chunked"},
         {"x-amz-decoded-content-length", "66560"},
         {"Content-Length", "66824"}},
        body);
}

std::string chunk(std::size_t size, const std::string& extension) {
    char header[32];
    std::snprintf(header, sizeof header, "%zx", size);
    return header + extension + "\r\n" + std::string(size, 'a') + "\r\n";
}

std::string chunked_example_body(
    const std::string& first = ";chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    const std::string& second = ";chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    const std::string& last = ";chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9") {
    return chunk(65536, first) + chunk(1024, second) + "0" + last + "\r\n\r\n";
}

// The S3 error `action` throws: its code and HTTP status.
template <class Action>
std::pair<std::string, int> error_of(Action&& action) {
    try {
        action();
    } catch (const S3Error& error) {
        return {error.code(), error.http_status()};
    }
    return {"no error", 0};
}

std::string detail_of(const S3Error& error, const std::string& element) {
    for (const auto& [name, text] : error.details())
        if (name == element) return text;
    return {};
}

// A directory removed at the end of a test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "s3repl-sigv4-test-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path file(const std::string& name, const std::string& text, ::mode_t mode) const {
        const std::filesystem::path file_path = path / name;
        std::ofstream(file_path, std::ios::binary) << text;
        REQUIRE(::chmod(file_path.c_str(), mode) == 0);
        return file_path;
    }
};

} // namespace

TEST_CASE("AWS's GET Object example verifies, and a changed header does not", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    const s3server::Authentication auth = verifier.verify(get_object_example());
    CHECK(auth.access_key_id() == example_key_id);
    CHECK_NOTHROW(auth.check_payload(""));
    CHECK_FALSE(auth.chunk_signatures().has_value());

    HttpRequest changed = get_object_example();
    changed.set(http::field::range, "bytes=0-10");
    CHECK(error_of([&] { verifier.verify(changed); }) == std::pair<std::string, int>("SignatureDoesNotMatch", 403));
    HttpRequest other_path = get_object_example();
    other_path.target("/test.txt2");
    CHECK(error_of([&] { verifier.verify(other_path); }).first == "SignatureDoesNotMatch");
    // Header values are trimmed and inner spaces folded before signing.
    HttpRequest spaced = get_object_example();
    spaced.set(http::field::range, "  bytes=0-9 ");
    CHECK_NOTHROW(verifier.verify(spaced));
}

TEST_CASE("a SignatureDoesNotMatch tells what the server signed", "[sigv4]") {
    try {
        verifier_at(example_time, example_credentials("another-secret")).verify(get_object_example());
        FAIL("a wrong secret verified");
    } catch (const S3Error& error) {
        CHECK(error.code() == "SignatureDoesNotMatch");
        CHECK(error.http_status() == 403);
        CHECK(detail_of(error, "AWSAccessKeyId") == example_key_id);
        CHECK(detail_of(error, "CanonicalRequest") ==
              "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
              "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
              "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        CHECK(detail_of(error, "StringToSign") ==
              "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    }
}

TEST_CASE("AWS's PUT Object example verifies with either spelling of its key, and its payload is checked", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    for (const char* target : {"/test%24file.text", "/test$file.text"}) {
        INFO(target);
        const s3server::Authentication auth = verifier.verify(put_object_example(target));
        CHECK_NOTHROW(auth.check_payload("Welcome to Amazon S3."));
        try {
            auth.check_payload("Welcome to Amazon S3!");
            FAIL("a changed payload passed");
        } catch (const S3Error& error) {
            CHECK(error.code() == "XAmzContentSHA256Mismatch");
            CHECK(error.http_status() == 400);
            CHECK(detail_of(error, "S3ComputedContentSHA256") == s3server::sigv4::sha256_hex("Welcome to Amazon S3!"));
        }
    }
    // The Date header alone stands in for X-Amz-Date.
    HttpRequest date_only = put_object_example("/test$file.text");
    date_only.erase("x-amz-date");
    CHECK(error_of([&] { verifier.verify(date_only); }).first == "SignatureDoesNotMatch"); // x-amz-date was signed
}

TEST_CASE("AWS's bucket GET examples verify: a value-less parameter, and parameters in any order", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    CHECK_NOTHROW(verifier.verify(
        bucket_get_example("/?lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")));
    CHECK_NOTHROW(verifier.verify(
        bucket_get_example("/?lifecycle=", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")));
    for (const char* target : {"/?max-keys=2&prefix=J", "/?prefix=J&max-keys=2"}) {
        INFO(target);
        CHECK_NOTHROW(verifier.verify(
            bucket_get_example(target, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")));
    }
    CHECK(error_of([&] {
              verifier.verify(bucket_get_example("/?max-keys=3&prefix=J",
                                                 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
          }).first == "SignatureDoesNotMatch");
}

TEST_CASE("AWS's presigned URL example verifies until it expires, not before its date", "[sigv4]") {
    const HttpRequest example = presigned(presigned_example_query);
    CHECK(verifier_at(example_time).verify(example).access_key_id() == example_key_id);
    CHECK_NOTHROW(verifier_at(example_time + 86400s).verify(example));
    try {
        verifier_at(example_time + 86401s).verify(example);
        FAIL("an expired URL verified");
    } catch (const S3Error& error) {
        CHECK(error.code() == "AccessDenied");
        CHECK(error.http_status() == 403);
        CHECK(std::string(error.what()) == "Request has expired");
        CHECK(detail_of(error, "Expires") == "2013-05-25T00:00:00Z");
        CHECK(detail_of(error, "ServerTime") == "2013-05-25T00:00:01Z");
    }
    CHECK_NOTHROW(verifier_at(example_time - 15min).verify(example));
    CHECK(error_of([&] { verifier_at(example_time - 15min - 1s).verify(example); }) ==
          std::pair<std::string, int>("AccessDenied", 403));
    // The payload of a presigned request is unsigned.
    CHECK_NOTHROW(verifier_at(example_time).verify(example).check_payload("anything"));
    HttpRequest other_key = example;
    other_key.target("/test2.txt?" + presigned_example_query);
    CHECK(error_of([&] { verifier_at(example_time).verify(other_key); }).first == "SignatureDoesNotMatch");
    CHECK(error_of([&] { verifier_at(example_time).verify(presigned(presigned_example_query + "&extra=1")); }).first ==
          "SignatureDoesNotMatch");
}

TEST_CASE("presigned URL parameters S3 refuses", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    const auto replaced = [](const std::string& from, const std::string& to) {
        std::string query = presigned_example_query;
        const std::size_t at = query.find(from);
        REQUIRE(at != std::string::npos);
        return presigned(query.replace(at, from.size(), to));
    };
    const std::pair<std::string, int> malformed{"AuthorizationQueryParametersError", 400};
    for (const char* expires : {"X-Amz-Expires=0", "X-Amz-Expires=604801", "X-Amz-Expires=-1", "X-Amz-Expires=1e3",
                                "X-Amz-Expires=", "X-Amz-Expires=99999999999999999999"}) {
        INFO(expires);
        CHECK(error_of([&] { verifier.verify(replaced("X-Amz-Expires=86400", expires)); }) == malformed);
    }
    CHECK(error_of([&] { verifier.verify(replaced("X-Amz-Expires=86400&", "")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(replaced("AWS4-HMAC-SHA256&", "AWS4-HMAC-SHA1&")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(replaced("20130524T000000Z", "2013-05-24T00:00:00Z")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(replaced("20130524T000000Z", "20130525T000000Z")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(replaced("us-east-1", "eu-west-1")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(replaced("%2Fs3%2F", "%2Fec2%2F")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(replaced("SignedHeaders=host", "SignedHeaders=range")); }) == malformed);
    CHECK(error_of([&] { verifier.verify(presigned(presigned_example_query + "&X-Amz-Date=20130524T000000Z")); }) ==
          malformed);
    CHECK(error_of([&] { verifier.verify(replaced("AKIAIOSFODNN7EXAMPLE", "AKIDUNKNOWN")); }) ==
          std::pair<std::string, int>("InvalidAccessKeyId", 403));
    // An x-amz-* header the URL does not sign could add metadata or tags to a PUT.
    HttpRequest with_meta = presigned(presigned_example_query);
    with_meta.set("x-amz-meta-note", "added");
    CHECK(error_of([&] { verifier.verify(with_meta); }) == std::pair<std::string, int>("AccessDenied", 403));
    // Header and query authentication at once.
    HttpRequest both = get_object_example();
    both.target("/test.txt?" + presigned_example_query);
    CHECK(error_of([&] { verifier.verify(both); }) == std::pair<std::string, int>("InvalidArgument", 400));
    // SigV2's query form.
    CHECK(error_of([&] { verifier.verify(presigned("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1&Signature=x")); }) ==
          std::pair<std::string, int>("InvalidRequest", 400));
}

TEST_CASE("AWS's chunked upload example: seed and chunk signatures verify in order", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    const std::string body = chunked_example_body();
    const s3server::Authentication auth = verifier.verify(chunked_example(body));
    CHECK_NOTHROW(auth.check_payload(body)); // the streaming payload is signed by chunks, not by one hash
    std::optional<s3server::sigv4::ChunkSignatureChain> chain = auth.chunk_signatures();
    REQUIRE(chain.has_value());
    CHECK(s3server::decode_aws_chunked(body, &*chain) == std::string(66560, 'a'));

    const std::pair<std::string, int> mismatch{"SignatureDoesNotMatch", 403};
    std::string tampered = body;
    tampered[tampered.find("\r\naaaa") + 2] = 'b';
    CHECK(error_of([&] {
              auto fresh = auth.chunk_signatures();
              s3server::decode_aws_chunked(tampered, &*fresh);
          }) == mismatch);
    const std::string first = ";chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    const std::string second = ";chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    for (const std::string& framed :
         {chunked_example_body("", second), chunked_example_body(first, ";chunk-signature="),
          chunked_example_body(first, second, ""), chunked_example_body(second, first),
          chunked_example_body(first, second, second),
          chunked_example_body(";chunk-signature=AD80C730A21E5B8D04586A2213DD63B9A0E99E0E2307B0ADE35A65485A288648",
                               second),
          chunk(65536, first) + "0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n"
                                "\r\n"}) {
        auto fresh = auth.chunk_signatures();
        CHECK(error_of([&] { s3server::decode_aws_chunked(framed, &*fresh); }) == mismatch);
    }
    // Unsigned framing still decodes without a chain (its extensions are ignored).
    CHECK(s3server::decode_aws_chunked(tampered).size() == 66560);
    // Another seed: the request's own signature is part of the chain.
    s3server::sigv4::ChunkSignatureChain other_seed(
        s3server::sigv4::signing_key(example_secret, "20130524", "us-east-1"), "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request", std::string(64, '0'), false);
    CHECK(error_of([&] { s3server::decode_aws_chunked(body, &other_seed); }) == mismatch);
}

TEST_CASE("AWS's chunked upload with a signed trailer: chunks and trailer verify", "[sigv4]") {
    const auto chain = [] {
        return s3server::sigv4::ChunkSignatureChain(
            s3server::sigv4::signing_key(example_secret, "20130524", "us-east-1"), "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request", "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
            true);
    };
    const std::string chunks =
        chunk(65536, ";chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2") +
        chunk(1024, ";chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7") +
        "0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n";
    const std::string trailer = "x-amz-checksum-crc32c:sOO8/Q==\r\n";
    const std::string signature =
        "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n";
    auto good = chain();
    CHECK(s3server::decode_aws_chunked(chunks + trailer + signature, &good) == std::string(66560, 'a'));
    for (const std::string& framed :
         {chunks + "x-amz-checksum-crc32c:AAAAAA==\r\n" + signature, chunks + trailer + "\r\n", chunks + signature}) {
        auto fresh = chain();
        CHECK(error_of([&] { s3server::decode_aws_chunked(framed, &fresh); }) ==
              std::pair<std::string, int>("SignatureDoesNotMatch", 403));
    }
    auto torn = chain();
    CHECK(error_of([&] { s3server::decode_aws_chunked(chunks + trailer, &torn); }) ==
          std::pair<std::string, int>("IncompleteBody", 400));
}

TEST_CASE("the clock: X-Amz-Date up to 15 minutes either way", "[sigv4]") {
    const HttpRequest example = get_object_example();
    for (const std::chrono::minutes skew : {15min, -15min, 0min})
        CHECK_NOTHROW(verifier_at(example_time + skew).verify(example));
    for (const std::chrono::seconds skew : {15min + 1s, -15min - 1s, std::chrono::seconds(24h)}) {
        try {
            verifier_at(example_time + skew).verify(example);
            FAIL("a skewed request verified");
        } catch (const S3Error& error) {
            CHECK(error.code() == "RequestTimeTooSkewed");
            CHECK(error.http_status() == 403);
            CHECK(detail_of(error, "RequestTime") == "20130524T000000Z");
            CHECK(detail_of(error, "MaxAllowedSkewMilliseconds") == "900000");
        }
    }
}

TEST_CASE("who may ask: unsigned, unknown keys, anonymous servers", "[sigv4]") {
    const HttpRequest unsigned_request = request(http::verb::get, "/test.txt", {{"Host", "examplebucket"}});
    CHECK(error_of([&] { verifier_at(example_time).verify(unsigned_request); }) ==
          std::pair<std::string, int>("AccessDenied", 403));
    CHECK(verifier_at(example_time, example_credentials(), true).verify(unsigned_request).access_key_id().empty());
    // With --allow-anonymous beside credentials, a signed request is still verified.
    CHECK(error_of([&] {
              verifier_at(example_time, example_credentials("other"), true).verify(get_object_example());
          }).first == "SignatureDoesNotMatch");
    // Without credentials nothing is checked.
    CHECK(verifier_at(example_time, std::nullopt, true).verify(get_object_example("0")).access_key_id().empty());

    try {
        verifier_at(example_time, s3server::Credentials::parse("AKIDOTHER:secret\n", "test"))
            .verify(get_object_example());
        FAIL("an unknown key verified");
    } catch (const S3Error& error) {
        CHECK(error.code() == "InvalidAccessKeyId");
        CHECK(error.http_status() == 403);
        CHECK(detail_of(error, "AWSAccessKeyId") == example_key_id);
    }
}

TEST_CASE("the scope: region us-east-1, service s3, the request's date", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    try {
        verifier.verify(get_object_example("x", "AKIAIOSFODNN7EXAMPLE/20130524/eu-west-1/s3/aws4_request"));
        FAIL("another region verified");
    } catch (const S3Error& error) {
        CHECK(error.code() == "AuthorizationHeaderMalformed");
        CHECK(error.http_status() == 400);
        CHECK(detail_of(error, "Region") == "us-east-1");
    }
    for (const char* credential :
         {"AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/sqs/aws4_request", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4",
          "AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request",
          "AKIAIOSFODNN7EXAMPLE/2013052/us-east-1/s3/aws4_request", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3",
          "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request/x", "/20130524/us-east-1/s3/aws4_request", ""}) {
        INFO(credential);
        CHECK(error_of([&] { verifier.verify(get_object_example("x", credential)); }) ==
              std::pair<std::string, int>("AuthorizationHeaderMalformed", 400));
    }
}

TEST_CASE("the headers a signed request needs", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    HttpRequest no_sha = get_object_example();
    no_sha.erase("x-amz-content-sha256");
    CHECK(error_of([&] { verifier.verify(no_sha); }) == std::pair<std::string, int>("InvalidRequest", 400));
    for (const char* value : {"", "unsigned-payload", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                              "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "e3b0c442"}) {
        HttpRequest bad = get_object_example();
        bad.set("x-amz-content-sha256", value);
        CHECK(error_of([&] { verifier.verify(bad); }) == std::pair<std::string, int>("InvalidArgument", 400));
    }
    HttpRequest no_date = get_object_example();
    no_date.erase("x-amz-date");
    CHECK(error_of([&] { verifier.verify(no_date); }) == std::pair<std::string, int>("AccessDenied", 403));
    HttpRequest bad_date = get_object_example();
    bad_date.set("x-amz-date", "20130524T250000Z");
    CHECK(error_of([&] { verifier.verify(bad_date); }) == std::pair<std::string, int>("AccessDenied", 403));
    HttpRequest unsigned_amz = get_object_example();
    unsigned_amz.set("X-Amz-Meta-Note", "not signed");
    try {
        verifier.verify(unsigned_amz);
        FAIL("an unsigned x-amz-meta header passed");
    } catch (const S3Error& error) {
        CHECK(error.code() == "AccessDenied");
        CHECK(detail_of(error, "HeadersNotSigned") == "x-amz-meta-note");
    }
    HttpRequest host_unsigned = get_object_example();
    host_unsigned.set(http::field::authorization,
                      std::string("AWS4-HMAC-SHA256 Credential=") + example_scope +
                          ",SignedHeaders=range;x-amz-content-sha256;x-amz-date,Signature=" + std::string(64, '0'));
    CHECK(error_of([&] { verifier.verify(host_unsigned); }) ==
          std::pair<std::string, int>("AuthorizationHeaderMalformed", 400));
    HttpRequest sigv2 = get_object_example();
    sigv2.set(http::field::authorization, "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
    CHECK(error_of([&] { verifier.verify(sigv2); }) == std::pair<std::string, int>("InvalidRequest", 400));
}

TEST_CASE("malformed Authorization headers give 400 or 403, never anything else", "[sigv4]") {
    const SigV4Verifier verifier = verifier_at(example_time);
    const std::string valid(get_object_example()[http::field::authorization]);
    std::vector<std::string> headers;
    for (std::size_t length = 0; length < valid.size(); ++length) headers.push_back(valid.substr(0, length));
    for (std::size_t at = 0; at < valid.size(); ++at) {
        for (const char c : {'x', ',', '=', '/', ';', ' ', '\0'}) {
            if (valid[at] == c) continue;
            std::string mutated = valid;
            mutated[at] = c;
            headers.push_back(mutated);
        }
        headers.push_back(valid.substr(0, at) + valid.substr(at + 1));
    }
    const std::string credential = std::string("Credential=") + example_scope;
    const std::string parts =
        ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" + std::string(64, 'f');
    for (const std::string& odd : std::initializer_list<std::string>{
             "AWS4-HMAC-SHA256 " + credential + "," + credential + parts,
             "AWS4-HMAC-SHA256 " + credential + parts + ",Signature=00",
             "AWS4-HMAC-SHA256 " + credential + parts + ",Extra=1",
             "AWS4-HMAC-SHA256 " + credential + parts + ",",
             "AWS4-HMAC-SHA256 ,,," + credential + parts,
             std::string("AWS4-HMAC-SHA256  Credential"),
             "AWS4-HMAC-SHA256 Credential=" + std::string(60000, '/') + parts,
             "AWS4-HMAC-SHA256 Credential=" + std::string(60000, 'A') + parts,
             "AWS4-HMAC-SHA256 " + std::string(60000, ','),
             "AWS4-HMAC-SHA256 " + credential + ",SignedHeaders=" + std::string(60000, ';') + ",Signature=0",
             "AWS4-HMAC-SHA256 " + credential + ",SignedHeaders=;,Signature=0",
             std::string("Bearer token"),
             "aws4-hmac-sha256 " + credential + parts,
             std::string("\0\0\0", 3),
         })
        headers.push_back(odd);
    // A deterministic scatter of random bytes.
    std::uint32_t state = 12345;
    for (int round = 0; round < 200; ++round) {
        std::string noise = "AWS4-HMAC-SHA256 ";
        for (int i = 0; i < 300; ++i) {
            state = state * 1664525u + 1013904223u;
            noise += static_cast<char>(state >> 24);
        }
        headers.push_back(noise);
    }
    for (const std::string& header : headers) {
        HttpRequest req = get_object_example();
        req.set(http::field::authorization, header);
        try {
            verifier.verify(req);
            FAIL("verified: " << header);
        } catch (const S3Error& error) {
            INFO(header.substr(0, 200));
            CHECK((error.http_status() == 400 || error.http_status() == 403));
        }
    }
}

TEST_CASE("canonical URIs and query strings as S3 makes them", "[sigv4]") {
    using s3server::sigv4::canonical_query;
    using s3server::sigv4::canonical_uri;
    using s3server::sigv4::parse_query;
    CHECK(canonical_uri("/test$file.text") == "/test%24file.text");
    CHECK(canonical_uri("/test%24file.text") == "/test%24file.text");
    CHECK(canonical_uri("/a%20b+c") == "/a%20b%2Bc");
    CHECK(canonical_uri("/%7Euser/%2F") == "/~user/%2F");
    CHECK(canonical_uri("/a%2Fb/c") == "/a%2Fb/c");
    CHECK(canonical_uri("/a//b/../c/./d") == "/a//b/../c/./d");
    CHECK(canonical_uri("/100%") == "/100%25");
    CHECK(canonical_uri("/%zz%4") == "/%25zz%254");
    CHECK(canonical_uri("/\xc3\xbc") == "/%C3%BC");
    CHECK(canonical_uri("") == "/");
    CHECK(canonical_query(parse_query("b=2&a=1&a=0")) == "a=0&a=1&b=2");
    CHECK(canonical_query(parse_query("versioning")) == "versioning=");
    CHECK(canonical_query(parse_query("prefix=a/b&delimiter=%2F")) == "delimiter=%2F&prefix=a%2Fb");
    CHECK(canonical_query(parse_query("k=a%20b&&x=%7E")) == "k=a%20b&x=~");
    CHECK(canonical_query(parse_query("X-Amz-Signature=abc&a=1"), "X-Amz-Signature") == "a=1");
    CHECK(canonical_query(parse_query("")).empty());
    CHECK(s3server::sigv4::trimmed_value("  a \t  b  c ") == "a b c");
}

TEST_CASE("timestamps: X-Amz-Date and the HTTP Date header", "[sigv4]") {
    using s3server::sigv4::parse_amz_date;
    using s3server::sigv4::parse_http_date;
    CHECK(parse_amz_date("20130524T000000Z") == example_time);
    CHECK(parse_http_date("Fri, 24 May 2013 00:00:00 GMT") == example_time);
    CHECK(parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT") == date::sys_days(date::year{2024} / 2 / 29) + 86399s);
    for (const char* bad : {"20130230T000000Z", "20130524T240000Z", "20130524T000060Z", "20130524 000000Z",
                            "2013052T000000Z", "20130524T000000", "+0130524T000000Z", ""})
        CHECK_FALSE(parse_amz_date(bad).has_value());
    for (const char* bad : {"Fri, 24 Mai 2013 00:00:00 GMT", "Fri, 24 May 2013 00:00:00 UTC", "24 May 2013 00:00:00",
                            "Fri, 31 Jun 2013 00:00:00 GMT"})
        CHECK_FALSE(parse_http_date(bad).has_value());
}

TEST_CASE("signatures are compared with CRYPTO_memcmp, whole", "[sigv4]") {
    using s3server::sigv4::same_secret;
    const std::string signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    CHECK(same_secret(signature, signature));
    std::string first = signature, last = signature;
    first.front() = '0';
    last.back() = '0';
    CHECK_FALSE(same_secret(first, signature));
    CHECK_FALSE(same_secret(last, signature));
    CHECK_FALSE(same_secret(signature.substr(0, 63), signature));
    CHECK_FALSE(same_secret("", signature));
    CHECK_FALSE(same_secret(signature + "0", signature));
}

TEST_CASE("the credentials file", "[credentials]") {
    using s3server::Credentials;
    const Credentials credentials =
        Credentials::parse("# the keys of this server\n\nAKID1:secret/with+chars\r\nAKID2:has:colons\n", "creds");
    REQUIRE(credentials.secret_of("AKID1") != nullptr);
    CHECK(*credentials.secret_of("AKID1") == "secret/with+chars");
    CHECK(*credentials.secret_of("AKID2") == "has:colons");
    CHECK(credentials.secret_of("AKID3") == nullptr);
    CHECK(credentials.secret_of("akid1") == nullptr);
    const auto error_of_text = [](const std::string& text) {
        try {
            Credentials::parse(text, "creds");
        } catch (const std::invalid_argument& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    // A line of spaces is not blank: it is malformed.
    CHECK(error_of_text("AKID1:s\n\n   \n") == "creds:3: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
    CHECK(error_of_text("a:b\n# x\nno colon here\n") == "creds:3: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
    CHECK(error_of_text(":secret\n") == "creds:1: the access key ID is empty");
    CHECK(error_of_text("AKID:\n") == "creds:1: the secret access key is empty");
    CHECK(error_of_text("AKID: secret\n") == "creds:1: a secret access key is printable ASCII without spaces");
    CHECK(error_of_text("AK/ID:secret\n") ==
          "creds:1: an access key ID is printable ASCII without spaces, '/', ',' or '='");
    CHECK(error_of_text("a:1\nb:2\na:3\n") == "creds:3: access key ID 'a' is listed twice");
    CHECK(error_of_text("") == "creds: the file holds no credentials");
    CHECK(error_of_text("# only a comment\n\n") == "creds: the file holds no credentials");
}

TEST_CASE("a secret file must be private to its owner", "[credentials]") {
    const TempDir dir;
    const auto message = [](const std::filesystem::path& path) {
        try {
            s3server::Credentials::read_file(path);
        } catch (const std::invalid_argument& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    const std::filesystem::path good = dir.file("good", "AKID:secret\n", 0600);
    CHECK(*s3server::Credentials::read_file(good).secret_of("AKID") == "secret");
    CHECK(s3server::read_private_file(dir.file("owner-read-only", "text", 0400), "--flag") == "text");
    CHECK(message(dir.file("world", "AKID:secret\n", 0644)) ==
          "--credentials " + (dir.path / "world").string() +
              ": group or others may access it (mode 0644); make it private with chmod 600");
    CHECK(message(dir.file("group", "AKID:secret\n", 0640)).find("(mode 0640)") != std::string::npos);
    CHECK(message(dir.file("others-write", "AKID:secret\n", 0602)).find("(mode 0602)") != std::string::npos);
    CHECK(message(dir.path / "absent") ==
          "--credentials " + (dir.path / "absent").string() + ": No such file or directory");
    CHECK(message(dir.path) == "--credentials " + dir.path.string() + ": not a regular file");
    CHECK(message(dir.file("bad-line", "AKID:secret\nbad\n", 0600)) ==
          "--credentials " + (dir.path / "bad-line").string() + ":2: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
}

TEST_CASE("--credentials and --allow-anonymous on the command line", "[credentials]") {
    const auto parse = [](std::vector<std::string> args) {
        args.insert(args.begin(), "s3repl-s3-server");
        std::vector<char*> argv;
        for (std::string& arg : args) argv.push_back(arg.data());
        return s3server::parse_options(static_cast<int>(argv.size()), argv.data());
    };
    const s3server::ServerOptions signed_only = parse({"--data-dir", "d", "--credentials", "creds"});
    CHECK(signed_only.credentials_file == "creds");
    CHECK_FALSE(signed_only.allow_anonymous);
    const s3server::ServerOptions anonymous = parse({"--allow-anonymous", "--data-dir", "d"});
    CHECK(anonymous.allow_anonymous);
    CHECK(anonymous.credentials_file.empty());
    CHECK(parse({"--data-dir", "d", "--credentials", "c", "--allow-anonymous"}).allow_anonymous);
    CHECK_THROWS_WITH(parse({"--data-dir", "d"}),
                      "--credentials FILE is required (or --allow-anonymous, to let anyone in)");
    CHECK_THROWS_WITH(parse({"--data-dir", "d", "--credentials"}), "--credentials needs a value");
}
