// s3repl/key.hpp and the UTF-8 check behind it: is_valid_key answers exactly
// what a stamp accepts, and a rejected name's error names the byte offset of
// the first invalid sequence.

#include <s3repl/key.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

using s3repl::ReplicationStatus;
using s3repl::detail::first_invalid_utf8;

namespace {

struct Sample {
    const char* what;
    std::string bytes;
    std::size_t first_invalid; // npos: valid
};

constexpr std::size_t valid = std::string_view::npos;

const std::vector<Sample>& samples() {
    static const std::vector<Sample> all = {
        {"empty", "", valid},
        {"ASCII", "photos/2024/cat.jpg", valid},
        {"NUL", std::string("a\0b", 3), valid},
        {"2-byte", "caf\xC3\xA9", valid},
        {"4-byte emoji", "\xF0\x9F\x98\x80", valid},
        {"U+10FFFF", "\xF4\x8F\xBF\xBF", valid},
        {"FF after ASCII", "abc\xFF", 3},
        {"lone continuation first", "\x80z", 0},
        {"overlong '/'", "a/\xC0\xAF", 2},
        {"overlong 3-byte", "\xE0\x80\xAF", 0},
        {"surrogate", "x\xED\xA0\x80", 1},
        {"above U+10FFFF", "\xF4\x90\x80\x80", 0},
        {"truncated at the end", "caf\xC3", 3},
        {"truncated before ASCII", "\xE2\x82z", 0},
        {"valid 2-byte, then an extra continuation", "\xC3\xA9\xA9", 2},
        {"after 20 ASCII bytes (the 8-byte fast path)", std::string(20, 'a') + "\xF5", 20},
        {"after a valid 3-byte character", "\xE2\x82\xAC\xFE", 3},
    };
    return all;
}

} // namespace

TEST_CASE("first_invalid_utf8 gives the offset of the first invalid sequence, npos for valid text", "[utf8][key]") {
    for (const Sample& sample : samples()) {
        INFO(sample.what);
        CHECK(first_invalid_utf8(sample.bytes) == sample.first_invalid);
        CHECK(s3repl::detail::is_valid_utf8(sample.bytes) == (sample.first_invalid == valid));
    }
}

TEST_CASE("a stamp's UTF-8 error names what and the byte offset", "[utf8][key]") {
    s3repl::ReplicationManager manager;
    for (const Sample& sample : samples()) {
        if (sample.first_invalid == valid) continue;
        INFO(sample.what);
        const std::string at = "is not valid UTF-8 at byte " + std::to_string(sample.first_invalid) + " (byte 0x";
        CHECK_THROWS_WITH(manager.record_status("bucket", sample.bytes, ReplicationStatus::Pending),
                          Catch::StartsWith("[s3repl.argument] key " + at));
        CHECK_THROWS_WITH(manager.record_status_if_newer(sample.bytes, "key", 1, ReplicationStatus::Pending),
                          Catch::StartsWith("[s3repl.argument] bucket " + at));
    }
    CHECK_THROWS_WITH(manager.record_status("bucket", "abc\xFF", ReplicationStatus::Pending),
                      "[s3repl.argument] key is not valid UTF-8 at byte 3 (byte 0xff; S3 names are UTF-8 and JSON "
                      "cannot hold anything else)");
    CHECK(manager.size() == 0);
}

TEST_CASE("is_valid_key is true exactly for the keys a stamp accepts", "[utf8][key]") {
    s3repl::ReplicationManager manager;
    std::uint64_t generation = 0;
    for (const Sample& sample : samples()) {
        INFO(sample.what);
        bool stored = true;
        try {
            manager.record_status_if_newer("bucket", sample.bytes, ++generation, ReplicationStatus::Pending);
        } catch (const s3repl::InvalidArgument&) {
            stored = false;
        }
        CHECK(s3repl::is_valid_key(sample.bytes) == stored);
        CHECK(stored == (sample.first_invalid == valid));
    }
}

TEST_CASE("is_valid_key refuses a key longer than max_key_bytes without reading it", "[key]") {
    STATIC_REQUIRE(s3repl::max_key_bytes == 0xffffffffu);
    // 4 GiB + 1 of address space, never touched: is_valid_key must answer from the size alone.
    const std::size_t length = std::size_t{s3repl::max_key_bytes} + 1;
    void* memory = mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(memory != MAP_FAILED);
    const std::string_view huge(static_cast<const char*>(memory), length);
    CHECK_FALSE(s3repl::is_valid_key(huge));
    munmap(memory, length);
}
