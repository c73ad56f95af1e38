#pragma once

#include "s3repl/clock.hpp"
#include "s3repl/detail/entry_table.hpp"
#include "s3repl/detail/lock.hpp"
#include "s3repl/detail/snapshot_file.hpp"
#include "s3repl/detail/snapshot_reader.hpp"
#include "s3repl/detail/snapshot_writer.hpp"
#include "s3repl/detail/time_math.hpp"
#include "s3repl/detail/utf8.hpp"
#include "s3repl/error.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/shared_mutex.hpp"
#include "s3repl/status.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// How long terminal entries live before sweep_stale removes them. FAILED is
/// kept longer by default: it is the handle a server uses to re-drive.
struct SweepPolicy {
    /// A TTL that never expires (no overflow anywhere). Use it rather than
    /// a coarse `hours::max()`, which overflows converting to nanoseconds
    /// before s3repl sees it.
    static constexpr std::chrono::nanoseconds never = std::chrono::nanoseconds::max();
    std::chrono::nanoseconds completed_ttl = std::chrono::hours(24);
    std::chrono::nanoseconds failed_ttl = std::chrono::hours(24 * 7);
};

/// Exact counters. entries_* always equal a recount of the map; the others
/// count operations since the manager was constructed (they survive
/// restore_json, as metrics should).
struct ReplicationStats {
    std::size_t entries_pending = 0;
    std::size_t entries_completed = 0;
    std::size_t entries_failed = 0;
    std::size_t entries_replica = 0;
    std::uint64_t generations_minted = 0;
    std::uint64_t stamps_accepted = 0;
    std::uint64_t stamps_rejected = 0; ///< CAS stamps refused as stale (or COMPLETED-final)
    std::uint64_t entries_swept = 0;
    std::uint64_t dropped_total = 0; ///< replications given up or superseded after a write

    friend bool operator==(const ReplicationStats& a, const ReplicationStats& b) noexcept {
        return a.entries_pending == b.entries_pending && a.entries_completed == b.entries_completed &&
               a.entries_failed == b.entries_failed && a.entries_replica == b.entries_replica &&
               a.generations_minted == b.generations_minted && a.stamps_accepted == b.stamps_accepted &&
               a.stamps_rejected == b.stamps_rejected && a.entries_swept == b.entries_swept &&
               a.dropped_total == b.dropped_total;
    }
    friend bool operator!=(const ReplicationStats& a, const ReplicationStats& b) noexcept { return !(a == b); }
};

/// An owned copy of one entry, for re-drive queues.
struct EntryRef {
    std::string bucket;
    std::string key;
    ReplicationStatusEntry entry;

    friend bool operator==(const EntryRef& a, const EntryRef& b) {
        return a.bucket == b.bucket && a.key == b.key && a.entry == b.entry;
    }
    friend bool operator!=(const EntryRef& a, const EntryRef& b) { return !(a == b); }
};

/// Tracks the replication status of every (bucket, key) and the bucket
/// replication rules. Every member may be called concurrently from any
/// number of threads (except moving the manager itself).
///
/// Locking: the status map is split into 32 shards, each guarded by its own
/// Mutex (shared for lookups, exclusive for stamps and sweeps); the bucket
/// configurations have one more Mutex; the generation counter and the
/// dropped counter are lock-free atomics. No operation holds two shard locks
/// except the whole-state ones (stats, restore), which take them in order.
///
///     s3repl::ReplicationManager manager;
///     auto generation = manager.next_generation();            // on the source PUT
///     manager.record_status_if_newer("src", "k", generation, s3repl::ReplicationStatus::Pending);
template <class Clock = CoarseSystemClock, class Mutex = SharedMutex>
class BasicReplicationManager {
    static_assert(detail::is_system_clock_like<Clock>::value,
                  "s3repl: Clock needs a const now() returning a std::chrono::system_clock time_point "
                  "(see s3repl::CoarseSystemClock, s3repl::SystemClock and s3repl::ManualClock)");
    static_assert(detail::is_lockable<Mutex>::value,
                  "s3repl: Mutex needs lock() and unlock() (s3repl::SharedMutex, std::shared_mutex, std::mutex, ...)");

  public:
    using clock_type = Clock;
    using mutex_type = Mutex;

    explicit BasicReplicationManager(Clock clock = Clock{}) : clock_(std::move(clock)), state_(new State) {}

