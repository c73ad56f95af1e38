#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/clock.hpp"
#include "s3repl/destination_status.hpp"
#include "s3repl/detail/batch_lookup.hpp"
#include "s3repl/detail/bucket_key_overloads.hpp"
#include "s3repl/detail/commit_locks.hpp"
#include "s3repl/detail/entry_table.hpp"
#include "s3repl/detail/generation_counter.hpp"
#include "s3repl/detail/hash.hpp"
#include "s3repl/detail/lock.hpp"
#include "s3repl/detail/redrive_queue.hpp"
#include "s3repl/detail/snapshot_file.hpp"
#include "s3repl/detail/snapshot_reader.hpp"
#include "s3repl/detail/snapshot_writer.hpp"
#include "s3repl/detail/time_math.hpp"
#include "s3repl/detail/utf8.hpp"
#include "s3repl/error.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/restore_options.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/shared_mutex.hpp"
#include "s3repl/status.hpp"
#include "s3repl/sweep_policy.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
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
#include <type_traits>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

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

/// An owned copy of one entry, for re-drive queues. `version_id` is empty
/// for an unversioned object.
struct EntryRef {
    std::string bucket;
    std::string key;
    ReplicationStatusEntry entry;
    std::string version_id{};
    bool delete_marker = false;

    friend bool operator==(const EntryRef& a, const EntryRef& b) {
        return a.bucket == b.bucket && a.key == b.key && a.entry == b.entry && a.version_id == b.version_id &&
               a.delete_marker == b.delete_marker;
    }
    friend bool operator!=(const EntryRef& a, const EntryRef& b) { return !(a == b); }
};

/// Tracks the replication status of every (bucket, key) and the bucket
/// replication rules. Every member may be called concurrently from any
/// number of threads (except moving the manager itself). A moved-from
/// manager may only be destroyed or assigned to: any other call is a
/// precondition violation, checked by an assertion in debug builds.
///
/// Locking, in the order locks are taken:
/// - the commit lock of a key (256 striped std::mutex): held by
///   commit_in_order around a source commit, so generations follow commits;
/// - the snapshot lock (one Mutex): shared by to_json, exclusive by a
///   restore, so a snapshot sees the state wholly before or after it;
/// - the 32 shard locks (one Mutex each, shared for lookups, exclusive for
///   stamps and sweeps) guard the status map; no operation holds two except
///   the whole-state ones (stats, restore), which take them in order;
/// - the configuration lock (one Mutex) guards the bucket configurations.
/// The generation counter and the dropped counter are lock-free atomics.
///
///     s3repl::ReplicationManager manager;
///     auto generation = manager.next_generation();            // on the source PUT
///     manager.record_status_if_newer("src", "k", generation, s3repl::ReplicationStatus::Pending);
template <class Clock = CoarseSystemClock, class Mutex = SharedMutex>
class BasicReplicationManager : public detail::BucketKeyOverloads<BasicReplicationManager<Clock, Mutex>> {
    using Overloads = detail::BucketKeyOverloads<BasicReplicationManager>;
    static_assert(detail::is_system_clock_like<Clock>::value,
                  "s3repl: Clock needs a const now() returning a std::chrono::system_clock time_point "
                  "(see s3repl::CoarseSystemClock, s3repl::SystemClock and s3repl::ManualClock)");
    static_assert(detail::is_lockable<Mutex>::value,
                  "s3repl: Mutex needs lock() and unlock() (s3repl::SharedMutex, std::shared_mutex, std::mutex, ...)");

  public:
    using clock_type = Clock;
    using mutex_type = Mutex;

    // The (bucket, key) forms of the ObjectId members below, and the
    // shorter sweep_stale calls (detail/bucket_key_overloads.hpp).
    using Overloads::lookup_destinations;
    using Overloads::lookup_entry;
    using Overloads::lookup_status;
    using Overloads::record_destination_status_if_newer;
    using Overloads::record_status;
    using Overloads::record_status_if_newer;
    using Overloads::sweep_stale;

    explicit BasicReplicationManager(Clock clock = Clock{}) : clock_(std::move(clock)), state_(new State) {}

    BasicReplicationManager(BasicReplicationManager&&) noexcept = default;
    BasicReplicationManager& operator=(BasicReplicationManager&&) noexcept = default;

    /// The clock the manager stamps with (the sweeper reads it too).
    const Clock& clock() const noexcept { return clock_; }

    // ---- generations -----------------------------------------------------

    /// A fresh token: 1 first, then strictly increasing across threads, and
    /// above every generation stored so far. Lock-free. Throws
    /// GenerationExhausted instead of wrapping once 2^64-1 has been handed
    /// out. A source PUT mints through commit_in_order (or the
    /// begin_replication overload that takes a commit step) instead, so that
    /// its generation follows the order its bytes were committed in.
    std::uint64_t next_generation() { return state().generations.mint(); }

    /// After it, every generation minted is greater than `floor` (a server
    /// restarting over objects that carry generations newer than its last
    /// snapshot calls it with the highest). Lock-free; counts as no mint in
    /// stats(). raise_generation_floor(2^64-1) exhausts the counter.
    void raise_generation_floor(std::uint64_t floor) noexcept { state().generations.raise_to(floor); }

