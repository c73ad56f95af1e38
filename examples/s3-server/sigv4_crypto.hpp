#pragma once

#include "s3_error.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

// The cryptography of AWS Signature Version 4, all of it OpenSSL's: SHA-256,
// HMAC-SHA256, the signing key, a constant-time comparison, and the chain of
// aws-chunked chunk signatures. Thread-safe: no shared state.
namespace s3server {
namespace sigv4 {

/// Lower-case hexadecimal of `bytes`, as SigV4 writes hashes and signatures.
inline std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(bytes.size() * 2);
    for (const char byte : bytes) {
        const auto value = static_cast<unsigned char>(byte);
        text += digits[value >> 4];
        text += digits[value & 0xf];
    }
    return text;
}

/// Hex(SHA-256(data)). O(data size).
inline std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("[s3server.sigv4] OpenSSL's SHA-256 failed");
    return hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

/// HMAC-SHA256(key, data): the 32 raw bytes.
inline std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &size) == nullptr)
        throw std::runtime_error("[s3server.sigv4] OpenSSL's HMAC-SHA256 failed");
    return std::string(reinterpret_cast<const char*>(mac), size);
}

/// The SigV4 signing key of a secret for one day (yyyymmdd) and region, for
/// the s3 service: HMAC("AWS4" + secret, date), then region, "s3",
/// "aws4_request".
inline std::string signing_key(std::string_view secret, std::string_view date, std::string_view region) {
    const std::string key = hmac_sha256(hmac_sha256("AWS4" + std::string(secret), date), region);
    return hmac_sha256(hmac_sha256(key, "s3"), "aws4_request");
}

/// Hex(HMAC-SHA256(key, string_to_sign)): a SigV4 signature.
inline std::string signature(std::string_view key, std::string_view string_to_sign) {
    return hex(hmac_sha256(key, string_to_sign));
}

/// Whether two secrets (signatures, bearer tokens) are equal, in a time that
/// depends on their length only (CRYPTO_memcmp): an early exit at the first
/// differing byte would let a client find a valid one byte by byte. Lengths
/// are not secret.
inline bool same_secret(std::string_view given, std::string_view expected) noexcept {
    return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

/// S3's answer to a signature that does not verify.
inline S3Error signature_does_not_match() {
    return S3Error("SignatureDoesNotMatch", 403,
                   "The request signature we calculated does not match the signature you provided. Check your key "
                   "and signing method.");
}

/// The chain of chunk signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD
/// (or -TRAILER) upload: each chunk's signature signs the chunk and the
/// signature before it, starting from the request's own (seed) signature,
/// so chunks can be neither changed, dropped nor reordered. Not thread-safe
/// (a chain belongs to one request); cost: one SHA-256 over each chunk.
class ChunkSignatureChain {
  public:
    /// `key`: the request's signing key; `timestamp`: its yyyymmddThhmmssZ;
    /// `scope`: yyyymmdd/region/s3/aws4_request; `seed`: its signature.
    /// `signed_trailer`: the upload ends with trailing headers and their
    /// x-amz-trailer-signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).
    ChunkSignatureChain(std::string key, std::string timestamp, std::string scope, std::string seed,
                        bool signed_trailer)
        : key_(std::move(key)), prefix_("\n" + timestamp + "\n" + scope + "\n"), previous_(std::move(seed)),
          signed_trailer_(signed_trailer) {}

    bool has_signed_trailer() const noexcept { return signed_trailer_; }

    /// Checks the `chunk-signature` of the next chunk (the final empty one
    /// too), then moves the chain on. Throws SignatureDoesNotMatch (403).
    void verify_chunk(std::string_view given, std::string_view chunk) {
        // The empty SHA-256 stands for the chunk's (absent) headers.
        advance("AWS4-HMAC-SHA256-PAYLOAD" + prefix_ + previous_ +
                    "\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" + sha256_hex(chunk),
                given);
    }

    /// Checks the x-amz-trailer-signature over the trailing headers, given
    /// as `name:value\n` lines. Throws SignatureDoesNotMatch (403).
    void verify_trailer(std::string_view given, std::string_view trailing_headers) {
        advance("AWS4-HMAC-SHA256-TRAILER" + prefix_ + previous_ + "\n" + sha256_hex(trailing_headers), given);
    }

  private:
    void advance(const std::string& string_to_sign, std::string_view given) {
        std::string expected = signature(key_, string_to_sign);
        if (!same_secret(given, expected)) throw signature_does_not_match();
        previous_ = std::move(expected);
    }

    std::string key_;
    std::string prefix_;
    std::string previous_;
    bool signed_trailer_;
};

} // namespace sigv4
} // namespace s3server