    BasicReplicationManager(BasicReplicationManager&&) noexcept = default;
    BasicReplicationManager& operator=(BasicReplicationManager&&) noexcept = default;

    /// The clock the manager stamps with (the sweeper reads it too).
    const Clock& clock() const noexcept { return clock_; }

    // ---- generations -----------------------------------------------------

    /// A fresh token for a source PUT: 1 first, then strictly increasing
    /// across threads. Lock-free. Throws GenerationExhausted instead of
    /// wrapping once 2^64-1 has been handed out.
    std::uint64_t next_generation() {
        std::atomic<std::uint64_t>& issued = state_->last_issued;
        std::uint64_t last = issued.load(std::memory_order_relaxed);
        do {
            if (last == std::numeric_limits<std::uint64_t>::max()) throw GenerationExhausted();
        } while (!issued.compare_exchange_weak(last, last + 1, std::memory_order_relaxed));
        return last + 1;
    }

    // ---- bucket rules ----------------------------------------------------

    /// Stores (replacing) the configuration of `bucket`. Throws
    /// InvalidArgument, storing nothing, when a string in it is not UTF-8.
    /// It does not call validate(): see there.
    void put_config(std::string_view bucket, ReplicationConfig config) {
        require_utf8(bucket, "bucket");
        require_utf8(config);
        detail::WriteLock<Mutex> lock(state_->config_mutex);
        state_->configs.insert_or_assign(std::string(bucket), std::move(config));
    }

    std::optional<ReplicationConfig> get_config(std::string_view bucket) const {
        detail::ReadLock<Mutex> lock(state_->config_mutex);
        const auto found = state_->configs.find(bucket);
        if (found == state_->configs.end()) return std::nullopt;
        return found->second;
    }

    /// Idempotent.
    void delete_config(std::string_view bucket) {
        detail::WriteLock<Mutex> lock(state_->config_mutex);
        const auto found = state_->configs.find(bucket);
        if (found != state_->configs.end()) state_->configs.erase(found);
    }

    /// The rule the object replicates by (see select_rule), or nullopt when
    /// the bucket has no configuration or no enabled rule matches.
    std::optional<ReplicationRule> match_rule(std::string_view bucket, std::string_view key,
                                              const TagSet& object_tags) const {
        detail::ReadLock<Mutex> lock(state_->config_mutex);
        const auto found = state_->configs.find(bucket);
        if (found == state_->configs.end()) return std::nullopt;
        const ReplicationRule* rule = select_rule(found->second, key, object_tags);
        if (rule == nullptr) return std::nullopt;
        return *rule;
    }

    // ---- stamps ----------------------------------------------------------

    /// Unconditional stamp with generation 0 (so the next real PUT's CAS
    /// overrides it); recorded_at = clock now. Throws InvalidArgument,
    /// changing nothing, when bucket or key is not valid UTF-8.
    void record_status(std::string_view bucket, std::string_view key, ReplicationStatus status) {
        const detail::KeyHashes h = hash(bucket, key);
        Shard& shard = shard_for(h);
        detail::WriteLock<Mutex> lock(shard.mutex);
        store(shard, bucket, key, h, shard.table.find(bucket, key, h), {status, 0, now()});
    }

    /// The CAS: stamps `status` at `generation` unless the stored generation
    /// is greater, or equal with the stored status COMPLETED and `status`
    /// another (a duplicate task of the same PUT must not undo a success).
    /// Returns whether the stamp was accepted. No heap allocation when the
    /// entry exists. Throws InvalidArgument, changing nothing, when a new
    /// entry's bucket or key is not valid UTF-8.
    bool record_status_if_newer(std::string_view bucket, std::string_view key, std::uint64_t generation,
                                ReplicationStatus status) {
        const detail::KeyHashes h = hash(bucket, key);
        Shard& shard = shard_for(h);
        shard.table.prefetch(h); // the slot's cache miss overlaps taking the lock
        detail::WriteLock<Mutex> lock(shard.mutex);
        detail::StoredEntry* existing = shard.table.find(bucket, key, h);
        if (existing != nullptr && !stamp_wins(*existing, generation, status)) {
            ++shard.stamps_rejected;
            return false;
        }
        store(shard, bucket, key, h, existing, {status, generation, now()});
        return true;
    }

    // ---- lookups (no heap allocation) -----------------------------------

