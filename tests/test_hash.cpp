// s3repl::detail::hash_bytes, the seeded hash behind the shards and the
// index: the seed must matter for every key, including keys aimed at the
// multiplications. wyhash's step multiplies (word ^ constant) by
// (word ^ seed); a word equal to the constant makes that product zero
// whatever the seed, erasing the seed and everything hashed before it, so
// whole families of keys collide under every seed. Valid UTF-8 cannot hold
// those words today; the hash must not depend on that.

#include <s3repl/detail/hash.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <set>
#include <string>
#include <vector>

using s3repl::detail::hash_bytes;

namespace {

// The multipliers' constants of the wyhash-style step, which keys below aim at.
constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbull, k2 = 0x8ebc6af09c88c6e3ull, k3 = 0x589965cc75374cc3ull;

constexpr std::uint64_t seeds[] = {0x0123456789abcdefull, 0xfedcba9876543210ull, 42};

void put64(std::string& s, std::size_t at, std::uint64_t v) { std::memcpy(&s[at], &v, sizeof v); }
void put32(std::string& s, std::size_t at, std::uint32_t v) { std::memcpy(&s[at], &v, sizeof v); }

// A different number for each key of a family.
constexpr std::uint64_t nth(std::size_t i) { return 0x9e3779b97f4a7c15ull * (i + 1); }

// `count` keys of `size` bytes: `aimed` (a little-endian word) at offset
// `aim`, and key number i written at offset `vary`; the rest is fixed.
std::vector<std::string> family(std::size_t size, std::size_t aim, std::uint64_t aimed, std::size_t vary,
                                std::size_t count = 64) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < count; ++i) {
        std::string key(size, 'k');
        put64(key, aim, aimed);
        put64(key, vary, nth(i));
        keys.push_back(key);
    }
    return keys;
}

// 16-byte keys whose final step's first word, (bytes 0..3 << 32) | bytes
// 8..11, is k1; bytes 4..7 and 12..15 (the second word) vary.
std::vector<std::string> short_family(std::size_t count = 64) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < count; ++i) {
        std::string key(16, 'k');
        put32(key, 0, static_cast<std::uint32_t>(k1 >> 32));
        put32(key, 8, static_cast<std::uint32_t>(k1));
        put32(key, 4, static_cast<std::uint32_t>(nth(i)));
        put32(key, 12, static_cast<std::uint32_t>(nth(i) >> 32));
        keys.push_back(key);
    }
    return keys;
}

// 48-byte keys (two 16-byte steps, then the last 16) whose first word is
// k1, with the difference in the second word (bytes 8..15) undone in the
// fourth (bytes 24..31). Against the fix that XORs a step's factors back
// into its result: its first step is then the seed XOR the second word, and
// the next step's (word ^ running value) is the same for every key.
std::vector<std::string> cancelling_family(std::size_t count = 64) {
    std::vector<std::string> keys = family(48, 0, k1, 8, count);
    for (std::size_t i = 0; i < count; ++i) put64(keys[i], 24, nth(i) ^ 0x5555555555555555ull);
    return keys;
}

std::size_t distinct_hashes(const std::vector<std::string>& keys, std::uint64_t seed) {
    std::set<std::uint64_t> hashes;
    for (const std::string& key : keys) hashes.insert(hash_bytes(key, seed));
    return hashes.size();
}

} // namespace

// Each family differs only in bytes that, in the old hash, were folded in
// before (or beside) a zeroed product: all its keys hashed alike under every
// seed, and the first family's to one value whatever the seed.
TEST_CASE("keys aimed at a multiplier's constant still hash apart, under every seed", "[hash]") {
    struct Family {
        const char* what;
        std::vector<std::string> keys;
    };
    const Family families[] = {
        // 40 bytes: two 16-byte steps, then the last 16. The first step's
        // first word is the constant: the old step returned 0, so bytes 8..15
        // (and the seed) were lost.
        {"16-byte step, first word = k1", family(40, 0, k1, 8)},
        // 97 bytes: two 48-byte rounds. The second round's main word is k1:
        // the first round's main lane (bytes 0..15) was lost.
        {"48-byte round, main lane word = k1", family(97, 48, k1, 0)},
        // The second round's lane-1 word is k2: the first round's lane 1 (bytes 16..31) was lost.
        {"48-byte round, lane 1 word = k2", family(97, 64, k2, 24)},
        // The second round's lane-2 word is k3: the first round's lane 2 (bytes 32..47) was lost.
        {"48-byte round, lane 2 word = k3", family(97, 80, k3, 40)},
        // The old final step ignored the second word when the first was k1.
        {"16-byte key, final word = k1", short_family()},
        {"16-byte steps, first word = k1, difference cancelled in the next step", cancelling_family()},
    };
    for (const Family& f : families) {
        INFO(f.what);
        for (const std::uint64_t seed : seeds) {
            INFO("seed " << seed);
            CHECK(distinct_hashes(f.keys, seed) == f.keys.size());
        }
        // And one key's hash moves with the seed.
        std::set<std::uint64_t> across_seeds;
        for (const std::uint64_t seed : seeds) across_seeds.insert(hash_bytes(f.keys.front(), seed));
        CHECK(across_seeds.size() == std::size(seeds));
    }
}

// The general promise the cases above are instances of: every byte and the
// seed reach the hash, at every length the code paths split on (0..3, 4..16,
// 17..48, the 48-byte rounds and what follows them).
TEST_CASE("every byte and the seed change the hash, at every length up to 130", "[hash]") {
    for (std::size_t n = 0; n <= 130; ++n) {
        INFO("length " << n);
        std::string key(n, '\0');
        for (std::size_t i = 0; i < n; ++i) key[i] = static_cast<char>('a' + i % 26);
        const std::uint64_t base = hash_bytes(key, seeds[0]);
        CHECK(hash_bytes(key, seeds[0]) == base);
        CHECK(hash_bytes(key, seeds[1]) != base);
        std::size_t unchanged = 0;
        for (std::size_t i = 0; i < n; ++i) {
            std::string flipped = key;
            flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
            if (hash_bytes(flipped, seeds[0]) == base) ++unchanged;
        }
        CHECK(unchanged == 0);
    }
}
