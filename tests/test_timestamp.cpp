// RFC 3339 text for Timestamps: the exact form format_rfc3339 writes (the
// Rust server's), every spelling parse_rfc3339 must take or refuse, and round
// trips over the whole Timestamp range. Expected instants come from date's
// civil calendar, not from the code under test.

#include <s3repl/timestamp.hpp>

#include <catch2/catch.hpp>
#include <date/date.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using s3repl::format_rfc3339;
using s3repl::parse_rfc3339;
using s3repl::Timestamp;

namespace {

constexpr std::int64_t min_ns = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t max_ns = std::numeric_limits<std::int64_t>::max();

Timestamp utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, std::int64_t ns = 0) {
    const date::sys_days day = date::year{y} / date::month{mo} / date::day{d};
    return Timestamp{day.time_since_epoch() + std::chrono::hours{h} + std::chrono::minutes{mi} +
                     std::chrono::seconds{s} + std::chrono::nanoseconds{ns}};
}

Timestamp at_ns(std::int64_t ns) { return Timestamp{std::chrono::nanoseconds{ns}}; }

} // namespace

TEST_CASE("format_rfc3339 writes whole seconds without a fraction", "[timestamp][format]") {
    CHECK(format_rfc3339(at_ns(0)) == "1970-01-01T00:00:00Z");
    CHECK(format_rfc3339(utc(2024, 1, 15, 8, 30, 0)) == "2024-01-15T08:30:00Z");
    CHECK(format_rfc3339(utc(2024, 2, 29, 23, 59, 59)) == "2024-02-29T23:59:59Z");
    CHECK(format_rfc3339(utc(2000, 12, 31, 0, 0, 1)) == "2000-12-31T00:00:01Z");
}

TEST_CASE("format_rfc3339 writes the shortest exact fraction of 3, 6 or 9 digits", "[timestamp][format]") {
    const Timestamp base = utc(2024, 1, 15, 8, 30, 0);
    CHECK(format_rfc3339(base + 1ms) == "2024-01-15T08:30:00.001Z");
    CHECK(format_rfc3339(base + 120ms) == "2024-01-15T08:30:00.120Z");
    CHECK(format_rfc3339(base + 500ms) == "2024-01-15T08:30:00.500Z");
    CHECK(format_rfc3339(base + 999ms) == "2024-01-15T08:30:00.999Z");
    CHECK(format_rfc3339(base + 1us) == "2024-01-15T08:30:00.000001Z");
    CHECK(format_rfc3339(base + 123400us) == "2024-01-15T08:30:00.123400Z");
    CHECK(format_rfc3339(base + 123456us) == "2024-01-15T08:30:00.123456Z");
    CHECK(format_rfc3339(base + 1ns) == "2024-01-15T08:30:00.000000001Z");
    CHECK(format_rfc3339(base + 100ns) == "2024-01-15T08:30:00.000000100Z");
    CHECK(format_rfc3339(base + 123456700ns) == "2024-01-15T08:30:00.123456700Z");
    CHECK(format_rfc3339(base + 999999999ns) == "2024-01-15T08:30:00.999999999Z");
}