    /// The status HEAD/GET report, or nullopt when (bucket, key) is not tracked.
    std::optional<ReplicationStatus> lookup_status(std::string_view bucket, std::string_view key) const {
        const std::optional<ReplicationStatusEntry> entry = lookup_entry(bucket, key);
        if (!entry) return std::nullopt;
        return entry->status;
    }

    /// The whole entry (status, generation, recorded_at), or nullopt.
    std::optional<ReplicationStatusEntry> lookup_entry(std::string_view bucket, std::string_view key) const {
        const detail::KeyHashes h = hash(bucket, key);
        const Shard& shard = shard_for(h);
        shard.table.prefetch(h);
        detail::ReadLock<Mutex> lock(shard.mutex);
        const detail::StoredEntry* e = shard.table.lookup(bucket, key, h);
        if (e == nullptr) return std::nullopt;
        return e->to_entry();
    }

    /// Number of entries.
    std::size_t size() const {
        std::size_t total = 0;
        for (const Shard& shard : state_->shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            total += shard.table.size();
        }
        return total;
    }

    // ---- sweep -----------------------------------------------------------

    /// Removes COMPLETED and FAILED entries recorded strictly before
    /// now - max_age; never PENDING (still in flight) or REPLICA. Returns
    /// the number removed. Locks one shard at a time.
    /// Any duration type is accepted and clamped, so hours::max() means
    /// "keep everything" instead of overflowing in a conversion.
    template <class Rep, class Period>
    std::size_t sweep_stale(Timestamp now, std::chrono::duration<Rep, Period> max_age) {
        const std::chrono::nanoseconds ttl = detail::saturating_nanoseconds(max_age);
        return sweep_stale(now, SweepPolicy{ttl, ttl});
    }

    /// As above with separate TTLs for COMPLETED and FAILED.
    std::size_t sweep_stale(Timestamp now, const SweepPolicy& policy) {
        // A TTL of `never` sweeps nothing, even entries from 1677.
        constexpr std::int64_t keep_all = std::numeric_limits<std::int64_t>::min();
        const std::int64_t completed_cutoff = policy.completed_ttl == SweepPolicy::never
                                                  ? keep_all
                                                  : detail::saturating_cutoff(now, policy.completed_ttl);
        const std::int64_t failed_cutoff =
            policy.failed_ttl == SweepPolicy::never ? keep_all : detail::saturating_cutoff(now, policy.failed_ttl);
        std::size_t removed = 0;
        for (Shard& shard : state_->shards) {
            detail::WriteLock<Mutex> lock(shard.mutex);
            if (shard.table.count(ReplicationStatus::Completed) == 0 &&
                shard.table.count(ReplicationStatus::Failed) == 0)
                continue;
            const std::size_t swept = shard.table.erase_if([&](const detail::StoredEntry& e) {
                switch (e.status_value()) {
                case ReplicationStatus::Completed: return e.recorded_ns < completed_cutoff;
                case ReplicationStatus::Failed: return e.recorded_ns < failed_cutoff;
                default: return false;
                }
            });
            shard.entries_swept += swept;
            removed += swept;
        }
        return removed;
    }

    // ---- re-drive support ------------------------------------------------

    /// Calls visit(std::string_view bucket, std::string_view key,
    /// const ReplicationStatusEntry&) for every entry, one shard at a time
    /// under that shard's read lock. `visit` must not call back into the
    /// manager (the shard's lock is held).
    template <class Visitor>
    void for_each_entry(Visitor&& visit) const {
        for (const Shard& shard : state_->shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            shard.table.for_each([&](std::string_view bucket, std::string_view key, const detail::StoredEntry& e) {
                visit(bucket, key, e.to_entry());
            });
        }
    }

    /// PENDING entries recorded strictly before now - older_than: the
    /// replications a crashed or lost task left behind.
    template <class Rep, class Period>
    std::vector<EntryRef> stuck_pending(Timestamp now, std::chrono::duration<Rep, Period> older_than) const {
        const std::int64_t cutoff = detail::saturating_cutoff(now, detail::saturating_nanoseconds(older_than));
        return collect([cutoff](const detail::StoredEntry& e) {
            return e.status_value() == ReplicationStatus::Pending && e.recorded_ns < cutoff;
        });
    }

    /// Every FAILED entry, for a server to re-queue.
    std::vector<EntryRef> failed_entries() const {
        return collect([](const detail::StoredEntry& e) { return e.status_value() == ReplicationStatus::Failed; });
    }