    /// The ordered source commit of a PUT: mints a generation and runs
    /// `commit(generation)` while holding the key's commit lock, so that for
    /// one (bucket, key) the order of generations is the order of commits.
    /// Returns the generation. `commit` is the server's short, final step
    /// (rename the uploaded file into place, swap a metadata pointer): never
    /// receive or write the uploaded bytes under it, because every PUT of a
    /// key sharing the lock's stripe waits. An exception from `commit`
    /// propagates (the generation stays unused). `commit` must not call
    /// commit_in_order itself (the stripe may be its own).
    template <class Commit>
    std::uint64_t commit_in_order(std::string_view bucket, std::string_view key, Commit&& commit) {
        State& st = state();
        std::lock_guard<std::mutex> lock(st.commit_locks.stripe_for(hash(bucket, key).entry));
        const std::uint64_t generation = st.generations.mint();
        std::forward<Commit>(commit)(generation);
        return generation;
    }

    // ---- bucket rules ----------------------------------------------------

    /// Stores (replacing) the configuration of `bucket`. Throws
    /// InvalidArgument, storing nothing, when a string in it is not UTF-8.
    /// It does not call validate(): see there.
    void put_config(std::string_view bucket, ReplicationConfig config) {
        require_utf8(bucket, "bucket");
        require_utf8(config);
        detail::WriteLock<Mutex> lock(state().config_mutex);
        state().configs.insert_or_assign(std::string(bucket), std::move(config));
    }

    std::optional<ReplicationConfig> get_config(std::string_view bucket) const {
        detail::ReadLock<Mutex> lock(state().config_mutex);
        const auto found = state().configs.find(bucket);
        if (found == state().configs.end()) return std::nullopt;
        return found->second;
    }

    /// Idempotent.
    void delete_config(std::string_view bucket) {
        detail::WriteLock<Mutex> lock(state().config_mutex);
        const auto found = state().configs.find(bucket);
        if (found != state().configs.end()) state().configs.erase(found);
    }

    /// The rules the object replicates by, one per destination bucket (see
    /// select_rules): empty when the bucket has no configuration or no
    /// enabled rule selects it.
    std::vector<ReplicationRule> match_rules(std::string_view bucket, std::string_view key,
                                             const TagSet& object_tags) const {
        std::vector<ReplicationRule> rules;
        detail::ReadLock<Mutex> lock(state().config_mutex);
        const auto found = state().configs.find(bucket);
        if (found == state().configs.end()) return rules;
        for (const ReplicationRule* rule : select_rules(found->second, key, object_tags)) rules.push_back(*rule);
        return rules;
    }

    /// The first of match_rules, or nullopt: the highest-priority enabled
    /// rule that selects the object (see select_rule).
    std::optional<ReplicationRule> match_rule(std::string_view bucket, std::string_view key,
                                              const TagSet& object_tags) const {
        detail::ReadLock<Mutex> lock(state().config_mutex);
        const auto found = state().configs.find(bucket);
        if (found == state().configs.end()) return std::nullopt;
        const ReplicationRule* rule = select_rule(found->second, key, object_tags);
        if (rule == nullptr) return std::nullopt;
        return *rule;
    }

    // ---- stamps ----------------------------------------------------------
    //
    // Every call that names an object takes an ObjectId ({bucket, key,
    // version_id}); the forms taking (bucket, key) are the unversioned
    // object's (an empty version ID). Each version of a key is an entry of
    // its own, with its own CAS.

    /// Unconditional stamp with generation 0 (so the next real PUT's CAS
    /// overrides it); recorded_at = clock now. Throws InvalidArgument,
    /// changing nothing, when a name is not valid UTF-8 (or the version ID
    /// is longer than max_version_id_bytes) or `status` is not one of the
    /// four enumerators.
    void record_status(const ObjectId& object, ReplicationStatus status) {
        require_known(status);
        const detail::KeyHashes h = hash(object);
        Shard& shard = shard_for(h);
        detail::WriteLock<Mutex> lock(shard.mutex);
        detail::StoredEntry* existing = shard.table.find(object.bucket, name_of(object), h);
        if (existing == nullptr) require_storable(object);
        store(shard, object, h, existing, {status, 0, now()});
    }

    /// The CAS: stamps `status` at `generation` unless the stored generation
    /// is greater, or equal with the stored status COMPLETED and `status`
    /// another (a duplicate task of the same PUT must not undo a success).
    /// Returns whether the stamp was accepted. An accepted generation above
    /// the counter raises it (every stored generation stays below the next
    /// one minted): a stamp at 2^64-1 exhausts the counter at once. No heap
    /// allocation when the entry exists. Throws InvalidArgument, changing
    /// nothing, when a new entry's names are invalid (see record_status) or
    /// `status` is not one of the four enumerators.
    bool record_status_if_newer(const ObjectId& object, std::uint64_t generation, ReplicationStatus status) {
        require_known(status);
        const detail::KeyHashes h = hash(object);
        Shard& shard = shard_for(h);
        shard.table.prefetch(h); // the slot's cache miss overlaps taking the lock
        detail::WriteLock<Mutex> lock(shard.mutex);
        detail::StoredEntry* existing = shard.table.find(object.bucket, name_of(object), h);
        if (existing != nullptr && existing->has_destinations && generation == existing->generation)
            return counted(shard, shard.table.stamp_every_destination(*existing, status, now_ns()));
        if (existing != nullptr && !stamp_wins(*existing, generation, status)) return counted(shard, false);
        if (existing == nullptr) require_storable(object);
        raise_counter_to(generation);
        store(shard, object, h, existing, {status, generation, now()});
        return true;
    }

