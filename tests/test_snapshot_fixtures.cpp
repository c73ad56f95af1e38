// Snapshot files written (or, for the legacy and invalid ones, read) by the
// Rust server: s3repl must load each to exactly the content the Rust server
// holds after loading it (NAME.json.expect, format in the fixtures' README),
// reject the ones it rejects without touching a manager, and write back what
// loads to the same content.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ManualClock;
using s3repl::ReplicationConfig;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using s3repl::SnapshotError;
using s3repl::Timestamp;
using namespace s3repl_test;
namespace fs = std::filesystem;

namespace {

// The clock at every restore: a time no fixture holds, so `NOW` cannot be
// confused with a recorded time.
const Timestamp restore_time = Timestamp{std::chrono::seconds{1936062489}} + 987654321ns; // 2031-05-09

const fs::path fixtures_dir{S3REPL_FIXTURES_DIR};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

struct FixtureFile {
    fs::path json;
    std::vector<std::string> expect; // the .expect lines
    bool rejected() const { return expect.size() == 1 && expect[0].rfind("ERR ", 0) == 0; }
};

std::vector<FixtureFile> all_fixtures() {
    std::vector<FixtureFile> found;
    for (const auto& item : fs::directory_iterator(fixtures_dir))
        if (item.path().extension() == ".json")
            found.push_back({item.path(), lines_of(read_file(item.path().string() + ".expect"))});
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.json < b.json; });
    return found;
}

const FixtureFile& fixture(const std::vector<FixtureFile>& all, const std::string& name) {
    const auto found =
        std::find_if(all.begin(), all.end(), [&](const FixtureFile& f) { return f.json.filename() == name; });
    REQUIRE(found != all.end());
    return *found;
}

// ---- the canonical form of the README, written without s3repl's writer ----

std::string json_string(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

// serde_json's compact form of a configuration: fields in declaration
// order, which nlohmann's ordered_json keeps and escapes as serde does.
std::string config_json(const ReplicationConfig& config) {
    using ordered = nlohmann::ordered_json;
    ordered rules = ordered::array();
    for (const auto& rule : config.rules) {
        ordered tags = ordered::array();
        for (const auto& [key, value] : rule.filter.tags) tags.push_back(ordered::array({key, value}));
        ordered filter = ordered::object();
        filter["prefix"] = rule.filter.prefix ? ordered(*rule.filter.prefix) : ordered(nullptr);
        filter["tags"] = tags;
        ordered r = ordered::object();
        r["id"] = rule.id;
        r["priority"] = rule.priority;
        r["status_enabled"] = rule.status_enabled;
        r["filter"] = filter;
        r["destination_bucket"] = rule.destination_bucket;
        r["destination_storage_class"] =
            rule.destination_storage_class ? ordered(*rule.destination_storage_class) : ordered(nullptr);
        rules.push_back(r);
    }
    ordered c = ordered::object();
    c["role"] = config.role;
    c["rules"] = rules;
    return c.dump();
}

// The buckets with a configuration: the manager lists them only in to_json.
std::vector<std::string> configured_buckets(const Manager& m) {
    const nlohmann::json doc = nlohmann::json::parse(m.to_json());
    std::vector<std::string> buckets;
    for (const auto& item : doc.at("by_bucket").items()) buckets.push_back(item.key());
    return buckets;
}

// The README's canonical lines, without the next_generation line (which is
// compared on its own): configs sorted by bucket, statuses by (bucket, key)
// bytes, `NOW` for a recorded_at equal to the restore's clock.
std::vector<std::string> canonical(const Manager& m) {
    std::vector<std::string> lines;
    std::vector<std::string> buckets = configured_buckets(m);
    std::sort(buckets.begin(), buckets.end());
    for (const std::string& bucket : buckets) {
        const std::optional<ReplicationConfig> config = m.get_config(bucket);
        REQUIRE(config);
        lines.push_back("config " + bucket + " " + config_json(*config));
    }
    std::vector<std::tuple<std::string, std::string, ReplicationStatusEntry>> entries;
    m.for_each_entry([&](std::string_view bucket, std::string_view key, const ReplicationStatusEntry& e) {
        entries.emplace_back(std::string(bucket), std::string(key), e);
    });
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
    });
    for (const auto& [bucket, key, e] : entries) {
        const std::string when =
            e.recorded_at == restore_time ? "NOW" : std::to_string(e.recorded_at.time_since_epoch().count());
        lines.push_back("status " + json_string(bucket) + " " + json_string(key) + " " +
                        std::string(s3repl::to_aws_string(e.status)) + " " + std::to_string(e.generation) + " " + when);
    }
    return lines;
}

