#pragma once

// The obvious design s3repl is measured against, built as the Rust server it
// comes from is: one reader-writer lock around a hash map keyed by two owned
// strings (so every lookup builds, and allocates, the key), a clock read on
// every stamp, and a JSON DOM for snapshots. It is
// meant to be a fair baseline, not a strawman: same CAS rules, same snapshot
// bytes, nothing slowed on purpose. Benchmark code only, not part of the library.

#include <s3repl/clock.hpp>
#include <s3repl/rules.hpp>
#include <s3repl/status.hpp>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace s3repl_bench {

using s3repl::ReplicationConfig;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using s3repl::Timestamp;

// ordered_json keeps fields in insertion order, so the text is byte for byte
// the Rust server's layout (plain nlohmann::json would sort the fields).
using Json = nlohmann::ordered_json;

struct PairHash {
    std::size_t operator()(const std::pair<std::string, std::string>& p) const noexcept {
        const std::size_t a = std::hash<std::string>{}(p.first);
        const std::size_t b = std::hash<std::string>{}(p.second);
        return a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2)); // boost::hash_combine
    }
};

inline const char* status_word(ReplicationStatus status) {
    switch (status) {
    case ReplicationStatus::Pending: return "Pending";
    case ReplicationStatus::Completed: return "Completed";
    case ReplicationStatus::Failed: return "Failed";
    case ReplicationStatus::Replica: return "Replica";
    }
    return "Pending";
}

inline ReplicationStatus parse_status_word(const std::string& word) {
    if (word == "Pending") return ReplicationStatus::Pending;
    if (word == "Completed") return ReplicationStatus::Completed;
    if (word == "Failed") return ReplicationStatus::Failed;
    if (word == "Replica") return ReplicationStatus::Replica;
    throw std::runtime_error("unknown status word: " + word);
}

// The Rust server's spelling: seconds, then 3, 6 or 9 fraction digits (the
// shortest exact one) only when the fraction is not zero, then Z.
inline std::string format_rfc3339(Timestamp t) {
    const auto day = date::floor<date::days>(t);
    const date::year_month_day ymd{day};
    const date::hh_mm_ss<std::chrono::nanoseconds> tod{t - day};
    char text[48];
    int length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                               static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                               static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                               static_cast<int>(tod.seconds().count()));
    const long long nanos = tod.subseconds().count();
    if (nanos != 0) {
        const int digits = nanos % 1000000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9;
        const long long shown = digits == 3 ? nanos / 1000000 : digits == 6 ? nanos / 1000 : nanos;
        length +=
            std::snprintf(text + length, sizeof text - static_cast<std::size_t>(length), ".%0*lld", digits, shown);
    }
    text[length++] = 'Z';
    return std::string(text, static_cast<std::size_t>(length));
}

// Reads what format_rfc3339 writes (UTC, 0 to 9 fraction digits); enough for
// a baseline that only ever reads its own snapshots.
inline Timestamp parse_rfc3339(std::string_view text) {
    const auto fail = [&] { return std::runtime_error("not an RFC 3339 UTC time: " + std::string(text)); };
    const auto number = [&](std::size_t at, std::size_t width) {
        int value = 0;
        if (at + width > text.size() ||
            std::from_chars(text.data() + at, text.data() + at + width, value).ptr != text.data() + at + width)
            throw fail();
        return value;
    };
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':')
        throw fail();
    const date::year_month_day ymd{date::year{number(0, 4)}, date::month{static_cast<unsigned>(number(5, 2))},
                                   date::day{static_cast<unsigned>(number(8, 2))}};
    if (!ymd.ok()) throw fail();
    std::int64_t nanos = 0;
    std::size_t at = 19;
    if (text[at] == '.') {
        int digits = 0;
        for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits)
            if (digits < 9) nanos = nanos * 10 + (text[at] - '0');
        for (; digits < 9; ++digits) nanos *= 10;
    }
    if (at + 1 != text.size() || text[at] != 'Z') throw fail();
    return Timestamp{date::sys_days{ymd}.time_since_epoch()} + std::chrono::hours{number(11, 2)} +
           std::chrono::minutes{number(14, 2)} + std::chrono::seconds{number(17, 2)} + std::chrono::nanoseconds{nanos};
}