    /// The CAS of one destination of a source object: stamps `status` for
    /// `destination_bucket` at `generation`. Refused (false) when the
    /// entry's generation is greater, or equal with this destination
    /// COMPLETED and `status` another. A greater generation replaces the
    /// entry's destinations with this one (a newer PUT: its other
    /// destinations are stamped next, under the same commit lock, by
    /// begin_replication); an equal one adds or updates this destination.
    /// The entry's status becomes their aggregate (see AggregateStatus).
    ///
    /// When `destination_bucket` is the one destination every enabled rule
    /// of the bucket names, the stamp is record_status_if_newer's, on the
    /// entry's single status, and the entry stays in today's form (stamps,
    /// lookups and snapshot bytes as for a single-destination manager).
    /// Otherwise an entry holding a single status at this generation hands
    /// it to this destination first (a COMPLETED one stays final).
    ///
    /// Throws InvalidArgument, changing nothing, for a destination name that
    /// is empty or not UTF-8, a status that is REPLICA (the replica's own) or
    /// not an enumerator, or a new entry's invalid names. Cost: the
    /// configuration's read lock, then one shard's write lock.
    bool record_destination_status_if_newer(const ObjectId& object, std::string_view destination_bucket,
                                            std::uint64_t generation, ReplicationStatus status) {
        require_destination_stamp(destination_bucket, status);
        const bool sole = is_sole_destination(object.bucket, destination_bucket);
        const detail::KeyHashes h = hash(object);
        const detail::HashedName destination{destination_bucket, hash_name(destination_bucket)};
        Shard& shard = shard_for(h);
        shard.table.prefetch(h);
        detail::WriteLock<Mutex> lock(shard.mutex);
        detail::StoredEntry* existing = shard.table.find(object.bucket, name_of(object), h);
        const detail::DestinationStamp stamp{destination, status, now_ns()};
        if (existing != nullptr && existing->has_destinations && generation == existing->generation)
            return counted(shard, shard.table.stamp_destination(*existing, stamp));
        if (existing != nullptr && !stamp_wins(*existing, generation, status)) return counted(shard, false);
        if (existing == nullptr) require_storable(object);
        raise_counter_to(generation);
        if (sole) {
            store(shard, object, h, existing, {status, generation, now()});
            return true;
        }
        if (existing != nullptr)
            shard.table.set_destinations(*existing, generation, &stamp, 1);
        else
            shard.table.insert(object.bucket, name_of(object), h, generation, &stamp, 1);
        ++shard.stamps_accepted;
        return true;
    }

    /// Records that a version is a delete marker (begin_delete_marker_replication
    /// calls it after the marker's stamps): re-drives then carry a marker, not
    /// bytes, and the snapshot says so. No effect when the version is not
    /// tracked. Throws InvalidArgument for an unversioned object (S3 has no
    /// delete marker without versioning).
    void mark_delete_marker(const ObjectId& object) {
        if (object.version_id.empty()) throw InvalidArgument("a delete marker needs a version ID");
        const detail::KeyHashes h = hash(object);
        Shard& shard = shard_for(h);
        detail::WriteLock<Mutex> lock(shard.mutex);
        if (detail::StoredEntry* e = shard.table.find(object.bucket, name_of(object), h))
            detail::EntryTable::set_delete_marker(*e, true);
    }

    /// Forgets the object's entry (S3 deleted that version: nothing is left
    /// to replicate, and a copy still running finds no entry and ends
    /// Superseded). Returns whether there was one.
    bool forget(const ObjectId& object) {
        const detail::KeyHashes h = hash(object);
        Shard& shard = shard_for(h);
        detail::WriteLock<Mutex> lock(shard.mutex);
        detail::StoredEntry* e = shard.table.find(object.bucket, name_of(object), h);
        if (e == nullptr) return false;
        shard.table.erase(*e);
        return true;
    }

    // ---- lookups (no heap allocation) -----------------------------------

    /// The status HEAD/GET report, or nullopt when the object is not tracked.
    std::optional<ReplicationStatus> lookup_status(const ObjectId& object) const {
        const std::optional<ReplicationStatusEntry> entry = lookup_entry(object);
        if (!entry) return std::nullopt;
        return entry->status;
    }