TEST_CASE("format_rfc3339 handles times before 1970", "[timestamp][format]") {
    CHECK(format_rfc3339(at_ns(-1)) == "1969-12-31T23:59:59.999999999Z");
    CHECK(format_rfc3339(at_ns(-1'000'000)) == "1969-12-31T23:59:59.999Z");
    CHECK(format_rfc3339(at_ns(-1'000'000'000)) == "1969-12-31T23:59:59Z");
    CHECK(format_rfc3339(at_ns(-86'400'000'000'000)) == "1969-12-31T00:00:00Z");
    CHECK(format_rfc3339(at_ns(-86'400'000'000'001)) == "1969-12-30T23:59:59.999999999Z");
    CHECK(format_rfc3339(at_ns(-2'208'988'800'000'000'000)) == "1900-01-01T00:00:00Z");
    CHECK(format_rfc3339(utc(1700, 3, 1, 12, 0, 0, 250'000'000)) == "1700-03-01T12:00:00.250Z");
}

TEST_CASE("format_rfc3339 covers both ends of the Timestamp range", "[timestamp][format]") {
    CHECK(format_rfc3339(at_ns(min_ns)) == "1677-09-21T00:12:43.145224192Z");
    CHECK(format_rfc3339(at_ns(max_ns)) == "2262-04-11T23:47:16.854775807Z");
    CHECK(format_rfc3339(at_ns(min_ns + 1)) == "1677-09-21T00:12:43.145224193Z");
    CHECK(format_rfc3339(at_ns(max_ns - 854'775'807)) == "2262-04-11T23:47:16Z");
}

TEST_CASE("parse_rfc3339 reads what format_rfc3339 writes", "[timestamp][parse]") {
    CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == at_ns(0));
    CHECK(parse_rfc3339("2024-01-15T08:30:00.123456789Z") == utc(2024, 1, 15, 8, 30, 0, 123456789));
    CHECK(parse_rfc3339("1969-12-31T23:59:59.999999999Z") == at_ns(-1));
    CHECK(parse_rfc3339("1900-01-01T00:00:00Z") == utc(1900, 1, 1));
    CHECK(parse_rfc3339("1677-09-21T00:12:43.145224192Z") == at_ns(min_ns));
    CHECK(parse_rfc3339("2262-04-11T23:47:16.854775807Z") == at_ns(max_ns));
}

TEST_CASE("parse_rfc3339 accepts T, t or a space between date and time, and Z or z", "[timestamp][parse]") {
    const Timestamp expected = utc(2024, 1, 15, 8, 30, 0);
    CHECK(parse_rfc3339("2024-01-15T08:30:00Z") == expected);
    CHECK(parse_rfc3339("2024-01-15t08:30:00Z") == expected);
    CHECK(parse_rfc3339("2024-01-15 08:30:00Z") == expected);
    CHECK(parse_rfc3339("2024-01-15T08:30:00z") == expected);
    CHECK(parse_rfc3339("2024-01-15t08:30:00z") == expected);
}

TEST_CASE("parse_rfc3339 normalises numeric offsets to UTC", "[timestamp][parse]") {
    const Timestamp expected = utc(2024, 1, 15, 8, 30, 0, 500'000'000);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.5+00:00") == expected);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.5-00:00") == expected);
    CHECK(parse_rfc3339("2024-01-15T10:30:00.5+02:00") == expected);
    CHECK(parse_rfc3339("2024-01-15T03:00:00.5-05:30") == expected);
    CHECK(parse_rfc3339("2024-01-16T08:29:00.5+23:59") == expected);
    CHECK(parse_rfc3339("2024-01-14T08:31:00.5-23:59") == expected);
    // The offset moves the instant across a day, a month and a year.
    CHECK(parse_rfc3339("2023-12-31T23:00:00-01:00") == utc(2024, 1, 1));
    CHECK(parse_rfc3339("2024-03-01T00:30:00+01:00") == utc(2024, 2, 29, 23, 30));
    CHECK(parse_rfc3339("1969-12-31T19:00:00-05:00") == at_ns(0));
}

TEST_CASE("parse_rfc3339 reads 0 to 9 fraction digits and truncates more", "[timestamp][parse]") {
    const Timestamp second = utc(2024, 1, 15, 8, 30, 0);
    CHECK(parse_rfc3339("2024-01-15T08:30:00Z") == second);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.1Z") == second + 100ms);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.12Z") == second + 120ms);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.123Z") == second + 123ms);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.1234Z") == second + 123400us);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.12345Z") == second + 123450us);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.123456Z") == second + 123456us);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.1234567Z") == second + 123456700ns);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.12345678Z") == second + 123456780ns);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.123456789Z") == second + 123456789ns);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.1234567899Z") == second + 123456789ns);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.999999999999999999999Z") == second + 999999999ns);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.000000000Z") == second);
    CHECK(parse_rfc3339("2024-01-15T08:30:00.0000000001Z") == second);
    // Truncation, not rounding, also before 1970.
    CHECK(parse_rfc3339("1969-12-31T23:59:59.9999999999Z") == at_ns(-1));
    CHECK(parse_rfc3339("2024-01-15T10:30:00.1234567891+02:00") == second + 123456789ns);
}

TEST_CASE("parse_rfc3339 reads a leap second as the following second", "[timestamp][parse]") {
    CHECK(parse_rfc3339("2016-12-31T23:59:60Z") == utc(2017, 1, 1));
    CHECK(parse_rfc3339("2016-12-31T23:59:60.5Z") == utc(2017, 1, 1) + 500ms);
    CHECK(parse_rfc3339("2015-06-30T23:59:60Z") == utc(2015, 7, 1));
    CHECK(parse_rfc3339("1972-06-30T23:59:60Z") == utc(1972, 7, 1));
    // The leap second of a local time with an offset.
    CHECK(parse_rfc3339("2017-01-01T00:59:60+01:00") == utc(2017, 1, 1));
    CHECK(parse_rfc3339("2016-12-31T18:59:60-05:00") == utc(2017, 1, 1));
    // Before 1970, where seconds count downwards to the epoch.
    CHECK(parse_rfc3339("1969-12-31T23:59:60Z") == at_ns(0));
    CHECK(parse_rfc3339("1969-12-31T23:59:60.25Z") == at_ns(250'000'000));
}