// What a load of `f` must hold: its .expect without the next_generation line.
std::vector<std::string> expected_content(const FixtureFile& f) {
    return std::vector<std::string>(f.expect.begin() + 1, f.expect.end());
}

std::uint64_t rust_next_generation(const FixtureFile& f) {
    REQUIRE(f.expect.at(0).rfind("next_generation ", 0) == 0);
    return std::stoull(f.expect[0].substr(std::strlen("next_generation ")));
}

// s3repl's counter rule over the expected entries: max(Rust's, highest + 1, 1),
// where highest + 1 past 2^64-1 means exhausted (nullopt).
std::optional<std::uint64_t> s3repl_next_generation(const FixtureFile& f) {
    std::uint64_t next = std::max<std::uint64_t>(rust_next_generation(f), 1);
    for (const std::string& line : expected_content(f)) {
        if (line.rfind("status ", 0) != 0) continue;
        // "... <generation> <recorded_at>": the last two fields hold no spaces.
        const std::size_t last = line.rfind(' ');
        const std::size_t before = line.rfind(' ', last - 1);
        const std::uint64_t generation = std::stoull(line.substr(before + 1, last - before - 1));
        if (generation == max_u64) return std::nullopt;
        next = std::max(next, generation + 1);
    }
    return next;
}

s3repl::ReplicationStats expected_entry_counts(const FixtureFile& f) {
    s3repl::ReplicationStats s;
    for (const std::string& line : expected_content(f)) {
        if (line.find(" PENDING ") != std::string::npos) ++s.entries_pending;
        if (line.find(" COMPLETED ") != std::string::npos) ++s.entries_completed;
        if (line.find(" FAILED ") != std::string::npos) ++s.entries_failed;
        if (line.find(" REPLICA ") != std::string::npos) ++s.entries_replica;
    }
    return s;
}

// Checks a freshly loaded manager against the fixture's expected content,
// the counter last (reading it mints a generation).
void check_loaded(Manager& m, const FixtureFile& f) {
    CHECK(canonical(m) == expected_content(f));
    const s3repl::ReplicationStats stats = m.stats();
    check_entry_counts(stats, expected_entry_counts(f));
    CHECK(stats.generations_minted == 0);

    const std::optional<std::uint64_t> next = s3repl_next_generation(f);
    if (next) {
        CHECK(*next >= rust_next_generation(f));
        CHECK(m.next_generation() == *next);
    } else {
        CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    }
    if (next == max_u64) CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
}

// Everything observable about a manager, to prove a failed restore changed nothing.
struct Observed {
    std::string json;
    std::vector<std::string> content;
    s3repl::ReplicationStats stats;
};
Observed observe(const Manager& m) { return {m.to_json(), canonical(m), m.stats()}; }
void check_same(const Observed& after, const Observed& before) {
    CHECK(after.json == before.json);
    CHECK(after.content == before.content);
    CHECK(after.stats == before.stats);
}

} // namespace

TEST_CASE("the fixture directory holds the files the README describes", "[snapshot][fixtures]") {
    const std::vector<FixtureFile> all = all_fixtures();
    for (const char* name : {"current.json", "pre61.json", "pre66.json"}) {
        INFO(name);
        CHECK_FALSE(fixture(all, name).rejected());
    }
    CHECK(std::count_if(all.begin(), all.end(), [](const FixtureFile& f) { return f.rejected(); }) >= 5);
    CHECK(expected_content(fixture(all, "current.json")).size() == 3 + 40);
}

