// The snapshot's cached time text: Rfc3339Writer writes write_rfc3339's
// bytes, and Rfc3339Reader reads what parse_rfc3339 reads (or declines),
// for times in runs that share seconds and days and for the extremes.

#include <s3repl/detail/rfc3339_reader.hpp>
#include <s3repl/detail/rfc3339_writer.hpp>
#include <s3repl/timestamp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using s3repl::Timestamp;

namespace {

std::vector<std::int64_t> sample_times() {
    std::mt19937_64 rng(7);
    constexpr std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
    constexpr std::int64_t highest = std::numeric_limits<std::int64_t>::max();
    std::vector<std::int64_t> times = {0,
                                       -1,
                                       1,
                                       lowest,
                                       lowest + 1,
                                       lowest + 999'999'999,
                                       lowest + 1'000'000'000,
                                       highest,
                                       highest - 1,
                                       -1'000'000'000,
                                       -999'999'999};
    std::int64_t t = 1'764'000'000'000'000'000;
    for (int i = 0; i < 20000; ++i) {
        // Runs within a second, then jumps of a second, a day or anywhere; fractions of every width.
        switch (rng() % 6) {
        case 0: t += 1'000'000'000; break;
        case 1: t += 86'400'000'000'000; break;
        case 2: t = static_cast<std::int64_t>(rng()); break;
        case 3: t -= t % 1'000'000'000; break;
        case 4: t += static_cast<std::int64_t>(rng() % 1000) * 1'000'000; break;
        default: t += static_cast<std::int64_t>(rng() % 1000); break;
        }
        times.push_back(t);
    }
    return times;
}

} // namespace

TEST_CASE("Rfc3339Writer writes write_rfc3339's bytes", "[timestamp]") {
    s3repl::detail::Rfc3339Writer writer;
    for (const std::int64_t ns : sample_times()) {
        const Timestamp t{std::chrono::nanoseconds{ns}};
        char cached[s3repl::detail::rfc3339_max_size];
        const std::string text(cached, writer.write(t, cached));
        CHECK(text == s3repl::format_rfc3339(t));
    }
}

TEST_CASE("Rfc3339Reader reads what parse_rfc3339 reads, or declines", "[timestamp]") {
    s3repl::detail::Rfc3339Reader reader;
    std::size_t read = 0;
    for (const std::int64_t ns : sample_times()) {
        const std::string text = s3repl::format_rfc3339(Timestamp{std::chrono::nanoseconds{ns}});
        std::int64_t got = 0;
        if (reader.read(text, got)) {
            ++read;
            CHECK(got == ns);
        }
    }
    CHECK(read > 10000); // the writer's forms within 1678 to 2261 are read
    // Forms it declines, though parse_rfc3339 reads them (a leap second, an offset, other fractions):
    for (const char* other : {"2026-12-02T10:00:60Z", "2026-12-02T10:00:00+01:00", "2026-12-02t10:00:00Z",
                              "2026-12-02T10:00:00.5Z", "2026-12-02T10:00:00z", "1677-12-02T10:00:00Z"}) {
        std::int64_t got = 0;
        CHECK_FALSE(reader.read(other, got));
        CHECK(s3repl::parse_rfc3339(other).has_value());
    }
    // And text neither reads.
    for (const char* bad : {"2026-02-30T10:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T10:60:00Z",
                            "2026-13-02T10:00:00Z", "2026-12-02T10:00:0aZ", "2026-12-02 10:00:00.12Z1"}) {
        std::int64_t got = 0;
        CHECK_FALSE(reader.read(bad, got));
    }
}