TEST_CASE("parse_rfc3339 rejects impossible dates and times", "[timestamp][parse]") {
    for (const char* text : {
             "2024-02-30T00:00:00Z",      "2024-02-31T00:00:00Z",      "2023-02-29T00:00:00Z",
             "1900-02-29T00:00:00Z",      "2100-02-29T00:00:00Z",      "2024-04-31T00:00:00Z",
             "2024-06-31T00:00:00Z",      "2024-09-31T00:00:00Z",      "2024-11-31T00:00:00Z",
             "2024-13-01T00:00:00Z",      "2024-00-10T00:00:00Z",      "2024-01-00T00:00:00Z",
             "2024-01-32T00:00:00Z",      "2024-01-15T24:00:00Z",      "2024-01-15T25:00:00Z",
             "2024-01-15T08:60:00Z",      "2024-01-15T08:30:61Z",      "2024-01-15T08:30:99Z",
             "2024-01-15T08:30:00+24:00", "2024-01-15T08:30:00+01:60", "2024-01-15T08:30:00-99:00",
         }) {
        INFO(text);
        CHECK_FALSE(parse_rfc3339(text).has_value());
    }
    // The valid neighbours of the cases above, so the rejections are not a parser that refuses everything.
    CHECK(parse_rfc3339("2024-02-29T00:00:00Z") == utc(2024, 2, 29));
    CHECK(parse_rfc3339("2000-02-29T00:00:00Z") == utc(2000, 2, 29));
    CHECK(parse_rfc3339("2024-12-31T23:59:59Z") == utc(2024, 12, 31, 23, 59, 59));
    CHECK(parse_rfc3339("2024-01-15T08:30:00+23:59") == utc(2024, 1, 14, 8, 31));
}

TEST_CASE("parse_rfc3339 rejects a time without an offset", "[timestamp][parse]") {
    CHECK_FALSE(parse_rfc3339("2024-01-15T08:30:00").has_value());
    CHECK_FALSE(parse_rfc3339("2024-01-15T08:30:00.123456789").has_value());
    CHECK_FALSE(parse_rfc3339("2024-01-15 08:30:00").has_value());
    CHECK_FALSE(parse_rfc3339("2024-01-15").has_value());
}

TEST_CASE("parse_rfc3339 rejects times outside the Timestamp range", "[timestamp][parse]") {
    CHECK_FALSE(parse_rfc3339("1677-09-21T00:12:43.145224191Z").has_value());
    CHECK_FALSE(parse_rfc3339("2262-04-11T23:47:16.854775808Z").has_value());
    CHECK_FALSE(parse_rfc3339("1677-09-21T00:12:42Z").has_value());
    CHECK_FALSE(parse_rfc3339("2262-04-11T23:47:17Z").has_value());
    CHECK_FALSE(parse_rfc3339("1600-01-01T00:00:00Z").has_value());
    CHECK_FALSE(parse_rfc3339("2300-01-01T00:00:00Z").has_value());
    CHECK_FALSE(parse_rfc3339("0000-01-01T00:00:00Z").has_value());
    CHECK_FALSE(parse_rfc3339("9999-12-31T23:59:60.999999999Z").has_value());
    CHECK_FALSE(parse_rfc3339("9999-12-31T23:59:59.999999999-23:59").has_value());
    // An offset can bring a local time just past an end back inside it, and push one inside out.
    CHECK(parse_rfc3339("2262-04-12T00:47:16.854775807+01:00") == at_ns(max_ns));
    CHECK_FALSE(parse_rfc3339("2262-04-11T23:47:16.854775807-00:01").has_value());
    CHECK(parse_rfc3339("1677-09-20T23:12:43.145224192-01:00") == at_ns(min_ns));
    CHECK_FALSE(parse_rfc3339("1677-09-21T00:12:43.145224192+00:01").has_value());
    // A leap second at the last representable whole second steps out of range.
    CHECK_FALSE(parse_rfc3339("2262-04-11T23:47:60Z").has_value());
}