    // ---- stats -----------------------------------------------------------

    /// Called by the dispatcher when it gives up on a replication, or when
    /// its write succeeded but a newer generation had already won.
    void note_dropped() noexcept { state_->dropped.fetch_add(1, std::memory_order_relaxed); }

    /// A consistent cut of every counter: all shard read locks are held
    /// together (taken in order) while summing.
    ReplicationStats stats() const {
        std::array<detail::ReadLock<Mutex>, detail::shard_count> locks;
        for (std::size_t i = 0; i < detail::shard_count; ++i)
            locks[i] = detail::ReadLock<Mutex>(state_->shards[i].mutex);
        ReplicationStats s;
        for (const Shard& shard : state_->shards) {
            s.entries_pending += shard.table.count(ReplicationStatus::Pending);
            s.entries_completed += shard.table.count(ReplicationStatus::Completed);
            s.entries_failed += shard.table.count(ReplicationStatus::Failed);
            s.entries_replica += shard.table.count(ReplicationStatus::Replica);
            s.stamps_accepted += shard.stamps_accepted;
            s.stamps_rejected += shard.stamps_rejected;
            s.entries_swept += shard.entries_swept;
        }
        s.generations_minted = state_->last_issued.load(std::memory_order_relaxed) - state_->mint_base;
        s.dropped_total = state_->dropped.load(std::memory_order_relaxed);
        return s;
    }

    // ---- snapshot (format: README, "Snapshot format") -----------------------

    /// The whole state as compact JSON in the Rust server's format. Safe
    /// while other threads stamp: each entry is one whole accepted stamp and
    /// next_generation is above every generation written. Holds one shard's
    /// read lock at a time, so stamps elsewhere go on while it runs.
    std::string to_json() const {
        detail::SnapshotWriter writer;
        {
            detail::ReadLock<Mutex> lock(state_->config_mutex);
            writer.configs(state_->configs);
        }
        std::uint64_t highest = 0;
        for (const Shard& shard : state_->shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            shard.table.for_each([&](std::string_view bucket, std::string_view key, const detail::StoredEntry& e) {
                writer.status(bucket, key, e.status_value(), e.generation, e.to_entry().recorded_at);
                if (e.generation > highest) highest = e.generation;
            });
        }
        // Read after the entries: every generation minted before them is below it.
        const std::uint64_t issued = state_->last_issued.load(std::memory_order_relaxed);
        const std::uint64_t last = issued > highest ? issued : highest;
        // Exhausted counters are written as 2^64-1, the largest the format holds.
        return std::move(writer).finish(last == std::numeric_limits<std::uint64_t>::max() ? last : last + 1);
    }

    /// Replaces the whole state (configurations, statuses, generation
    /// counter) with the snapshot's, all-or-nothing: on any error it throws
    /// SnapshotError and the manager is exactly as before. Entries without a
    /// recorded_at get the clock's now. The counter becomes
    /// max(next_generation, highest stored generation + 1, 1).
    /// Restore before serving: a generation minted before the restore and
    /// stamped after it may exceed the restored counter.
    void restore_json(std::string_view json) {
        detail::RestoredState staged;
        detail::read_snapshot(json, staged, state_->seed, now());
        install(staged);
    }

    /// A new manager holding the snapshot's state (see restore_json).
    static BasicReplicationManager from_json(std::string_view json, Clock clock = Clock{}) {
        BasicReplicationManager manager(std::move(clock));
        manager.restore_json(json);
        return manager;
    }

    /// Writes to_json() to `path` durably: a temporary file in the same
    /// directory, fsync, rename over `path`, fsync of the directory. A crash
    /// at any instant leaves the old file or the new one. Throws
    /// SnapshotError naming the path and the OS reason; the old file stays.
    void save_snapshot(const std::filesystem::path& path) const { detail::write_file_durably(path, to_json()); }

    /// A new manager from a snapshot file, read whole and parsed in place (no
    /// DOM: peak memory is about the file plus the tables). Throws
    /// SnapshotError naming the path.
    static BasicReplicationManager load_snapshot(const std::filesystem::path& path, Clock clock = Clock{}) {
        BasicReplicationManager manager(std::move(clock));
        detail::RestoredState staged;
        detail::read_snapshot_file(path, staged, manager.state_->seed, manager.now());
        manager.install(staged);
        return manager;
    }

