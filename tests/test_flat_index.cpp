// s3repl::detail::FlatIndex, the Robin Hood index under every shard: 6-byte
// slots, homes on any capacity, growth by a quarter, and distances that fit
// 8 bits. Hashes are chosen here, so the tests can aim elements at one run
// and check what happens when a run would grow too long.

#include <s3repl/detail/flat_index.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

using s3repl::detail::FlatIndex;

namespace {

// A dense array of hashes the index points into, as an EntryTable's entries.
struct Elements {
    std::vector<std::uint64_t> hashes;

    void rehash_all(FlatIndex& index) const {
        for (std::size_t p = 0; p < hashes.size(); ++p) index.place(hashes[p], static_cast<std::uint32_t>(p));
    }
    void add(FlatIndex& index, std::uint64_t hash) {
        index.insert(hash, static_cast<std::uint32_t>(hashes.size()),
                     [this](FlatIndex& bigger) { rehash_all(bigger); });
        hashes.push_back(hash);
    }
    std::uint32_t find(const FlatIndex& index, std::uint64_t hash) const {
        return index.find(hash, [&](std::uint32_t p) { return hashes[p] == hash; });
    }
    // Every element found at its position.
    bool all_found(const FlatIndex& index) const {
        for (std::size_t p = 0; p < hashes.size(); ++p)
            if (find(index, hashes[p]) != p) return false;
        return index.size() == hashes.size();
    }
};

// A hash whose 32 home bits are `home_bits` (the index maps them onto its
// capacity by multiply-shift) and whose fingerprint is `fingerprint`.
std::uint64_t aimed(std::uint32_t home_bits, std::uint8_t fingerprint) {
    return std::uint64_t{home_bits} << 8 | fingerprint;
}

} // namespace

TEST_CASE("FlatIndex finds, erases and relinks like a map through growth", "[flat_index]") {
    FlatIndex index;
    Elements elements;
    std::unordered_map<std::uint64_t, std::uint32_t> model; // hash -> position
    std::mt19937_64 random(7);
    for (int round = 0; round < 40000; ++round) {
        const bool erase = !elements.hashes.empty() && random() % 3 == 0;
        if (!erase) {
            const std::uint64_t h = random();
            model[h] = static_cast<std::uint32_t>(elements.hashes.size());
            elements.add(index, h);
            continue;
        }
        // Erase at random, moving the last element down as EntryTable does.
        const auto pos = static_cast<std::uint32_t>(random() % elements.hashes.size());
        const auto last = static_cast<std::uint32_t>(elements.hashes.size() - 1);
        index.erase(elements.hashes[pos], pos);
        model.erase(elements.hashes[pos]);
        if (pos != last) {
            elements.hashes[pos] = elements.hashes[last];
            index.relink(elements.hashes[pos], last, pos);
            model[elements.hashes[pos]] = pos;
        }
        elements.hashes.pop_back();
    }
    REQUIRE(index.size() == model.size());
    for (const auto& [h, pos] : model) CHECK(elements.find(index, h) == pos);
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t absent = random();
        if (model.count(absent) == 0) CHECK(elements.find(index, absent) == FlatIndex::npos);
    }
}

TEST_CASE("FlatIndex holds at least 7/8 of its capacity before it grows", "[flat_index]") {
    for (const std::size_t count : {std::size_t{1}, std::size_t{14}, std::size_t{1000}, std::size_t{31250}}) {
        FlatIndex index;
        Elements elements;
        index.rebuild(FlatIndex::capacity_for(count), [](FlatIndex&) {});
        const std::size_t capacity = index.capacity();
        CHECK(capacity * 7 <= std::max<std::size_t>(count, 14) * 8 + 7);
        std::mt19937_64 random(count);
        for (std::size_t i = 0; i < count; ++i) elements.add(index, random());
        CHECK(index.capacity() == capacity); // room for all: no rebuild on the way
        CHECK(elements.all_found(index));
    }
}