    /// The whole entry (status, generation, recorded_at), or nullopt.
    std::optional<ReplicationStatusEntry> lookup_entry(const ObjectId& object) const {
        const detail::KeyHashes h = hash(object);
        const Shard& shard = shard_for(h);
        shard.table.prefetch(h);
        detail::ReadLock<Mutex> lock(shard.mutex);
        const detail::StoredEntry* e = shard.table.lookup(object.bucket, name_of(object), h);
        if (e == nullptr) return std::nullopt;
        return e->to_entry();
    }

    /// Batch lookups, for a server answering many keys at once (an S3
    /// Inventory, a ListObjects page with statuses, a Batch Replication
    /// manifest): out[i] becomes lookup_status(objects[i]) (lookup_entries:
    /// lookup_entry(objects[i])) for i in [0, count). Each result is what the
    /// single lookup would have returned at some instant during the call, not
    /// one consistent cut across the keys: it holds one shard's read lock at
    /// a time, never two, so stamps run between its passes. Like every
    /// lookup it never throws for a name (one that is not valid UTF-8 just
    /// misses); an exception from the Mutex leaves `out` partly written. Cost: on a map
    /// too large for the cache, about a third of a single lookup per key (the
    /// keys' cache misses overlap, in chunks of 64; each shard's read lock is
    /// taken twice per chunk); on a map that fits in the cache, somewhat more
    /// than a single lookup (1.2x at 20,000 entries: two passes). No heap
    /// allocation. A miss reads the index slots: unlike lookup_status,
    /// a batch does not ask the presence filter.
    ///
    ///     std::vector<std::optional<s3repl::ReplicationStatus>> statuses(objects.size());
    ///     manager.lookup_statuses(objects.data(), objects.size(), statuses.data());
    void lookup_statuses(const ObjectId* objects, std::size_t count, std::optional<ReplicationStatus>* out) const {
        detail::lookup_batch(state().shards, state().seed, objects, count,
                             [out](std::size_t i, const detail::StoredEntry* e) {
                                 out[i] = e == nullptr ? std::nullopt : std::optional(e->status_value());
                             });
    }
    void lookup_entries(const ObjectId* objects, std::size_t count, std::optional<ReplicationStatusEntry>* out) const {
        detail::lookup_batch(state().shards, state().seed, objects, count,
                             [out](std::size_t i, const detail::StoredEntry* e) {
                                 out[i] = e == nullptr ? std::nullopt : std::optional(e->to_entry());
                             });
    }

    /// Each destination's status of the object; empty when it is not
    /// tracked. An entry in today's single-status form (its bucket's rules
    /// name one destination, or it was stamped through
    /// record_status_if_newer, or restored from a snapshot without
    /// per-destination state) reports one element: for the destination its
    /// bucket's enabled rules all name, or with an empty destination_bucket
    /// when they name several or none (its status then stands for whichever
    /// destinations the rules select). Allocates the result.
    std::vector<DestinationStatus> lookup_destinations(const ObjectId& object) const {
        std::vector<DestinationStatus> found;
        const detail::KeyHashes h = hash(object);
        const Shard& shard = shard_for(h);
        {
            detail::ReadLock<Mutex> lock(shard.mutex);
            const detail::StoredEntry* e = shard.table.lookup(object.bucket, name_of(object), h);
            if (e == nullptr) return found;
            append_destinations(shard.table, *e, found);
            if (e->has_destinations) return found;
        }
        // After the shard's lock: the configuration lock comes later in the order.
        found.front().destination_bucket = sole_destination_of(object.bucket);
        return found;
    }

    /// Number of entries.
    std::size_t size() const {
        std::size_t total = 0;
        for (const Shard& shard : state().shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            total += shard.table.size();
        }
        return total;
    }

    // ---- sweep -----------------------------------------------------------