TEST_CASE("from_json and load_snapshot of every valid fixture hold what the Rust server holds",
          "[snapshot][fixtures]") {
    for (const FixtureFile& f : all_fixtures()) {
        if (f.rejected()) continue;
        SECTION(f.json.filename().string()) {
            const ManualClock clock{restore_time};
            SECTION("from_json") {
                Manager m = Manager::from_json(read_file(f.json), clock);
                check_loaded(m, f);
            }
            SECTION("load_snapshot") {
                Manager m = Manager::load_snapshot(f.json, clock);
                check_loaded(m, f);
            }
            SECTION("restore_json over an existing state") {
                Manager m{clock};
                m.put_config("stale-bucket", ReplicationConfig{"role", {}});
                m.record_status_if_newer("stale-bucket", "stale-key", 12, ReplicationStatus::Failed);
                m.restore_json(read_file(f.json));
                CHECK_FALSE(m.get_config("stale-bucket"));
                CHECK_FALSE(m.lookup_entry("stale-bucket", "stale-key"));
                CHECK(canonical(m) == expected_content(f));
            }
        }
    }
}

TEST_CASE("every invalid fixture is rejected with SnapshotError and changes nothing", "[snapshot][fixtures]") {
    const std::vector<FixtureFile> all = all_fixtures();
    const std::string current = read_file(fixture(all, "current.json").json);
    for (const FixtureFile& f : all) {
        if (!f.rejected()) continue;
        SECTION(f.json.filename().string()) {
            const std::string json = read_file(f.json);
            const ManualClock clock{restore_time};
            CHECK_THROWS_AS(Manager::from_json(json, clock), SnapshotError);
            CHECK_THROWS_WITH(Manager::load_snapshot(f.json, clock), Catch::Contains(f.json.string()));
            CHECK_THROWS_AS(Manager::load_snapshot(f.json, clock), SnapshotError);

            // A manager with configurations, entries, minted generations and op counters.
            Manager m{clock};
            m.restore_json(current);
            m.next_generation();
            m.record_status_if_newer("src-photos", "raw/IMG_0000.CR2", 1, ReplicationStatus::Completed);
            m.record_status_if_newer("src-photos", "raw/IMG_0036.CR2", 1, ReplicationStatus::Failed); // rejected
            m.note_dropped();
            const Observed before = observe(m);
            CHECK_THROWS_AS(m.restore_json(json), SnapshotError);
            check_same(observe(m), before);
        }
    }
}

TEST_CASE("s3repl's to_json of every valid fixture loads to the same content", "[snapshot][fixtures][roundtrip]") {
    for (const FixtureFile& f : all_fixtures()) {
        if (f.rejected()) continue;
        SECTION(f.json.filename().string()) {
            const Manager first = Manager::from_json(read_file(f.json), ManualClock{restore_time});
            const std::string written = first.to_json();
            // Another clock: entries stamped `NOW` at the first load must keep that time, not take this one.
            Manager second = Manager::from_json(written, ManualClock{restore_time + 1h});
            CHECK(second.to_json().size() == written.size());
            check_loaded(second, f); // last: it mints
        }
    }
}

TEST_CASE("s3repl writes current.json's configurations and entries byte for byte as the Rust server",
          "[snapshot][fixtures][roundtrip]") {
    const std::string original = read_file(fixtures_dir / "current.json");
    const std::string written = Manager::from_json(original, ManualClock{restore_time}).to_json();
    // Bucket and entry order is the writer's own (Rust's is a HashMap's): compare piece by piece. Each piece
    // re-serialised in serde's form must appear verbatim both in s3repl's output and in the Rust server's.
    const auto doc = nlohmann::ordered_json::parse(written);
    REQUIRE(doc.size() == 3);
    std::size_t pieces = 0;
    for (const auto& item : doc.at("by_bucket").items()) {
        const std::string piece = json_string(item.key()) + ":" + item.value().dump();
        INFO(piece);
        CHECK(written.find(piece) != std::string::npos);
        CHECK(original.find(piece) != std::string::npos);
        ++pieces;
    }
    for (const auto& entry : doc.at("statuses")) {
        const std::string piece = entry.dump();
        INFO(piece);
        CHECK(written.find(piece) != std::string::npos);
        CHECK(original.find(piece) != std::string::npos);
        ++pieces;
    }
    CHECK(pieces == 3 + 40);
    // The Rust file ends with its counter; s3repl's must end with the same one.
    CHECK(written.substr(written.size() - 40) == original.substr(original.size() - 40));
}
