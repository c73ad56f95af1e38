// libFuzzer target for the AWS replication configuration document: each
// input goes to parse_replication_xml and to parse_replication_json (build
// and run: README.md here).
//
// The only exception allowed out of a parse is s3repl::ConfigError, and its
// code must be one of the three S3 codes; any other exception escapes and is
// reported as a crash. A configuration a parser accepts must round-trip in
// both spellings: written as XML and as JSON, each reads back equal.

#include <s3repl/aws_json.hpp>
#include <s3repl/aws_xml.hpp>
#include <s3repl/validate.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_aws_config: %s\n", what);
    std::abort();
}

template <class Parse>
std::optional<s3repl::ReplicationConfig> parse(Parse&& parse_document, std::string_view input) {
    try {
        return parse_document(input);
    } catch (const s3repl::ConfigError& error) {
        if (s3repl::to_string(error.code()).empty()) fail("a ConfigError without an S3 code");
        return std::nullopt;
    }
}

void check_round_trips(const s3repl::ReplicationConfig& config) {
    // Strings XML cannot carry (control characters, a carriage return that
    // XML reads back as a line feed) are the one thing the XML may not keep.
    bool xml_safe = true;
    s3repl::for_each_string(config, [&](std::string_view text, const char*) {
        for (const char c : text)
            if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') xml_safe = false;
    });
    if (s3repl::parse_replication_json(s3repl::to_replication_json(config)) != config)
        fail("an accepted configuration does not round-trip through JSON");
    if (xml_safe && s3repl::parse_replication_xml(s3repl::to_replication_xml(config)) != config)
        fail("an accepted configuration does not round-trip through XML");
    (void)s3repl::validate(config);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (const auto config = parse([](std::string_view text) { return s3repl::parse_replication_xml(text); }, input))
        check_round_trips(*config);
    if (const auto config = parse([](std::string_view text) { return s3repl::parse_replication_json(text); }, input))
        check_round_trips(*config);
    return 0;
}