    /// Removes COMPLETED entries recorded strictly before now -
    /// policy.completed_ttl, FAILED ones before now - policy.failed_ttl,
    /// and, whatever their age, those of versions outside the latest
    /// `policy.latest_versions` of their key (by generation); never PENDING
    /// (still in flight) or REPLICA, nor a FAILED one with a destination
    /// still PENDING. For an object with several destinations, the status
    /// is their aggregate and the time its newest stamp. Asks `keep_going()`
    /// before each shard and stops early when it returns false (a sweeper
    /// being stopped need not finish the pass: what is left is swept next
    /// time). Returns the number removed. Locks one shard at a time. Throws
    /// InvalidArgument, sweeping nothing, for a negative TTL. Also
    /// sweep_stale(now, policy) and sweep_stale(now, max_age), one TTL for
    /// both (detail/bucket_key_overloads.hpp).
    template <class KeepGoing>
    std::size_t sweep_stale(Timestamp now, const SweepPolicy& policy, KeepGoing&& keep_going) {
        if (policy.completed_ttl < std::chrono::nanoseconds::zero() ||
            policy.failed_ttl < std::chrono::nanoseconds::zero())
            throw InvalidArgument("sweep_stale: a TTL must not be negative (SweepPolicy::never keeps entries)");
        // A TTL of `never` sweeps nothing, even entries from 1677.
        constexpr std::int64_t keep_all = std::numeric_limits<std::int64_t>::min();
        const std::int64_t completed_cutoff = policy.completed_ttl == SweepPolicy::never
                                                  ? keep_all
                                                  : detail::saturating_cutoff(now, policy.completed_ttl);
        const std::int64_t failed_cutoff =
            policy.failed_ttl == SweepPolicy::never ? keep_all : detail::saturating_cutoff(now, policy.failed_ttl);
        std::size_t removed = 0;
        for (Shard& shard : state().shards) {
            if (!keep_going()) break;
            detail::WriteLock<Mutex> lock(shard.mutex);
            if (shard.table.count(ReplicationStatus::Completed) == 0 &&
                shard.table.count(ReplicationStatus::Failed) == 0)
                continue;
            const auto version_cutoffs = shard.table.version_cutoffs(policy.latest_versions);
            // A terminal version outside its key's latest ones goes whatever its age.
            const auto superseded_version = [&](const detail::StoredEntry& e) {
                if (!e.versioned || version_cutoffs.empty()) return false;
                const auto found = version_cutoffs.find(detail::EntryTable::version_group(e));
                return found != version_cutoffs.end() && e.generation < found->second;
            };
            const std::size_t swept = shard.table.erase_if([&](const detail::StoredEntry& e) {
                switch (e.status_value()) {
                case ReplicationStatus::Completed: return e.recorded_ns < completed_cutoff || superseded_version(e);
                // FAILED while another destination still copies: that copy will stamp it.
                case ReplicationStatus::Failed:
                    return (e.recorded_ns < failed_cutoff || superseded_version(e)) && !copying(shard.table, e);
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
    /// const ReplicationStatusEntry&) for every unversioned entry, one shard
    /// at a time under that shard's read lock; a visitor that also takes the
    /// version, visit(bucket, key, std::string_view version_id, entry), gets
    /// every entry, versions too (an empty version ID: unversioned). `visit`
    /// must not call back into the manager (the shard's lock is held).
    template <class Visitor>
    void for_each_entry(Visitor&& visit) const {
        constexpr bool with_versions = std::is_invocable_v<Visitor&, std::string_view, std::string_view,
                                                           std::string_view, const ReplicationStatusEntry&>;
        for (const Shard& shard : state().shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            shard.table.for_each(
                [&](std::string_view bucket, const detail::EntryName& name, const detail::StoredEntry& e) {
                    if constexpr (with_versions)
                        visit(bucket, name.key, name.version, e.to_entry());
                    else if (!name.versioned())
                        visit(bucket, name.key, e.to_entry());
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

    /// Each FAILED destination, for a server to re-copy just those: an
    /// object whose other destinations completed is not copied there again.
    /// An entry in the single-status form reports one element, named as
    /// lookup_destinations names it.
    std::vector<DestinationRef> failed_destinations() const {
        return collect_destinations([](const DestinationStatus& d) { return d.status == ReplicationStatus::Failed; });
    }

    /// Each PENDING destination recorded strictly before now - older_than.
    template <class Rep, class Period>
    std::vector<DestinationRef> stuck_pending_destinations(Timestamp now,
                                                           std::chrono::duration<Rep, Period> older_than) const {
        const Timestamp cutoff{
            std::chrono::nanoseconds{detail::saturating_cutoff(now, detail::saturating_nanoseconds(older_than))}};
        return collect_destinations([cutoff](const DestinationStatus& d) {
            return d.status == ReplicationStatus::Pending && d.recorded_at < cutoff;
        });
    }

    /// Queues (bucket, key) for take_redrive_candidates: its destination may
    /// hold stale bytes. replicate_object's unconditional `put` overload
    /// calls it when its write landed but a newer generation had won.
    void request_redrive(std::string_view bucket, std::string_view key) { state().redrive.add(bucket, key); }

    /// Takes the keys queued by request_redrive, each once, with its current
    /// entry (keys no longer tracked are left out): re-copy each at
    /// `entry.generation` with the source's current bytes. The queue lives
    /// in memory only: a restart loses it (the conditional-write overload of
    /// replicate_object never needs it).
    std::vector<EntryRef> take_redrive_candidates() {
        std::vector<EntryRef> candidates;
        for (auto& queued : state().redrive.take()) {
            const std::optional<ReplicationStatusEntry> entry = lookup_entry(queued.first, queued.second);
            if (entry) candidates.push_back(EntryRef{std::move(queued.first), std::move(queued.second), *entry});
        }
        return candidates;
    }

    // ---- stats -----------------------------------------------------------

    /// Called by the dispatcher when it gives up on a replication, or when
    /// its write succeeded but a newer generation had already won.
    void note_dropped() noexcept { state().dropped.fetch_add(1, std::memory_order_relaxed); }

    /// A consistent cut of every counter: all shard read locks are held
    /// together (taken in order) while summing.
    ReplicationStats stats() const {
        std::array<detail::ReadLock<Mutex>, detail::shard_count> locks;
        for (std::size_t i = 0; i < detail::shard_count; ++i)
            locks[i] = detail::ReadLock<Mutex>(state().shards[i].mutex);
        ReplicationStats s;
        for (const Shard& shard : state().shards) {
            s.entries_pending += shard.table.count(ReplicationStatus::Pending);
            s.entries_completed += shard.table.count(ReplicationStatus::Completed);
            s.entries_failed += shard.table.count(ReplicationStatus::Failed);
            s.entries_replica += shard.table.count(ReplicationStatus::Replica);
            s.stamps_accepted += shard.stamps_accepted;
            s.stamps_rejected += shard.stamps_rejected;
            s.entries_swept += shard.entries_swept;
        }
        s.generations_minted = state().generations.minted();
        s.dropped_total = state().dropped.load(std::memory_order_relaxed);
        return s;
    }

    /// Exact counts per destination bucket, sorted by name, from one
    /// consistent cut (every shard's read lock held together). An entry in
    /// the single-status form counts for the destination its bucket's
    /// enabled rules all name, or under an empty destination_bucket when
    /// they name several or none. REPLICA entries are no destination's.
    std::vector<DestinationCounts> destination_stats() const {
        std::map<std::string, DestinationCounts, std::less<>> by_name;
        const auto add = [&](std::string_view name, const std::array<std::uint32_t, replication_status_count>& n) {
            if (n[0] + n[1] + n[2] == 0) return;
            auto found = by_name.find(name);
            if (found == by_name.end()) found = by_name.emplace(std::string(name), DestinationCounts{}).first;
            found->second.pending += n[static_cast<std::size_t>(ReplicationStatus::Pending)];
            found->second.completed += n[static_cast<std::size_t>(ReplicationStatus::Completed)];
            found->second.failed += n[static_cast<std::size_t>(ReplicationStatus::Failed)];
        };
        std::array<detail::ReadLock<Mutex>, detail::shard_count> locks;
        for (std::size_t i = 0; i < detail::shard_count; ++i)
            locks[i] = detail::ReadLock<Mutex>(state().shards[i].mutex);
        detail::ReadLock<Mutex> config_lock(state().config_mutex);
        for (const Shard& shard : state().shards) {
            shard.table.buckets().for_each([&](const detail::BucketNames::Record& r) {
                add(r.name, r.as_destination);
                add(sole_destination_locked(r.name), r.single);
            });
        }
        std::vector<DestinationCounts> counts;
        counts.reserve(by_name.size());
        for (auto& [name, c] : by_name) {
            c.destination_bucket = name;
            counts.push_back(std::move(c));
        }
        return counts;
    }

    // ---- snapshot (format: README, "Snapshot format") -----------------------

    /// The whole state as compact JSON in the Rust server's format. Safe
    /// while other threads stamp: each entry is one whole accepted stamp and
    /// next_generation is above every generation written (2^64-1 for an
    /// exhausted counter). Holds one shard's read lock at a time, so stamps
    /// elsewhere go on while it runs; a concurrent restore_json is wholly
    /// before or after it (the snapshot lock).
    std::string to_json() const {
        detail::ReadLock<Mutex> snapshot_lock(state().snapshot_mutex);
        detail::SnapshotWriter writer;
        {
            detail::ReadLock<Mutex> lock(state().config_mutex);
            writer.configs(state().configs);
        }
        std::uint64_t highest = 0;
        for (const Shard& shard : state().shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            // The hash spreads entries evenly: the first shard's size tells the text's.
            if (&shard == &state().shards[0]) writer.expect_entries(shard.table.size() * detail::shard_count);
            shard.table.for_each([&](std::string_view bucket, const detail::EntryName& name,
                                     const detail::StoredEntry& e) {
                const Timestamp recorded_at = e.to_entry().recorded_at;
                if (name.versioned())
                    writer.version(bucket, name.key, name.version, e.delete_marker, e.status_value(), e.generation,
                                   recorded_at);
                else
                    writer.status(bucket, name.key, e.status_value(), e.generation, recorded_at);
                if (const auto* list = shard.table.destinations_of(e))
                    writer.destinations(list->size(), [&](std::size_t i) {
                        const detail::StoredDestination& d = (*list)[i];
                        return detail::SnapshotWriter::Destination{shard.table.bucket_name(d.bucket_id), d.status,
                                                                   Timestamp{std::chrono::nanoseconds{d.recorded_ns}}};
                    });
                if (e.generation > highest) highest = e.generation;
            });
        }
        // Read after the entries: every generation minted before them is below it.
        const detail::GenerationCounter& counter = state().generations;
        return std::move(writer).finish(counter.snapshot_value(highest), counter.exhausted());
    }

    /// Replaces the whole state (configurations, statuses, generation
    /// counter) with the snapshot's, all-or-nothing: on any error it throws
    /// SnapshotError and the manager is exactly as before. Entries without a
    /// recorded_at get the clock's now. The counter never moves back: the
    /// next generation minted is above every generation handed out before
    /// the restore and every generation in the snapshot, and above the
    /// snapshot's next_generation - 1 (a next_generation of 2^64-1 restores
    /// exhausted, as to_json writes an exhausted counter). Statuses stamped
    /// before the restore are replaced: restore before serving. `options`
    /// may read it on several threads (the same result).
    void restore_json(std::string_view json, const RestoreOptions& options = RestoreOptions{}) {
        detail::RestoredState staged;
        detail::read_snapshot(json, staged, state().seed, now(), options);
        install(staged);
    }

    /// A new manager holding the snapshot's state (see restore_json).
    static BasicReplicationManager from_json(std::string_view json, Clock clock = Clock{}) {
        return from_json(json, RestoreOptions{}, std::move(clock));
    }
    static BasicReplicationManager from_json(std::string_view json, const RestoreOptions& options,
                                             Clock clock = Clock{}) {
        BasicReplicationManager manager(std::move(clock));
        manager.restore_json(json, options);
        return manager;
    }

    /// Writes to_json() to `path` durably: a temporary file in the same
    /// directory, fsync, rename over `path`, fsync of the directory. A crash
    /// at any instant leaves the old file or the new one. Throws
    /// SnapshotError naming the path and the OS reason; the old file stays.
    void save_snapshot(const std::filesystem::path& path) const {
        detail::write_file_durably(path, [this] { return to_json(); });
    }

    /// A new manager from a snapshot file, read whole and parsed in place (no
    /// DOM: peak memory is about the file plus the tables). Throws
    /// SnapshotError naming the path.
    static BasicReplicationManager load_snapshot(const std::filesystem::path& path, Clock clock = Clock{}) {
        return load_snapshot(path, RestoreOptions{}, std::move(clock));
    }
    static BasicReplicationManager load_snapshot(const std::filesystem::path& path, const RestoreOptions& options,
                                                 Clock clock = Clock{}) {
        BasicReplicationManager manager(std::move(clock));
        detail::RestoredState staged;
        detail::read_snapshot_file(path, staged, manager.state().seed, manager.now(), options);
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
        detail::CommitLocks commit_locks;
        mutable Mutex snapshot_mutex; // shared by to_json, exclusive by install
        std::array<Shard, detail::shard_count> shards;
        mutable Mutex config_mutex;
        detail::ConfigMap configs; // guarded by config_mutex
        detail::GenerationCounter generations;
        std::atomic<std::uint64_t> dropped{0};
        detail::RedriveQueue redrive;
        const std::uint64_t seed = random_seed();
    };

    // Swaps a parsed snapshot in under every lock (the snapshot lock, shards
    // in order, then the configurations); the old state leaves in `staged`,
    // freed by the caller after the locks are released.
    void install(detail::RestoredState& staged) {
        State& st = state();
        detail::WriteLock<Mutex> snapshot_lock(st.snapshot_mutex);
        std::array<detail::WriteLock<Mutex>, detail::shard_count> locks;
        for (std::size_t i = 0; i < detail::shard_count; ++i) locks[i] = detail::WriteLock<Mutex>(st.shards[i].mutex);
        detail::WriteLock<Mutex> config_lock(st.config_mutex);
        for (std::size_t i = 0; i < detail::shard_count; ++i) st.shards[i].table.swap(staged.tables[i]);
        st.configs.swap(staged.configs);
        st.generations.raise_to(staged.last_issued); // never back: no token is reissued
    }

    // Every member but destruction and assignment goes through these.
    State& state() noexcept {
        assert(state_ != nullptr && "s3repl: call on a moved-from BasicReplicationManager");
        return *state_;
    }
    const State& state() const noexcept {
        assert(state_ != nullptr && "s3repl: call on a moved-from BasicReplicationManager");
        return *state_;
    }

    static std::uint64_t random_seed() {
        std::random_device device;
        return (static_cast<std::uint64_t>(device()) << 32) ^ device();
    }

    Timestamp now() const { return std::chrono::time_point_cast<std::chrono::nanoseconds>(clock_.now()); }

    detail::KeyHashes hash(std::string_view bucket, std::string_view key) const noexcept {
        return detail::hash_key(bucket, key, state().seed);
    }
    detail::KeyHashes hash(const ObjectId& object) const noexcept {
        return detail::hash_key(object.bucket, name_of(object), state().seed);
    }
    static detail::EntryName name_of(const ObjectId& object) noexcept {
        return detail::EntryName(object.key, object.version_id);
    }
    Shard& shard_for(detail::KeyHashes h) noexcept { return state().shards[detail::shard_of(h)]; }
    const Shard& shard_for(detail::KeyHashes h) const noexcept { return state().shards[detail::shard_of(h)]; }

    std::int64_t now_ns() const { return now().time_since_epoch().count(); }

    std::uint64_t hash_name(std::string_view bucket) const noexcept { return detail::hash_bytes(bucket, state().seed); }

    // One relaxed load on the common path; raised before the store, so no
    // mint can hand this generation out after it is visible.
    void raise_counter_to(std::uint64_t generation) noexcept {
        if (generation > state().generations.last_issued()) state().generations.raise_to(generation);
    }

    // Counts a stamp the CAS decided on; returns the decision.
    static bool counted(Shard& shard, bool accepted) noexcept {
        ++(accepted ? shard.stamps_accepted : shard.stamps_rejected);
        return accepted;
    }

    // The one destination every enabled rule of `bucket` names; empty when
    // there is none (no configuration, no enabled rule, several destinations).
    std::string sole_destination_of(std::string_view bucket) const {
        detail::ReadLock<Mutex> lock(state().config_mutex);
        return std::string(sole_destination_locked(bucket));
    }
    std::string_view sole_destination_locked(std::string_view bucket) const {
        const auto found = state().configs.find(bucket);
        if (found == state().configs.end()) return {};
        return sole_destination(found->second).value_or(std::string_view());
    }
    bool is_sole_destination(std::string_view bucket, std::string_view destination) const {
        detail::ReadLock<Mutex> lock(state().config_mutex);
        const auto found = state().configs.find(bucket);
        return found != state().configs.end() && sole_destination(found->second) == destination;
    }

    static void require_destination_stamp(std::string_view destination, ReplicationStatus status) {
        require_known(status);
        if (status == ReplicationStatus::Replica)
            throw InvalidArgument("a destination's status is PENDING, COMPLETED or FAILED (REPLICA is the replica's)");
        if (destination.empty()) throw InvalidArgument("the destination bucket is empty");
        require_utf8(destination, "destination bucket");
    }

    // FAILED at one destination while another still copies.
    static bool copying(const detail::EntryTable& table, const detail::StoredEntry& e) noexcept {
        const auto* list = table.destinations_of(e);
        return list != nullptr && std::any_of(list->begin(), list->end(), [](const detail::StoredDestination& d) {
                   return d.status == ReplicationStatus::Pending;
               });
    }

    // Appends e's destinations (one unnamed element for a single status).
    static void append_destinations(const detail::EntryTable& table, const detail::StoredEntry& e,
                                    std::vector<DestinationStatus>& out) {
        const auto* list = table.destinations_of(e);
        if (list == nullptr) {
            out.push_back({std::string(), e.status_value(), e.generation, e.to_entry().recorded_at});
            return;
        }
        for (const detail::StoredDestination& d : *list)
            out.push_back({std::string(table.bucket_name(d.bucket_id)), d.status, e.generation,
                           Timestamp{std::chrono::nanoseconds{d.recorded_ns}}});
    }

    template <class Predicate>
    std::vector<DestinationRef> collect_destinations(Predicate&& wanted) const {
        std::vector<DestinationRef> found;
        std::vector<DestinationStatus> scratch;
        for (const Shard& shard : state().shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            shard.table.for_each(
                [&](std::string_view bucket, const detail::EntryName& name, const detail::StoredEntry& e) {
                    if (e.status_value() == ReplicationStatus::Replica) return;
                    scratch.clear();
                    append_destinations(shard.table, e, scratch);
                    for (DestinationStatus& d : scratch)
                        if (wanted(d))
                            found.push_back(DestinationRef{std::string(bucket), std::string(name.key), std::move(d),
                                                           std::string(name.version), e.delete_marker != 0});
                });
        }
        // Name the single-status ones after the shard locks (the configuration lock comes later).
        for (DestinationRef& ref : found)
            if (ref.destination.destination_bucket.empty())
                ref.destination.destination_bucket = sole_destination_of(ref.bucket);
        return found;
    }

    static bool stamp_wins(const detail::StoredEntry& stored, std::uint64_t generation,
                           ReplicationStatus status) noexcept {
        if (generation != stored.generation) return generation > stored.generation;
        return stored.status_value() != ReplicationStatus::Completed || status == ReplicationStatus::Completed;
    }

    // Writes an accepted stamp; the caller holds the shard's write lock and
    // has checked a new entry's names (require_storable).
    static void store(Shard& shard, const ObjectId& object, detail::KeyHashes h, detail::StoredEntry* existing,
                      const ReplicationStatusEntry& value) {
        if (existing != nullptr)
            shard.table.assign(*existing, value);
        else
            shard.table.insert(object.bucket, name_of(object), h, value);
        ++shard.stamps_accepted;
    }

    static void require_storable(const ObjectId& object) { detail::require_storable(object); }

    // An out-of-range enumerator would index past the per-status counts.
    static void require_known(ReplicationStatus status) {
        if (static_cast<std::size_t>(status) >= replication_status_count)
            throw InvalidArgument("status " + std::to_string(static_cast<unsigned>(status)) +
                                  " is not a ReplicationStatus enumerator");
    }

    static void require_utf8(std::string_view text, const char* what) { detail::require_utf8(text, what); }
    static void require_utf8(const ReplicationConfig& config) {
        for_each_string(config, [](std::string_view text, const char* what) { require_utf8(text, what); });
    }

    template <class Predicate>
    std::vector<EntryRef> collect(Predicate&& wanted) const {
        std::vector<EntryRef> found;
        for (const Shard& shard : state().shards) {
            detail::ReadLock<Mutex> lock(shard.mutex);
            shard.table.for_each(
                [&](std::string_view bucket, const detail::EntryName& name, const detail::StoredEntry& e) {
                    if (wanted(e))
                        found.push_back(EntryRef{std::string(bucket), std::string(name.key), e.to_entry(),
                                                 std::string(name.version), e.delete_marker != 0});
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