TEST_CASE("parse_rfc3339 rejects garbage and near misses", "[timestamp][parse]") {
    for (const char* text : {
             "",
             " ",
             "Z",
             "yesterday",
             "2024",
             "2024-01-15T",
             "2024-01-15T08:30Z",
             "2024-01-15T08:30:00.Z",
             "2024-01-15T08:30:00,5Z",
             "2024-01-15X08:30:00Z",
             "2024/01/15T08:30:00Z",
             "24-01-15T08:30:00Z",
             "+2024-01-15T08:30:00Z",
             "2024-1-15T08:30:00Z",
             "2024-01-15T8:30:00Z",
             "2024-01-15T08:30:00ZZ",
             "2024-01-15T08:30:00Z ",
             " 2024-01-15T08:30:00Z",
             "2024-01-15T08:30:00+01",
             "2024-01-15T08:30:00+1:00",
             "2024-01-15T08:30:00+01:0",
             "2024-01-15T08:30:00+01:00Z",
             "2024-01-15T08:30:00 +01:00",
             "2024-01-15T08:30:00.-1Z",
             "2024-01-15T08:30:00.1a2Z",
             "2024-01-15T08:30:00.5",
             "2024-01-15T08:30:00.5+",
             "2024-0a-15T08:30:00Z",
             "２０２４-01-15T08:30:00Z",
             "-001-01-01T00:00:00Z",
         }) {
        INFO(text);
        CHECK_FALSE(parse_rfc3339(text).has_value());
    }
    // Embedded NUL: the whole view counts, not a C string prefix.
    CHECK_FALSE(parse_rfc3339(std::string_view("2024-01-15T08:30:00Z\0", 21)).has_value());
    CHECK_FALSE(parse_rfc3339(std::string_view("2024-01-15T08:30:00\0Z", 21)).has_value());
}

TEST_CASE("format then parse is the identity across the whole Timestamp range", "[timestamp][roundtrip]") {
    std::mt19937_64 random(20240115);
    std::uniform_int_distribution<std::int64_t> anywhere(min_ns, max_ns);
    // Values with 0, 3 or 6 trailing zero-groups exercise each fraction width.
    const std::int64_t granularity[] = {1, 1'000, 1'000'000, 1'000'000'000};
    for (int i = 0; i < 20000; ++i) {
        std::int64_t ns = anywhere(random);
        const std::int64_t unit = granularity[i % 4];
        ns -= ns % unit;
        const Timestamp t = at_ns(ns);
        const std::string text = format_rfc3339(t);
        INFO(ns << " -> " << text);
        REQUIRE(parse_rfc3339(text) == t);
    }
    for (const std::int64_t ns :
         {min_ns, min_ns + 1, std::int64_t{-1}, std::int64_t{0}, std::int64_t{1}, max_ns - 1, max_ns}) {
        INFO(ns);
        CHECK(parse_rfc3339(format_rfc3339(at_ns(ns))) == at_ns(ns));
    }
}

TEST_CASE("a random instant written in a random offset parses back to the same instant", "[timestamp][roundtrip]") {
    std::mt19937_64 random(42);
    // One day inside each end, so that every offset keeps the local time representable.
    const std::int64_t day = 86'400'000'000'000;
    std::uniform_int_distribution<std::int64_t> anywhere(min_ns + day, max_ns - day);
    std::uniform_int_distribution<int> offset_minutes(-(23 * 60 + 59), 23 * 60 + 59);
    for (int i = 0; i < 5000; ++i) {
        const Timestamp t = at_ns(anywhere(random));
        const int offset = offset_minutes(random);
        std::string text = format_rfc3339(t + std::chrono::minutes{offset});
        text.pop_back(); // the 'Z'
        const int magnitude = offset < 0 ? -offset : offset;
        const char sign = offset < 0 ? '-' : '+';
        const std::string hh = std::to_string(magnitude / 60), mm = std::to_string(magnitude % 60);
        text += sign + std::string(2 - hh.size(), '0') + hh + ":" + std::string(2 - mm.size(), '0') + mm;
        INFO(text);
        REQUIRE(parse_rfc3339(text) == t);
    }
}

TEST_CASE("what format_rfc3339 writes has the fixed shape", "[timestamp][format]") {
    std::mt19937_64 random(7);
    std::uniform_int_distribution<std::int64_t> anywhere(min_ns, max_ns);
    for (int i = 0; i < 5000; ++i) {
        const std::string text = format_rfc3339(at_ns(anywhere(random)));
        INFO(text);
        REQUIRE((text.size() == 20 || text.size() == 24 || text.size() == 27 || text.size() == 30));
        CHECK(text[4] == '-');
        CHECK(text[7] == '-');
        CHECK(text[10] == 'T');
        CHECK(text[13] == ':');
        CHECK(text[16] == ':');
        CHECK(text.back() == 'Z');
        if (text.size() > 20) {
            CHECK(text[19] == '.');
            // Shortest exact: the last group of three fraction digits is never "000".
            CHECK(text.substr(text.size() - 4, 3) != "000");
        }
    }
}
