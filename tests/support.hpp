// Helpers more than one test program uses. Not a test program itself:
// tests/CMakeLists.txt builds only test_*.cpp.
#pragma once

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace s3repl_test {

// A manager on a clock the test moves by hand.
using Manager = s3repl::BasicReplicationManager<s3repl::ManualClock>;

// A V2 rule (a Filter, a Priority, DeleteMarkerReplication Disabled, so it
// passes validate()) replicating every key to `destination`.
inline s3repl::ReplicationRule rule_to(std::string destination, std::uint32_t priority) {
    s3repl::ReplicationRule rule;
    rule.id = destination + "-" + std::to_string(priority);
    rule.priority = priority;
    rule.destination_bucket = std::move(destination);
    rule.delete_marker_replication = false;
    return rule;
}

// begin_replication where the rules name one destination, as most tests
// set up: its one job, or nullopt when no rule selected the object.
template <class M, class Commit>
std::optional<s3repl::ReplicationJob> begin_one(M& manager, std::string_view bucket, std::string_view key,
                                                const s3repl::TagSet& tags, Commit&& commit) {
    std::vector<s3repl::ReplicationJob> jobs =
        s3repl::begin_replication(manager, bucket, key, tags, std::forward<Commit>(commit));
    REQUIRE(jobs.size() <= 1);
    if (jobs.empty()) return std::nullopt;
    return std::move(jobs.front());
}

// The last generation there is.
constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

// Every status, for tests that go through each.
constexpr s3repl::ReplicationStatus all_statuses[] = {
    s3repl::ReplicationStatus::Pending, s3repl::ReplicationStatus::Completed, s3repl::ReplicationStatus::Failed,
    s3repl::ReplicationStatus::Replica};

// Where the tests' clocks start, 2024-01-01T00:00:00.123456789Z: a sub-second
// part, so a clock that drops nanoseconds would show.
inline const s3repl::Timestamp start =
    s3repl::Timestamp{std::chrono::seconds{1704067200}} + std::chrono::nanoseconds{123456789};

// Polls `done` every millisecond until it holds or `limit` has passed;
// returns whether it held. For "it eventually happens", never for speed.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// A fresh directory under the system's temporary directory, removed with
// everything in it (write permission restored first) when the test ends.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "s3repl-test-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                     ignored);
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    // The names in it, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> found;
        for (const auto& item : std::filesystem::directory_iterator(path_))
            found.push_back(item.path().filename().string());
        std::sort(found.begin(), found.end());
        return found;
    }

  private:
    std::filesystem::path path_;
};

// A whole file's bytes, written or read raw.
inline void write_raw(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}
inline std::string read_raw(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Counts one entry of `status` into the entry counts of `s`.
inline void count_entry(s3repl::ReplicationStats& s, s3repl::ReplicationStatus status) {
    switch (status) {
    case s3repl::ReplicationStatus::Pending: ++s.entries_pending; break;
    case s3repl::ReplicationStatus::Completed: ++s.entries_completed; break;
    case s3repl::ReplicationStatus::Failed: ++s.entries_failed; break;
    case s3repl::ReplicationStatus::Replica: ++s.entries_replica; break;
    }
}

// The entry counts of a manager's map, counted entry by entry (the other counters stay 0).
template <class M>
s3repl::ReplicationStats recount(const M& m) {
    s3repl::ReplicationStats s;
    m.for_each_entry(
        [&](std::string_view, std::string_view, const s3repl::ReplicationStatusEntry& e) { count_entry(s, e.status); });
    return s;
}

// Checks the four entry counts one by one, so a failure names the one that differs.
inline void check_entry_counts(const s3repl::ReplicationStats& actual, const s3repl::ReplicationStats& expected) {
    CHECK(actual.entries_pending == expected.entries_pending);
    CHECK(actual.entries_completed == expected.entries_completed);
    CHECK(actual.entries_failed == expected.entries_failed);
    CHECK(actual.entries_replica == expected.entries_replica);
}

// Checks every counter one by one, then operator== (which must agree).
inline void check_stats(const s3repl::ReplicationStats& actual, const s3repl::ReplicationStats& expected) {
    check_entry_counts(actual, expected);
    CHECK(actual.generations_minted == expected.generations_minted);
    CHECK(actual.stamps_accepted == expected.stamps_accepted);
    CHECK(actual.stamps_rejected == expected.stamps_rejected);
    CHECK(actual.entries_swept == expected.entries_swept);
    CHECK(actual.dropped_total == expected.dropped_total);
    CHECK(actual == expected);
}

// `refs` in (bucket, key) byte order, the order listings are compared in.
inline std::vector<s3repl::EntryRef> sorted(std::vector<s3repl::EntryRef> refs) {
    std::sort(refs.begin(), refs.end(), [](const s3repl::EntryRef& a, const s3repl::EntryRef& b) {
        return std::tie(a.bucket, a.key) < std::tie(b.bucket, b.key);
    });
    return refs;
}

// A one-shot signal between threads: open() once, wait() until opened. The
// generous deadline turns a hang into a failure, never a speed check.
class Gate {
  public:
    void open() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        opened_.notify_all();
    }
    bool wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        return opened_.wait_for(lock, std::chrono::seconds(60), [this] { return open_; });
    }

  private:
    std::mutex mutex_;
    std::condition_variable opened_;
    bool open_ = false; // guarded by mutex_
};