  private:
    struct alignas(64) Shard {
        mutable Mutex mutex;
        detail::EntryTable table;          // guarded by mutex
        std::uint64_t stamps_accepted = 0; // guarded by mutex
        std::uint64_t stamps_rejected = 0; // guarded by mutex
        std::uint64_t entries_swept = 0;   // guarded by mutex
    };

    struct State {
        std::array<Shard, detail::shard_count> shards;
        mutable Mutex config_mutex;
        detail::ConfigMap configs;                 // guarded by config_mutex
        std::atomic<std::uint64_t> last_issued{0}; // the highest generation handed out
        std::uint64_t mint_base = 0;               // last_issued when counting began; written under all shard locks
        std::atomic<std::uint64_t> dropped{0};
        const std::uint64_t seed = random_seed();
    };

    // Swaps a parsed snapshot in under every lock (shards in order, then the
    // configurations); the old state leaves in `staged`, freed by the caller
    // after the locks are released.
    void install(detail::RestoredState& staged) {
        std::array<detail::WriteLock<Mutex>, detail::shard_count> locks;
        for (std::size_t i = 0; i < detail::shard_count; ++i)
            locks[i] = detail::WriteLock<Mutex>(state_->shards[i].mutex);
        detail::WriteLock<Mutex> config_lock(state_->config_mutex);
        for (std::size_t i = 0; i < detail::shard_count; ++i) state_->shards[i].table.swap(staged.tables[i]);
        state_->configs.swap(staged.configs);
        // generations_minted counts on across the restore.
        const std::uint64_t old_issued = state_->last_issued.exchange(staged.last_issued);
        state_->mint_base = staged.last_issued - (old_issued - state_->mint_base);
    }

    static std::uint64_t random_seed() {
        std::random_device device;
        return (static_cast<std::uint64_t>(device()) << 32) ^ device();
    }

    Timestamp now() const { return std::chrono::time_point_cast<std::chrono::nanoseconds>(clock_.now()); }

    detail::KeyHashes hash(std::string_view bucket, std::string_view key) const noexcept {
        return detail::hash_key(bucket, key, state_->seed);
    }
    Shard& shard_for(detail::KeyHashes h) noexcept { return state_->shards[detail::shard_of(h)]; }
    const Shard& shard_for(detail::KeyHashes h) const noexcept { return state_->shards[detail::shard_of(h)]; }

    static bool stamp_wins(const detail::StoredEntry& stored, std::uint64_t generation,
                           ReplicationStatus status) noexcept {
        if (generation != stored.generation) return generation > stored.generation;
        return stored.status_value() != ReplicationStatus::Completed || status == ReplicationStatus::Completed;
    }

    // Writes an accepted stamp; the caller holds the shard's write lock.
    static void store(Shard& shard, std::string_view bucket, std::string_view key, detail::KeyHashes h,
                      detail::StoredEntry* existing, const ReplicationStatusEntry& value) {
        if (existing != nullptr) {
            shard.table.assign(*existing, value);
        } else {
            require_utf8(bucket, "bucket");
            require_utf8(key, "key");
            shard.table.insert(bucket, key, h, value);
        }
        ++shard.stamps_accepted;
    }

    static void require_utf8(std::string_view text, const char* what) {
        if (!detail::is_valid_utf8(text))
            throw InvalidArgument(std::string(what) + " is not valid UTF-8 (S3 names are UTF-8; JSON cannot hold it)");
    }
    static void require_utf8(const ReplicationConfig& config) {
        for_each_string(config, [](std::string_view text, const char* what) { require_utf8(text, what); });
    }

    template <class Predicate>
    std::vector<EntryRef> collect(Predicate&& wanted) const {
        std::vector<EntryRef> found;
        for (const Shard& shard : state_->shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            shard.table.for_each([&](std::string_view bucket, std::string_view key, const detail::StoredEntry& e) {
                if (wanted(e)) found.push_back(EntryRef{std::string(bucket), std::string(key), e.to_entry()});
            });
        }
        return found;
    }

    Clock clock_;
    std::unique_ptr<State> state_;
};

/// The manager most servers want: the wall clock to the second,
/// s3repl::SharedMutex per shard.
using ReplicationManager = BasicReplicationManager<>;

} // namespace v0
} // namespace s3repl