inline Json config_to_json(const ReplicationConfig& config) {
    Json rules = Json::array();
    for (const s3repl::ReplicationRule& rule : config.rules) {
        Json tags = Json::array();
        for (const auto& tag : rule.filter.tags) tags.push_back(Json::array({tag.first, tag.second}));
        rules.push_back(Json{{"id", rule.id},
                             {"priority", rule.priority},
                             {"status_enabled", rule.status_enabled},
                             {"filter", Json{{"prefix", rule.filter.prefix ? Json(*rule.filter.prefix) : Json()},
                                             {"tags", std::move(tags)}}},
                             {"destination_bucket", rule.destination_bucket},
                             {"destination_storage_class",
                              rule.destination_storage_class ? Json(*rule.destination_storage_class) : Json()}});
    }
    return Json{{"role", config.role}, {"rules", std::move(rules)}};
}

inline ReplicationConfig config_from_json(const Json& j) {
    ReplicationConfig config;
    config.role = j.at("role").get<std::string>();
    for (const Json& r : j.at("rules")) {
        s3repl::ReplicationRule rule;
        rule.id = r.at("id").get<std::string>();
        rule.priority = r.at("priority").get<std::uint32_t>();
        rule.status_enabled = r.at("status_enabled").get<bool>();
        const Json& filter = r.at("filter");
        if (filter.contains("prefix") && !filter["prefix"].is_null())
            rule.filter.prefix = filter["prefix"].get<std::string>();
        for (const Json& tag : filter.at("tags"))
            rule.filter.tags.emplace_back(tag.at(0).get<std::string>(), tag.at(1).get<std::string>());
        rule.destination_bucket = r.at("destination_bucket").get<std::string>();
        if (r.contains("destination_storage_class") && !r["destination_storage_class"].is_null())
            rule.destination_storage_class = r["destination_storage_class"].get<std::string>();
        config.rules.push_back(std::move(rule));
    }
    return config;
}

/// The straightforward replication manager: same operations and CAS rules as
/// s3repl::BasicReplicationManager, one std::shared_mutex for the whole map.
template <class Clock = s3repl::SystemClock>
class NaiveManager {
  public:
    using Key = std::pair<std::string, std::string>;

    explicit NaiveManager(Clock clock = Clock{}) : clock_(std::move(clock)) {}

    std::uint64_t next_generation() noexcept { return next_.fetch_add(1, std::memory_order_relaxed); }

    void put_config(std::string_view bucket, ReplicationConfig config) {
        std::unique_lock<std::shared_mutex> lock(config_mutex_);
        configs_.insert_or_assign(std::string(bucket), std::move(config));
    }

    bool record_status_if_newer(std::string_view bucket, std::string_view key, std::uint64_t generation,
                                ReplicationStatus status) {
        Key k{std::string(bucket), std::string(key)};
        const ReplicationStatusEntry value{status, generation, now()};
        std::unique_lock<std::shared_mutex> lock(mutex_);
        const auto found = statuses_.find(k);
        if (found == statuses_.end()) {
            statuses_.emplace(std::move(k), value);
            return true;
        }
        ReplicationStatusEntry& stored = found->second;
        const bool wins = generation != stored.generation
                              ? generation > stored.generation
                              : stored.status != ReplicationStatus::Completed || status == ReplicationStatus::Completed;
        if (wins) stored = value;
        return wins;
    }

    std::optional<ReplicationStatus> lookup_status(std::string_view bucket, std::string_view key) const {
        const Key k{std::string(bucket), std::string(key)};
        std::shared_lock<std::shared_mutex> lock(mutex_);
        const auto found = statuses_.find(k);
        if (found == statuses_.end()) return std::nullopt;
        return found->second.status;
    }