// Replica metadata as the tests keep it: header name to value.
using Metadata = std::map<std::string, std::string>;

// The source bucket: what each key's last commit stored, and the order of commits.
class Source {
  public:
    struct Version {
        std::string body;
        std::uint64_t generation = 0;
    };
    void commit(const std::string& key, std::string body, std::uint64_t generation) {
        std::lock_guard<std::mutex> lock(mutex_);
        objects_[key] = Version{body, generation};
        log_.push_back(Version{std::move(body), generation});
    }
    Version latest(const std::string& key) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return objects_.at(key);
    }
    std::vector<Version> log() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return log_;
    }
    std::vector<std::string> keys() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> keys;
        for (const auto& object : objects_) keys.push_back(object.first);
        return keys;
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, Version> objects_; // guarded by mutex_
    std::vector<Version> log_;               // guarded by mutex_
};

// A destination bucket with S3's conditional writes, thread-safe. Hooks run
// outside its lock, before the call takes effect: tests stall or fail calls there.
class Destination {
  public:
    struct Replica {
        std::string body;
        Metadata metadata;
        std::string etag;
    };
    std::function<void()> before_head;
    std::function<std::optional<s3repl::WriteResult>()> before_put; // a value: answered without writing

    std::optional<s3repl::ReplicaState> head(const std::string& bucket, const std::string& key) {
        if (before_head) before_head();
        ++heads;
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = objects_.find(bucket + "/" + key);
        if (found == objects_.end()) return std::nullopt;
        return s3repl::ReplicaState{s3repl::replica_generation_of(found->second.metadata), found->second.etag};
    }
    s3repl::WriteResult put(const std::string& bucket, const std::string& key, const std::string& body,
                            const Metadata& metadata, const s3repl::WriteCondition& condition) {
        ++puts;
        if (before_put)
            if (const std::optional<s3repl::WriteResult> answer = before_put()) return *answer;
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = objects_.find(bucket + "/" + key);
        if (condition.if_none_match && found != objects_.end()) return s3repl::WriteResult::PreconditionFailed;
        if (condition.if_match && (found == objects_.end() || found->second.etag != *condition.if_match))
            return s3repl::WriteResult::PreconditionFailed;
        if (found != objects_.end() &&
            s3repl::replica_generation_of(found->second.metadata) > s3repl::replica_generation_of(metadata))
            ++rollbacks;
        objects_[bucket + "/" + key] = Replica{body, metadata, "\"" + std::to_string(++last_etag_) + "\""};
        return s3repl::WriteResult::Written;
    }
    // Another writer (a client, another node) replaces the replica: its ETag changes.
    void overwrite(const std::string& key, std::uint64_t generation, const std::string& bucket = "dst") {
        std::lock_guard<std::mutex> lock(mutex_);
        Metadata metadata;
        s3repl::set_replica_generation(metadata, generation);
        objects_[bucket + "/" + key] = Replica{"foreign", metadata, "\"" + std::to_string(++last_etag_) + "\""};
    }
    std::optional<Replica> get(const std::string& key, const std::string& bucket = "dst") const {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = objects_.find(bucket + "/" + key);
        if (found == objects_.end()) return std::nullopt;
        return found->second;
    }

    std::atomic<int> heads{0}, puts{0};
    std::atomic<int> rollbacks{0}; // writes that replaced a replica of a newer generation

  private:
    mutable std::mutex mutex_;
    std::map<std::string, Replica> objects_; // guarded by mutex_
    unsigned long last_etag_ = 0;            // guarded by mutex_
};

} // namespace s3repl_test