TEST_CASE("FlatIndex grows past a run too long for 8-bit distances", "[flat_index]") {
    // 300 homes within 1/4096 of the hash range each: at the capacity that
    // holds 300 they crowd into a few dozen homes and the run needs
    // distances past 254, so the index doubles until the homes spread.
    const auto insert_all = [](std::uint32_t spacing, Elements& elements) {
        FlatIndex index;
        for (std::uint32_t k = 0; k < 300; ++k) elements.add(index, aimed(k * spacing, static_cast<std::uint8_t>(k)));
        return index;
    };
    Elements spread_elements, crowded_elements;
    const FlatIndex spread = insert_all(0xffffffffu / 300, spread_elements);
    const FlatIndex crowded = insert_all(1u << 20, crowded_elements);
    CHECK(spread_elements.all_found(spread));
    CHECK(crowded_elements.all_found(crowded));
    CHECK(crowded.capacity() > spread.capacity()); // the long run, not the count, made it grow
}

TEST_CASE("FlatIndex refuses an element whose hash too many share, and keeps the others", "[flat_index]") {
    // One hash for all: every element has the same home, whatever the
    // capacity, so growing cannot shorten the run. The first 255 fit
    // (distances 0 to 254); the next is refused with length_error.
    FlatIndex index;
    Elements elements;
    const std::uint64_t same = aimed(0x12345678u, 0x9a);
    for (int i = 0; i < 255; ++i) elements.add(index, same);
    CHECK(index.size() == 255);
    const std::size_t capacity = index.capacity();
    CHECK_THROWS_AS(index.insert(same, 255, [&](FlatIndex& bigger) { elements.rehash_all(bigger); }),
                    std::length_error);
    CHECK(index.size() == 255);
    CHECK(index.capacity() >= capacity);
    for (std::uint32_t p = 0; p < 255; ++p) {
        // Equal hashes: find() returns the first position `matches` accepts.
        CHECK(index.find(same, [&](std::uint32_t q) { return q == p; }) == p);
    }
    CHECK(index.find(same, [](std::uint32_t q) { return q == 255; }) == FlatIndex::npos);

    // A rebuild that cannot fit them either leaves the index as it was.
    Elements too_many = elements;
    too_many.hashes.push_back(same);
    CHECK_THROWS_AS(index.rebuild(index.capacity(), [&](FlatIndex& fresh) { too_many.rehash_all(fresh); }),
                    std::length_error);
    CHECK(index.size() == 255);
    CHECK(index.find(same, [](std::uint32_t q) { return q == 254; }) == 254);
}

TEST_CASE("FlatIndex erases from the middle of a long run and finds the rest", "[flat_index]") {
    FlatIndex index;
    Elements elements;
    // 200 elements on 4 homes: one run, with distances up to about 200.
    for (std::uint32_t k = 0; k < 200; ++k) elements.add(index, aimed((k % 4) << 4, static_cast<std::uint8_t>(k / 4)));
    REQUIRE(elements.all_found(index));
    for (std::uint32_t pos = 0; pos < 200; pos += 3) {
        index.erase(elements.hashes[pos], pos);
        elements.hashes[pos] = ~std::uint64_t{0}; // gone: no hash of the run
    }
    for (std::uint32_t pos = 0; pos < 200; ++pos) {
        if (pos % 3 == 0) continue;
        CHECK(elements.find(index, elements.hashes[pos]) == pos);
    }
    CHECK(index.size() == 200 - 67);
}

TEST_CASE("FlatIndex's presence filter never denies an element and turns most misses away", "[flat_index]") {
    FlatIndex index;
    Elements elements;
    std::mt19937_64 random(11);
    for (int i = 0; i < 30000; ++i) elements.add(index, random());
    for (const std::uint64_t h : elements.hashes) REQUIRE(index.may_contain(h));
    int passed = 0;
    const int absent = 100000;
    for (int i = 0; i < absent; ++i) passed += index.may_contain(random());
    CHECK(passed < absent / 5); // about 1 in 8 at the highest load, far fewer below it

    // Erasing leaves bits set; a rebuild at the same capacity clears them.
    for (std::uint32_t pos = static_cast<std::uint32_t>(elements.hashes.size()); pos-- > 100;)
        index.erase(elements.hashes[pos], pos);
    elements.hashes.resize(100);
    CHECK(index.filter_is_stale());
    index.rebuild(index.capacity(), [&](FlatIndex& fresh) { elements.rehash_all(fresh); });
    CHECK_FALSE(index.filter_is_stale());
    CHECK(elements.all_found(index));
    passed = 0;
    for (int i = 0; i < absent; ++i) passed += index.may_contain(random());
    CHECK(passed < absent / 100); // 100 elements' bits in a filter sized for 30,000
}