    std::size_t size() const {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        return statuses_.size();
    }

    /// Removes COMPLETED and FAILED entries recorded strictly before now - max_age.
    std::size_t sweep_stale(Timestamp now, std::chrono::system_clock::duration max_age) {
        const Timestamp cutoff = now - std::chrono::duration_cast<std::chrono::nanoseconds>(max_age);
        std::unique_lock<std::shared_mutex> lock(mutex_);
        std::size_t removed = 0;
        for (auto it = statuses_.begin(); it != statuses_.end();) {
            if (s3repl::is_terminal(it->second.status) && it->second.recorded_at < cutoff) {
                it = statuses_.erase(it);
                ++removed;
            } else {
                ++it;
            }
        }
        return removed;
    }

    /// The snapshot format (README, "Snapshot format"), compact, fields in the Rust server's order.
    std::string to_json() const {
        Json doc = Json::object();
        {
            Json by_bucket = Json::object();
            std::shared_lock<std::shared_mutex> lock(config_mutex_);
            for (const auto& [bucket, config] : configs_) by_bucket[bucket] = config_to_json(config);
            doc["by_bucket"] = std::move(by_bucket);
        }
        Json statuses = Json::array();
        std::uint64_t highest = 0;
        {
            std::shared_lock<std::shared_mutex> lock(mutex_);
            for (const auto& [key, entry] : statuses_) {
                if (entry.generation > highest) highest = entry.generation;
                statuses.push_back(Json::array(
                    {Json::array({key.first, key.second}), Json{{"status", status_word(entry.status)},
                                                                {"generation", entry.generation},
                                                                {"recorded_at", format_rfc3339(entry.recorded_at)}}}));
            }
        }
        doc["statuses"] = std::move(statuses);
        // Above every generation stored too, as s3repl writes it: stamps do
        // not move this counter, and a restore must never reissue a token.
        doc["next_generation"] = std::max(next_.load(std::memory_order_relaxed), highest + 1);
        return doc.dump();
    }

    /// Parses the whole document into a DOM, then fills a new manager.
    static NaiveManager from_json(std::string_view json, Clock clock = Clock{}) {
        const Json doc = Json::parse(json.begin(), json.end());
        NaiveManager manager(std::move(clock));
        for (const auto& [bucket, config] : doc.at("by_bucket").items())
            manager.configs_.insert_or_assign(bucket, config_from_json(config));
        for (const Json& item : doc.at("statuses")) {
            const Json& key = item.at(0);
            const Json& entry = item.at(1);
            manager.statuses_.insert_or_assign(
                Key{key.at(0).get<std::string>(), key.at(1).get<std::string>()},
                ReplicationStatusEntry{parse_status_word(entry.at("status").get<std::string>()),
                                       entry.at("generation").get<std::uint64_t>(),
                                       parse_rfc3339(entry.at("recorded_at").get<std::string>())});
        }
        const std::uint64_t next = doc.contains("next_generation") ? doc["next_generation"].get<std::uint64_t>() : 1;
        manager.next_.store(next == 0 ? 1 : next, std::memory_order_relaxed);
        return manager;
    }

    NaiveManager(NaiveManager&& other) noexcept
        : clock_(std::move(other.clock_)), configs_(std::move(other.configs_)), statuses_(std::move(other.statuses_)),
          next_(other.next_.load(std::memory_order_relaxed)) {}

  private:
    Timestamp now() const { return std::chrono::time_point_cast<std::chrono::nanoseconds>(clock_.now()); }

    Clock clock_;
    mutable std::shared_mutex config_mutex_;
    std::map<std::string, ReplicationConfig> configs_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<Key, ReplicationStatusEntry, PairHash> statuses_;
    std::atomic<std::uint64_t> next_{1}; // the next token to hand out, as the Rust snapshot stores it
};

} // namespace s3repl_bench
