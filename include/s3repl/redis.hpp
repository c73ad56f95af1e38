#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/clock.hpp"
#include "s3repl/destination_status.hpp"
#include "s3repl/detail/redis_cluster.hpp"
#include "s3repl/detail/redis_commit_lock.hpp"
#include "s3repl/detail/redis_connection.hpp"
#include "s3repl/detail/redis_freeze.hpp"
#include "s3repl/detail/redis_keys.hpp"
#include "s3repl/detail/redis_scripts.hpp"
#include "s3repl/detail/snapshot_reader.hpp"
#include "s3repl/detail/snapshot_writer.hpp"
#include "s3repl/detail/time_math.hpp"
#include "s3repl/detail/utf8.hpp"
#include "s3repl/error.hpp"
#include "s3repl/manager.hpp" // ReplicationStats, EntryRef
#include "s3repl/object_id.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/sweep_policy.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// One stamp of a pipelined batch (BasicRedisReplicationManager::record_statuses_if_newer):
/// record_status_if_newer(object, generation, status). `object` refers to the caller's strings.
struct StatusStamp {
    ObjectId object;
    std::uint64_t generation = 0;
    ReplicationStatus status = ReplicationStatus::Pending;
};

/// The replication state in Redis, shared by every node that connects to the
/// same server under the same key prefix: the same members, with the same
/// rules, as BasicReplicationManager, so begin_replication, replicate_object,
/// commit_version_delete, redrive_jobs and StaleSweeper work on it unchanged.
///
/// Atomicity: every stamp, forget and sweep batch is one Lua script (EVALSHA),
/// applied whole on the server or not at all; the generation counter is one
/// hash incremented by a script that refuses to pass 2^64-1. Generations and
/// times are compared as decimal strings inside the scripts (Lua's numbers are
/// doubles, and Redis's INCR stops at 2^63-1), so the whole 64-bit range of
/// the in-memory manager holds.
///
/// Key layout, under `prefix` (no '{' or '}'); the braces are Redis Cluster
/// hash tags, so each script touches one slot:
///   {P:gen}            hash: last (the highest generation issued or stored),
///                      minted, dropped, epoch (the entries' active one), epochs,
///                      restoring / aborted (a restore's freeze, detail/redis_freeze.hpp)
///   {P:gen}:config     hash: bucket -> its configuration (a one-bucket snapshot
///                      document), in the counter's slot: restore_json switches both
///                      in one script
///   {P:redrive}        set: the keys request_redrive queued
///   {P:S}:e:<name>     hash, one per entry, S = FNV-1a(bucket, key) % 256:
///                      s status digit, g generation, t time, c score,
///                      m delete marker, d:<destination> "status:time:score"
///   {P:S}:z:<digit>    sorted set per status: entry names by recorded_at (ms)
///   {P:S}:n            hash: c<digit> entries per status, acc, rej, swept
///   {P:S}:vk, {P:S}:k:<group>   sets: the shard's keys with versions, and each one's version IDs
///   {P:S}:l:<group>    string: commit_in_order's lease on a key (detail/redis_commit_lock.hpp)
/// <name> is "<len>:<bucket><len>:<key><version ID>", binary-safe; every
/// version of a key is in its shard, so the versions rule is one slot too. A
/// time is nanoseconds since the epoch plus 2^63, in decimal. These shard keys
/// are epoch 0's; restore_json moves the entries to a fresh epoch N, under
/// {P:S}:@N:, and leaves a replaced epoch's marker {P:S}:x ({P:S}:@N:x), on
/// which every shard script answers STALE (see restore_json).
///
/// Thread safety: every member may be called from any number of threads.
/// Each call leases a connection from a small pool (on a cluster, one pool
/// per master): an idle one, or a new one, so threads never wait on each
/// other's round trips.
///
/// Failures: an unreachable server, a call without an answer within
/// RedisOptions::timeout, or a refused command throw BackendError; a stamp
/// is one script, so it applied whole or not at all (which of the two is
/// unknown when the connection dropped during the call). The next call
/// reconnects with bounded exponential backoff.
///
/// Cost: one round trip per stamp or lookup (two for a stamp whose
/// generation is above every one this manager has seen, which raises the
/// counter first; and a destination stamp reads the bucket's configuration);
/// lookup_statuses/lookup_entries pipeline a whole batch in one round trip.
/// commit_in_order takes three (the key's lock, the mint, the release).
///
///     s3repl::RedisReplicationManager manager({"127.0.0.1", 6379}, "s3repl");
///     auto generation = manager.next_generation();
///     manager.record_status_if_newer("src", "k", generation, s3repl::ReplicationStatus::Pending);
template <class Clock = CoarseSystemClock>
class BasicRedisReplicationManager {
    static_assert(detail::is_system_clock_like<Clock>::value,
                  "s3repl: Clock needs a const now() returning a std::chrono::system_clock time_point "
                  "(see s3repl::CoarseSystemClock, s3repl::SystemClock and s3repl::ManualClock)");

  public:
    using clock_type = Clock;

    /// Connects lazily (the first call). Throws InvalidArgument for a
    /// prefix that is empty or holds a brace.
    explicit BasicRedisReplicationManager(RedisOptions options = {}, std::string prefix = "s3repl",
                                          Clock clock = Clock{})
        : clock_(std::move(clock)), state_(std::make_unique<State>(options, std::move(prefix))) {}

    /// On a Redis Cluster: each command and script goes to the master of
    /// its keys' slot (every script's keys share one hash tag, so one slot),
    /// following MOVED and ASK redirections (a resharding); pipelines are
    /// split per master; walks visit every master. Throws InvalidArgument
    /// for seeds that are not "host:port,...".
    BasicRedisReplicationManager(const RedisClusterOptions& options, std::string prefix, Clock clock = Clock{})
        : clock_(std::move(clock)), state_(std::make_unique<State>(options, std::move(prefix))) {}

    BasicRedisReplicationManager(BasicRedisReplicationManager&&) noexcept = default;
    BasicRedisReplicationManager& operator=(BasicRedisReplicationManager&&) noexcept = default;

    const Clock& clock() const noexcept { return clock_; }
    const std::string& prefix() const noexcept { return state_->keys.prefix(); }

    // ---- generations -----------------------------------------------------

    /// A fresh token, above every generation issued or stored under the
    /// prefix by any node. Throws GenerationExhausted instead of wrapping.
    std::uint64_t next_generation() {
        const detail::RedisReply reply = run_raw(state_->mint, {"1", state_->keys.generation()});
        if (reply.is_error() && reply.text.compare(0, 9, "EXHAUSTED") == 0) throw GenerationExhausted();
        return seen(generation_of(checked(reply, "mint")));
    }

    /// After it, every generation minted is greater than `floor`.
    void raise_generation_floor(std::uint64_t floor) { raise_counter_to(floor); }

    /// Mints a generation and runs `commit(generation)` holding the key's
    /// commit lock on every node sharing the prefix (a lease in Redis, see
    /// RedisOptions::commit_lease), so generations follow the order of the
    /// key's commits across nodes, as BasicReplicationManager::commit_in_order
    /// orders them within one process. Throws BackendError, committing
    /// nothing, when the lock or the mint fails; what `commit` throws passes
    /// through, the lock released.
    template <class Commit>
    std::uint64_t commit_in_order(std::string_view bucket, std::string_view key, Commit&& commit) {
        const std::string group = detail::redis_group(bucket, key);
        std::uint64_t generation = 0;
        state_->commit_lock.hold(state_->router, detail::redis_hash(group), state_->keys.commit_lock(group), [&] {
            generation = next_generation();
            std::forward<Commit>(commit)(generation);
        });
        return generation;
    }

    // ---- bucket rules ----------------------------------------------------

    /// Stores (replacing) the configuration of `bucket`. Throws
    /// InvalidArgument, storing nothing, when a string in it is not UTF-8.
    void put_config(std::string_view bucket, const ReplicationConfig& config) {
        detail::require_utf8(bucket, "bucket");
        for_each_string(config, [](std::string_view text, const char* what) { detail::require_utf8(text, what); });
        command({"HSET", state_->keys.configs(), std::string(bucket), config_document(bucket, config)}, "put_config");
    }

    std::optional<ReplicationConfig> get_config(std::string_view bucket) const {
        const detail::RedisReply reply = command({"HGET", state_->keys.configs(), std::string(bucket)}, "get_config");
        if (reply.is_nil()) return std::nullopt;
        return parse_config(reply.text);
    }

    /// Idempotent.
    void delete_config(std::string_view bucket) {
        command({"HDEL", state_->keys.configs(), std::string(bucket)}, "delete_config");
    }

    /// As BasicReplicationManager::match_rules (one read of the configuration).
    std::vector<ReplicationRule> match_rules(std::string_view bucket, std::string_view key,
                                             const TagSet& object_tags) const {
        std::vector<ReplicationRule> rules;
        const std::optional<ReplicationConfig> config = get_config(bucket);
        if (!config) return rules;
        for (const ReplicationRule* rule : select_rules(*config, key, object_tags)) rules.push_back(*rule);
        return rules;
    }
    std::optional<ReplicationRule> match_rule(std::string_view bucket, std::string_view key,
                                              const TagSet& object_tags) const {
        std::vector<ReplicationRule> rules = match_rules(bucket, key, object_tags);
        if (rules.empty()) return std::nullopt;
        return std::move(rules.front());
    }

    // ---- stamps (the rules of BasicReplicationManager's) -------------------

    /// Unconditional stamp with generation 0.
    void record_status(const ObjectId& object, ReplicationStatus status) {
        require_known(status);
        stamp(object, 'u', 0, status, {}, false);
    }
    void record_status(std::string_view bucket, std::string_view key, ReplicationStatus status) {
        record_status(ObjectId{bucket, key}, status);
    }

    /// The CAS: refused when the stored generation is greater, or equal with
    /// COMPLETED stored and `status` another. Returns whether it was accepted.
    bool record_status_if_newer(const ObjectId& object, std::uint64_t generation, ReplicationStatus status) {
        require_known(status);
        return stamp(object, 'c', generation, status, {}, false);
    }
    bool record_status_if_newer(std::string_view bucket, std::string_view key, std::uint64_t generation,
                                ReplicationStatus status) {
        return record_status_if_newer(ObjectId{bucket, key}, generation, status);
    }

    /// record_status_if_newer of each stamp, pipelined: one round trip for
    /// the batch (two when a generation is above every one seen), in order
    /// (a later stamp of the same object sees the earlier one's effect).
    /// accepted[i] says whether stamps[i] was accepted. Throws
    /// InvalidArgument, sending nothing, when any stamp is invalid (see
    /// record_status_if_newer); BackendError when the server failed, each
    /// stamp then applied whole or not at all.
    void record_statuses_if_newer(const StatusStamp* stamps, std::size_t count, bool* accepted) {
        if (count == 0) return;
        std::uint64_t highest = 0;
        for (std::size_t i = 0; i < count; ++i) {
            require_known(stamps[i].status);
            detail::require_storable(stamps[i].object);
            highest = std::max(highest, stamps[i].generation);
        }
        raise_counter_to(highest);
        const std::uint64_t epoch = state_->epoch.load(std::memory_order_acquire);
        std::vector<detail::RedisCommand> calls;
        calls.reserve(count);
        for (std::size_t i = 0; i < count; ++i)
            calls.push_back(
                stamp_call(stamps[i].object, 'c', stamps[i].generation, stamps[i].status, {}, false, epoch));
        const std::vector<detail::RedisReply> replies = state_->router.eval(state_->stamp, calls);
        // A restore froze the epoch during the batch: the refused stamps are
        // each shard's last ones, so sending them again in order keeps the order.
        for (std::size_t i = 0; i < count; ++i)
            accepted[i] = is_stale(replies[i])
                              ? stamp(stamps[i].object, 'c', stamps[i].generation, stamps[i].status, {}, false)
                              : checked(replies[i], "stamp").integer == 1;
    }

    /// The CAS of one destination (see
    /// BasicReplicationManager::record_destination_status_if_newer). Reads
    /// the bucket's configuration first (whether it is the sole destination).
    bool record_destination_status_if_newer(const ObjectId& object, std::string_view destination_bucket,
                                            std::uint64_t generation, ReplicationStatus status) {
        require_known(status);
        if (status == ReplicationStatus::Replica)
            throw InvalidArgument("a destination's status is PENDING, COMPLETED or FAILED (REPLICA is the replica's)");
        if (destination_bucket.empty()) throw InvalidArgument("the destination bucket is empty");
        detail::require_utf8(destination_bucket, "destination bucket");
        const bool sole = sole_destination_of(object.bucket) == destination_bucket;
        return stamp(object, 'd', generation, status, destination_bucket, sole);
    }
    bool record_destination_status_if_newer(std::string_view bucket, std::string_view key,
                                            std::string_view destination_bucket, std::uint64_t generation,
                                            ReplicationStatus status) {
        return record_destination_status_if_newer(ObjectId{bucket, key}, destination_bucket, generation, status);
    }

    /// Records that a tracked version is a delete marker. Throws
    /// InvalidArgument for an unversioned object.
    void mark_delete_marker(const ObjectId& object) {
        if (object.version_id.empty()) throw InvalidArgument("a delete marker needs a version ID");
        checked(in_epoch([&](std::uint64_t epoch) {
                    const Names n(state_->keys, object, epoch);
                    return run_raw(state_->mark, {"1", n.entry(), n.base});
                }),
                "mark_delete_marker");
    }

    /// Forgets the object's entry. Returns whether there was one.
    bool forget(const ObjectId& object) {
        return checked(in_epoch([&](std::uint64_t epoch) {
                           const Names n(state_->keys, object, epoch);
                           return run_raw(state_->forget, {"2", n.entry(), n.counters(), n.base, n.name});
                       }),
                       "forget")
                   .integer == 1;
    }

    // ---- lookups -----------------------------------------------------------

    std::optional<ReplicationStatus> lookup_status(const ObjectId& object) const {
        const std::optional<ReplicationStatusEntry> entry = lookup_entry(object);
        if (!entry) return std::nullopt;
        return entry->status;
    }
    std::optional<ReplicationStatus> lookup_status(std::string_view bucket, std::string_view key) const {
        return lookup_status(ObjectId{bucket, key});
    }

    std::optional<ReplicationStatusEntry> lookup_entry(const ObjectId& object) const {
        return entry_of(
            in_epoch([&](std::uint64_t epoch) { return run_raw(state_->read, entry_query(object, epoch)); }));
    }
    std::optional<ReplicationStatusEntry> lookup_entry(std::string_view bucket, std::string_view key) const {
        return lookup_entry(ObjectId{bucket, key});
    }

    /// Batch lookups in one pipelined round trip: out[i] becomes
    /// lookup_status(objects[i]) (lookup_entries: lookup_entry) for i in
    /// [0, count). Each result is what the single lookup would have returned
    /// at some instant during the call.
    void lookup_statuses(const ObjectId* objects, std::size_t count, std::optional<ReplicationStatus>* out) const {
        lookup_batch(objects, count, [out](std::size_t i, const std::optional<ReplicationStatusEntry>& e) {
            out[i] = e ? std::optional<ReplicationStatus>(e->status) : std::nullopt;
        });
    }
    void lookup_entries(const ObjectId* objects, std::size_t count, std::optional<ReplicationStatusEntry>* out) const {
        lookup_batch(objects, count,
                     [out](std::size_t i, const std::optional<ReplicationStatusEntry>& e) { out[i] = e; });
    }

    /// Each destination's status (see BasicReplicationManager::lookup_destinations),
    /// sorted by destination bucket.
    std::vector<DestinationStatus> lookup_destinations(const ObjectId& object) const {
        const std::optional<Row> row = row_of(in_epoch([&](std::uint64_t epoch) {
            const Names n(state_->keys, object, epoch);
            return run_raw(state_->read, {"1", n.entry(), n.base});
        }));
        if (!row) return {};
        return destinations_of(object.bucket, *row);
    }
    std::vector<DestinationStatus> lookup_destinations(std::string_view bucket, std::string_view key) const {
        return lookup_destinations(ObjectId{bucket, key});
    }

    /// Number of entries (the shards' counters, read in one pipeline).
    std::size_t size() const {
        const ReplicationStats s = stats();
        return s.entries_pending + s.entries_completed + s.entries_failed + s.entries_replica;
    }

    // ---- sweep -------------------------------------------------------------

    template <class Rep, class Period>
    std::size_t sweep_stale(Timestamp now, std::chrono::duration<Rep, Period> max_age) {
        return sweep_stale(now, SweepPolicy{max_age, max_age});
    }
    std::size_t sweep_stale(Timestamp now, const SweepPolicy& policy) {
        return sweep_stale(now, policy, [] { return true; });
    }

    /// The sweep of BasicReplicationManager::sweep_stale, shard by shard
    /// (asking keep_going() before each), each in batches of at most
    /// sweep_batch entries, each batch one script that checks every
    /// candidate again before removing it: a stamp landing during the sweep
    /// is never lost. Returns the number removed.
    template <class KeepGoing>
    std::size_t sweep_stale(Timestamp now, const SweepPolicy& policy, KeepGoing&& keep_going) {
        if (policy.completed_ttl < std::chrono::nanoseconds::zero() ||
            policy.failed_ttl < std::chrono::nanoseconds::zero())
            throw InvalidArgument("sweep_stale: a TTL must not be negative (SweepPolicy::never keeps entries)");
        std::size_t removed = 0;
        for (std::size_t shard = 0; shard < detail::redis_shard_count; ++shard) {
            if (!keep_going()) break;
            if (policy.completed_ttl != SweepPolicy::never)
                removed += sweep_status(shard, ReplicationStatus::Completed,
                                        detail::saturating_cutoff(now, policy.completed_ttl));
            if (policy.failed_ttl != SweepPolicy::never)
                removed +=
                    sweep_status(shard, ReplicationStatus::Failed, detail::saturating_cutoff(now, policy.failed_ttl));
            removed += sweep_versions(shard, policy.latest_versions);
        }
        return removed;
    }

    /// Entries one sweep script examines at most.
    static constexpr std::size_t sweep_batch = 128;

    // ---- re-drive support --------------------------------------------------

    /// Calls visit(bucket, key, const ReplicationStatusEntry&) for every
    /// unversioned entry; a visitor that also takes the version,
    /// visit(bucket, key, version_id, entry), gets every entry. Walks 16
    /// shards at a time (two pipelined round trips each), holding nothing on
    /// the server: each entry is as it was at some instant of the walk, and
    /// one stamped during it to another status may be missed; a walk
    /// during a restore_json walks the state the restore replaces, and may
    /// miss its entries deleted meanwhile. `visit` may call the manager.
    template <class Visitor>
    void for_each_entry(Visitor&& visit) const {
        constexpr bool with_versions = std::is_invocable_v<Visitor&, std::string_view, std::string_view,
                                                           std::string_view, const ReplicationStatusEntry&>;
        constexpr std::size_t step = 16;
        const std::uint64_t epoch = active_epoch();
        for (std::size_t first = 0; first < detail::redis_shard_count; first += step)
            for (const Row& row : rows({ReplicationStatus::Pending, ReplicationStatus::Completed,
                                        ReplicationStatus::Failed, ReplicationStatus::Replica},
                                       "+inf", epoch, first, first + step)) {
                if constexpr (with_versions)
                    visit(std::string_view(row.name.bucket), std::string_view(row.name.key),
                          std::string_view(row.name.version_id), row.entry);
                else if (row.name.version_id.empty())
                    visit(std::string_view(row.name.bucket), std::string_view(row.name.key), row.entry);
            }
    }

    /// PENDING entries recorded strictly before now - older_than.
    template <class Rep, class Period>
    std::vector<EntryRef> stuck_pending(Timestamp now, std::chrono::duration<Rep, Period> older_than) const {
        const std::int64_t cutoff = detail::saturating_cutoff(now, detail::saturating_nanoseconds(older_than));
        return stable([&](std::uint64_t epoch) {
            std::vector<EntryRef> found;
            for (Row& row : rows({ReplicationStatus::Pending}, detail::redis_score(cutoff), epoch))
                if (row.entry.recorded_at.time_since_epoch().count() < cutoff) found.push_back(ref_of(std::move(row)));
            return found;
        });
    }

    /// Every FAILED entry.
    std::vector<EntryRef> failed_entries() const {
        return stable([&](std::uint64_t epoch) {
            std::vector<EntryRef> found;
            for (Row& row : rows({ReplicationStatus::Failed}, "+inf", epoch)) found.push_back(ref_of(std::move(row)));
            return found;
        });
    }

    /// Each FAILED destination.
    std::vector<DestinationRef> failed_destinations() const {
        return collect_destinations({ReplicationStatus::Failed},
                                    [](const DestinationStatus& d) { return d.status == ReplicationStatus::Failed; });
    }

    /// Each PENDING destination recorded strictly before now - older_than.
    /// Reads every PENDING and FAILED entry (an entry's time is its newest
    /// destination's, so it says nothing of the others').
    template <class Rep, class Period>
    std::vector<DestinationRef> stuck_pending_destinations(Timestamp now,
                                                           std::chrono::duration<Rep, Period> older_than) const {
        const Timestamp cutoff{
            std::chrono::nanoseconds{detail::saturating_cutoff(now, detail::saturating_nanoseconds(older_than))}};
        return collect_destinations({ReplicationStatus::Pending, ReplicationStatus::Failed},
                                    [cutoff](const DestinationStatus& d) {
                                        return d.status == ReplicationStatus::Pending && d.recorded_at < cutoff;
                                    });
    }

    /// Queues (bucket, key) for take_redrive_candidates, in Redis: any node may take it.
    void request_redrive(std::string_view bucket, std::string_view key) {
        command({"SADD", state_->keys.redrive(), detail::redis_group(bucket, key)}, "request_redrive");
    }

    /// Takes the queued keys, each once (one script), with their current entry.
    std::vector<EntryRef> take_redrive_candidates() {
        const detail::RedisReply taken = checked(run_raw(state_->take, {"1", state_->keys.redrive()}), "take_redrive");
        std::vector<EntryRef> candidates;
        for (const detail::RedisReply& member : taken.elements) {
            const std::optional<detail::RedisDecodedName> name = detail::redis_decode_name(member.text);
            if (!name) continue;
            if (const std::optional<ReplicationStatusEntry> entry = lookup_entry(name->bucket, name->key))
                candidates.push_back(EntryRef{name->bucket, name->key, *entry});
        }
        return candidates;
    }

    // ---- snapshot (format: README, "Snapshot format") -----------------------

    /// The whole state as compact JSON in the snapshot format, as
    /// BasicReplicationManager::to_json writes it (the Rust server's reader
    /// and either manager's restore_json read it). Safe while other nodes
    /// stamp, though no single cut: each entry is one whole accepted stamp,
    /// and next_generation, read after the entries, is above every
    /// generation written (2^64-1 and "generations_exhausted" for an
    /// exhausted counter). Walks 16 shards per two pipelined round trips;
    /// walks again when a restore_json switched in meanwhile.
    std::string to_json() const {
        return stable([this](std::uint64_t epoch) { return to_json_of(epoch); });
    }

    /// Replaces the whole state (configurations, statuses, generation
    /// counter) with the snapshot's, all-or-nothing, as
    /// BasicReplicationManager::restore_json does: the document is parsed
    /// whole first (SnapshotError, and nothing written, when it is bad),
    /// then written under a fresh epoch no call reads, then switched in:
    /// each shard of the old epoch is frozen (its scripts answer STALE, and
    /// the callers wait and call again on the new epoch), then one script
    /// switches epoch, configurations and counter floor together; the
    /// freeze is a lease of RedisOptions::timeout: when the restorer dies
    /// or stalls between its freeze and its switch, the first call that
    /// finds the lease over aborts that restore (its switch can no longer
    /// apply) and thaws the old state, which stays; the old epoch is deleted afterwards, in
    /// batches. A stamp racing the restore is applied before it (and
    /// replaced) or after it (on the new state), never to a replaced epoch.
    /// The counter never moves back. Throws BackendError when the server
    /// failed (the old state stays, unless the switch applied before the
    /// answer was lost) or when another restore switched in first (its
    /// state stays). Each restore leaves one marker key per shard behind.
    /// Cost: about (entries / 1024) pipelined round trips to stage, and as
    /// many to delete the old epoch.
    void restore_json(std::string_view json) {
        detail::RestoredState parsed;
        detail::read_snapshot(json, parsed, 0, now());
        const std::uint64_t old = active_epoch(); // before the new epoch's number: epochs only grow
        const auto fresh = static_cast<std::uint64_t>(
            checked(command({"HINCRBY", state_->keys.generation(), "epochs", "1"}, "restore_json"), "restore_json")
                .integer);
        try {
            stage(parsed, fresh);
            switch_in(old, fresh, parsed.last_issued);
        } catch (...) {
            drop_epoch_quietly(fresh);
            throw;
        }
        drop_epoch(old);
    }

    /// A manager on `options` and `prefix` holding the snapshot's state (see restore_json).
    static BasicRedisReplicationManager from_json(std::string_view json, RedisOptions options = {},
                                                  std::string prefix = "s3repl", Clock clock = Clock{}) {
        BasicRedisReplicationManager manager(std::move(options), std::move(prefix), std::move(clock));
        manager.restore_json(json);
        return manager;
    }

    // ---- stats -------------------------------------------------------------

    /// Counts a replication given up or superseded (shared by every node).
    void note_dropped() { command({"HINCRBY", state_->keys.generation(), "dropped", "1"}, "note_dropped"); }

    /// Every counter, summed over the shards in one pipeline: each shard's
    /// counts agree with its entries (the scripts update both), but stamps on
    /// other shards may land between two shards' reads. The counters are
    /// the prefix's, over every node and since it was first used (the
    /// stamp and sweep counts since the last restore_json).
    ReplicationStats stats() const {
        return stable([this](std::uint64_t epoch) { return stats_of(epoch); });
    }

    /// Exact counts per destination bucket, sorted by name, as
    /// BasicReplicationManager::destination_stats counts them (an entry in
    /// the single-status form under the destination its bucket's rules all
    /// name, or an empty name; REPLICA entries are no destination's). Reads
    /// every PENDING, COMPLETED and FAILED entry (no single cut); for
    /// metrics scraped now and then, not per request.
    std::vector<DestinationCounts> destination_stats() const {
        return stable([this](std::uint64_t epoch) { return destination_stats_of(epoch); });
    }

  private:
    std::string to_json_of(std::uint64_t epoch) const {
        detail::SnapshotWriter writer;
        writer.configs(configs());
        std::uint64_t highest = 0;
        constexpr std::size_t step = 16;
        for (std::size_t first = 0; first < detail::redis_shard_count; first += step)
            for (const Row& row : rows({ReplicationStatus::Pending, ReplicationStatus::Completed,
                                        ReplicationStatus::Failed, ReplicationStatus::Replica},
                                       "+inf", epoch, first, first + step)) {
                const ReplicationStatusEntry& e = row.entry;
                if (row.name.version_id.empty())
                    writer.status(row.name.bucket, row.name.key, e.status, e.generation, e.recorded_at);
                else
                    writer.version(row.name.bucket, row.name.key, row.name.version_id, row.delete_marker, e.status,
                                   e.generation, e.recorded_at);
                if (!row.destinations.empty())
                    writer.destinations(row.destinations.size(), [&](std::size_t i) {
                        const DestinationStatus& d = row.destinations[i];
                        return detail::SnapshotWriter::Destination{d.destination_bucket, d.status, d.recorded_at};
                    });
                highest = std::max(highest, e.generation);
            }
        const detail::RedisReply last = command({"HGET", state_->keys.generation(), "last"}, "to_json");
        const std::uint64_t issued = last.is_nil() ? 0 : generation_of(last);
        const std::uint64_t top = std::max(issued, highest);
        constexpr std::uint64_t exhausted = std::numeric_limits<std::uint64_t>::max();
        return std::move(writer).finish(top == exhausted ? top : top + 1, issued == exhausted);
    }

    ReplicationStats stats_of(std::uint64_t epoch) const {
        std::vector<detail::RedisCommand> commands;
        commands.reserve(detail::redis_shard_count + 1);
        for (std::size_t shard = 0; shard < detail::redis_shard_count; ++shard)
            commands.push_back({"HGETALL", state_->keys.shard_base(shard, epoch) + "n"});
        commands.push_back({"HMGET", state_->keys.generation(), "minted", "dropped"});
        const std::vector<detail::RedisReply> replies = pipeline(commands, "stats");
        ReplicationStats s;
        for (std::size_t shard = 0; shard < detail::redis_shard_count; ++shard) {
            const std::vector<detail::RedisReply>& fields = checked(replies[shard], "stats").elements;
            for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
                const std::string& field = fields[i].text;
                const auto value = static_cast<std::size_t>(number_of(fields[i + 1].text));
                if (field == "c0") s.entries_pending += value;
                if (field == "c1") s.entries_completed += value;
                if (field == "c2") s.entries_failed += value;
                if (field == "c3") s.entries_replica += value;
                if (field == "acc") s.stamps_accepted += value;
                if (field == "rej") s.stamps_rejected += value;
                if (field == "swept") s.entries_swept += value;
            }
        }
        const detail::RedisReply& counters = checked(replies.back(), "stats");
        s.generations_minted = number_of(counters.elements.at(0).text);
        s.dropped_total = number_of(counters.elements.at(1).text);
        return s;
    }

    std::vector<DestinationCounts> destination_stats_of(std::uint64_t epoch) const {
        std::map<std::string, DestinationCounts, std::less<>> by_name;
        for (const Row& row :
             rows({ReplicationStatus::Pending, ReplicationStatus::Completed, ReplicationStatus::Failed}, "+inf", epoch))
            for (const DestinationStatus& d : destinations_of(row.name.bucket, row)) {
                DestinationCounts& c = by_name[d.destination_bucket];
                c.destination_bucket = d.destination_bucket;
                ++(d.status == ReplicationStatus::Pending     ? c.pending
                   : d.status == ReplicationStatus::Completed ? c.completed
                                                              : c.failed);
            }
        std::vector<DestinationCounts> counts;
        counts.reserve(by_name.size());
        for (auto& named : by_name) counts.push_back(std::move(named.second));
        return counts;
    }

    struct State {
        // RedisOptions (one server) or RedisClusterOptions.
        template <class Options>
        State(const Options& options, std::string prefix)
            : router(options), patience(router.node_options().timeout), keys(std::move(prefix)) {}
        detail::RedisRouter router;
        const std::chrono::milliseconds patience; // how long a call waits for a restore's switch
        const detail::RedisKeys keys;
        detail::RedisScript mint{"mint", detail::redis_script_text(detail::redis_lua_mint)};
        detail::RedisScript raise{"raise", detail::redis_script_text(detail::redis_lua_raise)};
        detail::RedisScript stamp{"stamp", detail::redis_script_text(detail::redis_lua_stamp)};
        detail::RedisScript mark{"mark_delete_marker", detail::redis_script_text(detail::redis_lua_mark)};
        detail::RedisScript forget{"forget", detail::redis_script_text(detail::redis_lua_forget)};
        detail::RedisScript sweep{"sweep", detail::redis_script_text(detail::redis_lua_sweep)};
        detail::RedisScript sweep_versions{"sweep_versions",
                                           detail::redis_script_text(detail::redis_lua_sweep_versions)};
        detail::RedisScript take{"take_redrive", detail::redis_script_text(detail::redis_lua_take)};
        detail::RedisScript read{"lookup_entry", detail::redis_script_text(detail::redis_lua_read)};
        detail::RedisScript drop{"restore_drop", detail::redis_script_text(detail::redis_lua_drop)};
        detail::RedisFreeze freeze{patience};
        detail::RedisCommitLock commit_lock{router.node_options().commit_lease, router.node_options().timeout};
        // The highest generation this manager saw the counter at or above:
        // a stamp at or below it needs no raise (the counter never goes back).
        std::atomic<std::uint64_t> known_last{0};
        // The epoch the entries were last seen in (only grows): a STALE
        // answer tells a call it was replaced.
        mutable std::atomic<std::uint64_t> epoch{0};
    };

    // An object's key names.
    struct Names {
        Names(const detail::RedisKeys& keys, const ObjectId& object, std::uint64_t epoch)
            : group(detail::redis_group(object.bucket, object.key)), name(group + std::string(object.version_id)),
              base(keys.shard_base(detail::redis_shard_of(group), epoch)) {}
        std::string entry() const { return base + "e:" + name; }
        std::string counters() const { return base + "n"; }
        std::string group, name, base;
    };

    // One entry as HGETALL returns it, decoded.
    struct Row {
        detail::RedisDecodedName name;
        ReplicationStatusEntry entry;
        bool delete_marker = false;
        std::vector<DestinationStatus> destinations; // sorted by bucket; empty: the single-status form
    };

    Timestamp now() const { return std::chrono::time_point_cast<std::chrono::nanoseconds>(clock_.now()); }

    detail::RedisReply run_raw(detail::RedisScript& script, detail::RedisCommand call) const {
        return std::move(state_->router.eval(script, {std::move(call)}).front());
    }
    detail::RedisReply command(const detail::RedisCommand& words, const char* where) const {
        return state_->router.command(words, where);
    }
    std::vector<detail::RedisReply> pipeline(const std::vector<detail::RedisCommand>& commands,
                                             const char* where) const {
        return state_->router.pipeline(commands, where);
    }
    static const detail::RedisReply& checked(const detail::RedisReply& reply, const char* where) {
        if (reply.is_error()) throw BackendError(std::string(where) + ": " + reply.text);
        return reply;
    }
    static std::uint64_t generation_of(const detail::RedisReply& reply) {
        const std::optional<std::uint64_t> g = detail::redis_parse_u64(reply.text);
        if (!g) throw BackendError("generation: not a 64-bit unsigned integer: " + reply.text);
        return *g;
    }
    // A counter field: absent (nil, empty) is 0.
    static std::uint64_t number_of(const std::string& text) {
        if (text.empty()) return 0;
        const std::optional<std::uint64_t> n = detail::redis_parse_u64(text);
        if (!n) throw BackendError("stats: a counter is not a number: " + text);
        return *n;
    }

    static void store_max(std::atomic<std::uint64_t>& to, std::uint64_t value) noexcept {
        std::uint64_t known = to.load(std::memory_order_relaxed);
        while (known < value && !to.compare_exchange_weak(known, value, std::memory_order_relaxed)) {
        }
    }
    std::uint64_t seen(std::uint64_t generation) noexcept {
        store_max(state_->known_last, generation);
        return generation;
    }

    static bool is_stale(const detail::RedisReply& reply) noexcept {
        return reply.is_error() && reply.text.compare(0, 5, "STALE") == 0;
    }

    // The epoch restore_json last switched in, read from the server.
    std::uint64_t active_epoch() const {
        const detail::RedisReply reply = command({"HGET", state_->keys.generation(), "epoch"}, "epoch");
        const std::uint64_t epoch = reply.is_nil() ? 0 : generation_of(reply);
        store_max(state_->epoch, epoch);
        return epoch;
    }

    // Runs attempt(epoch) on the epoch last seen. A STALE answer (a restore
    // replaced that epoch) re-reads the active one and runs it again; while
    // a restore is between its freeze and its switch (two round trips) it
    // waits, and once that restore's freeze outlived its lease (its
    // restorer died or stalled), aborts it and thaws the state
    // (detail/redis_freeze.hpp). Throws BackendError when the state stays
    // frozen longer than that.
    template <class Attempt>
    detail::RedisReply in_epoch(Attempt&& attempt) const {
        std::chrono::milliseconds wait{1};
        const auto deadline = std::chrono::steady_clock::now() + 2 * state_->patience;
        for (;;) {
            const std::uint64_t epoch = state_->epoch.load(std::memory_order_relaxed);
            detail::RedisReply reply = attempt(epoch);
            if (!is_stale(reply)) return reply;
            if (active_epoch() != epoch || state_->freeze.thaw_abandoned(state_->router, state_->keys, epoch)) continue;
            if (std::chrono::steady_clock::now() > deadline)
                throw BackendError("the state stays frozen by a restore_json that never switched it in: run "
                                   "restore_json again");
            std::this_thread::sleep_for(wait);
            wait = std::min(wait * 2, std::chrono::milliseconds(20));
        }
    }

    // A walk over one epoch, run again when a restore switched another in
    // meanwhile (the replaced one is deleted while the walk reads it).
    template <class Walk>
    auto stable(Walk&& walk) const {
        for (int attempt = 1;; ++attempt) {
            const std::uint64_t epoch = active_epoch();
            auto result = walk(epoch);
            if (active_epoch() == epoch) return result;
            if (attempt == 8) throw BackendError("a walk: restore_json replaced the state during each of 8 attempts");
        }
    }

    // restore_json's staging: the parsed state written under `epoch`, in
    // pipelines of about 1024 commands.
    void stage(const detail::RestoredState& parsed, std::uint64_t epoch) {
        std::vector<detail::RedisCommand> batch;
        const auto flush = [&] {
            for (const detail::RedisReply& reply : pipeline(batch, "restore_json")) checked(reply, "restore_json");
            batch.clear();
        };
        for (const auto& config : parsed.configs)
            batch.push_back({"HSET", state_->keys.staged_configs(epoch), config.first,
                             config_document(config.first, config.second)});
        for (const detail::EntryTable& table : parsed.tables)
            table.for_each([&](std::string_view bucket, const detail::EntryName& name, const detail::StoredEntry& e) {
                const Names n(state_->keys, ObjectId{bucket, name.key, name.version}, epoch);
                const ReplicationStatusEntry entry = e.to_entry();
                const std::string score = detail::redis_score(entry.recorded_at.time_since_epoch().count());
                const std::string status = detail::redis_status(entry.status);
                detail::RedisCommand fields = {"HSET", n.entry(),
                                               "s",    status,
                                               "g",    std::to_string(entry.generation),
                                               "t",    detail::redis_time(entry.recorded_at),
                                               "c",    score};
                if (e.delete_marker) fields.insert(fields.end(), {"m", "1"});
                if (const auto* list = table.destinations_of(e))
                    for (const detail::StoredDestination& d : *list) {
                        const Timestamp at{std::chrono::nanoseconds{d.recorded_ns}};
                        fields.push_back("d:" + std::string(table.bucket_name(d.bucket_id)));
                        fields.push_back(detail::redis_status(d.status) + ":" + detail::redis_time(at) + ":" +
                                         detail::redis_score(d.recorded_ns));
                    }
                batch.push_back(std::move(fields));
                batch.push_back({"ZADD", n.base + "z:" + status, score, n.name});
                batch.push_back({"HINCRBY", n.counters(), "c" + status, "1"});
                if (name.versioned()) {
                    batch.push_back({"SADD", n.base + "k:" + n.group, std::string(name.version)});
                    batch.push_back({"SADD", n.base + "vk", n.group});
                }
                if (batch.size() >= 1024) flush();
            });
        flush();
    }

    // Freezes every shard of `old`, then switches `fresh` in (with its
    // configurations and the counter's floor) in one script. When the
    // switch did not apply, the old epoch is thawed again (unless another
    // restore replaced it) and the error rethrown.
    void switch_in(std::uint64_t old, std::uint64_t fresh, std::uint64_t floor) {
        try {
            state_->freeze.freeze(state_->router, state_->keys, old, fresh);
            state_->freeze.switch_in(state_->router, state_->keys, old, fresh, floor);
        } catch (const BackendError&) {
            const std::uint64_t active = active_epoch(); // may throw too: then callers thaw after the lease
            if (active == fresh) return;                 // the switch applied; only its answer was lost
            if (active == old) state_->freeze.thaw_abandoned(state_->router, state_->keys, old, fresh);
            throw;
        }
        store_max(state_->epoch, fresh);
        seen(floor);
    }

    // Deletes every key of an epoch's shards but their markers, in batches.
    void drop_epoch(std::uint64_t epoch) {
        std::vector<std::size_t> left(detail::redis_shard_count);
        for (std::size_t shard = 0; shard < left.size(); ++shard) left[shard] = shard;
        while (!left.empty()) {
            std::vector<detail::RedisCommand> calls;
            for (const std::size_t shard : left) {
                const std::string base = state_->keys.shard_base(shard, epoch);
                calls.push_back({"1", base + "n", base, std::to_string(drop_batch)});
            }
            const std::vector<detail::RedisReply> replies = state_->router.eval(state_->drop, calls);
            std::vector<std::size_t> more;
            for (std::size_t i = 0; i < left.size(); ++i)
                if (static_cast<std::size_t>(checked(replies[i], "restore_json").integer) >= drop_batch)
                    more.push_back(left[i]);
            left.swap(more);
        }
        command({"DEL", state_->keys.staged_configs(epoch)}, "restore_json");
    }
    // After a failed restore: its staged epoch, which no call reads, goes if it can.
    void drop_epoch_quietly(std::uint64_t epoch) noexcept {
        try {
            if (active_epoch() != epoch) drop_epoch(epoch);
        } catch (const Error&) {
        }
    }
    static constexpr std::size_t drop_batch = 512;

    static std::string config_document(std::string_view bucket, const ReplicationConfig& config) {
        detail::ConfigMap one;
        one.emplace(std::string(bucket), config);
        detail::SnapshotWriter writer;
        writer.configs(one);
        return std::move(writer).finish(1, false);
    }

    // Before a stamp above every generation seen: raise the shared counter,
    // so no node mints this generation after the stamp is visible.
    void raise_counter_to(std::uint64_t generation) {
        if (generation <= state_->known_last.load(std::memory_order_relaxed)) return;
        seen(generation_of(
            checked(run_raw(state_->raise, {"1", state_->keys.generation(), std::to_string(generation)}), "raise")));
    }

    bool stamp(const ObjectId& object, char mode, std::uint64_t generation, ReplicationStatus status,
               std::string_view destination, bool sole) {
        detail::require_storable(object);
        raise_counter_to(generation);
        return checked(in_epoch([&](std::uint64_t epoch) {
                           return run_raw(state_->stamp,
                                          stamp_call(object, mode, generation, status, destination, sole, epoch));
                       }),
                       "stamp")
                   .integer == 1;
    }

    // The stamp script's call (see redis_lua_stamp), recorded now.
    detail::RedisCommand stamp_call(const ObjectId& object, char mode, std::uint64_t generation,
                                    ReplicationStatus status, std::string_view destination, bool sole,
                                    std::uint64_t epoch) const {
        const Names n(state_->keys, object, epoch);
        const Timestamp at = now();
        return {"2",
                n.entry(),
                n.counters(),
                n.base,
                n.name,
                n.group,
                std::string(object.version_id),
                std::string(1, mode),
                std::to_string(generation),
                detail::redis_status(status),
                detail::redis_time(at),
                detail::redis_score(at.time_since_epoch().count()),
                std::string(destination),
                sole ? "1" : "0"};
    }

    // The read script's call of a lookup (see redis_lua_read).
    detail::RedisCommand entry_query(const ObjectId& object, std::uint64_t epoch) const {
        const Names n(state_->keys, object, epoch);
        return {"1", n.entry(), n.base, "s", "g", "t"};
    }
    static std::optional<ReplicationStatusEntry> entry_of(const detail::RedisReply& reply) {
        checked(reply, "lookup_entry");
        if (reply.elements.size() != 3 || reply.elements[0].is_nil()) return std::nullopt;
        return parse_entry(reply.elements[0].text, reply.elements[1].text, reply.elements[2].text);
    }
    static ReplicationStatusEntry parse_entry(const std::string& s, const std::string& g, const std::string& t) {
        const std::optional<ReplicationStatus> status = detail::redis_parse_status(s);
        const std::optional<std::uint64_t> generation = detail::redis_parse_u64(g);
        const std::optional<Timestamp> at = detail::redis_parse_time(t);
        if (!status || !generation || !at) throw BackendError("lookup: a damaged entry (s=" + s + " g=" + g + ")");
        return {*status, *generation, *at};
    }

    template <class Out>
    void lookup_batch(const ObjectId* objects, std::size_t count, Out&& out) const {
        const std::uint64_t epoch = state_->epoch.load(std::memory_order_relaxed);
        std::vector<detail::RedisCommand> calls;
        calls.reserve(count);
        for (std::size_t i = 0; i < count; ++i) calls.push_back(entry_query(objects[i], epoch));
        const std::vector<detail::RedisReply> replies = state_->router.eval(state_->read, calls);
        for (std::size_t i = 0; i < count; ++i)
            out(i, entry_of(is_stale(replies[i]) ? in_epoch([&](std::uint64_t e) {
                    return run_raw(state_->read, entry_query(objects[i], e));
                })
                                                 : replies[i]));
    }

    // HGETALL's reply as a Row (its name left empty); nullopt when absent.
    static std::optional<Row> row_of(const detail::RedisReply& reply) {
        checked(reply, "read");
        Row row;
        std::string s, g, t;
        for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
            const std::string& field = reply.elements[i].text;
            const std::string& value = reply.elements[i + 1].text;
            if (field == "s") s = value;
            if (field == "g") g = value;
            if (field == "t") t = value;
            if (field == "m") row.delete_marker = value == "1";
            if (field.compare(0, 2, "d:") == 0) row.destinations.push_back(parse_destination(field.substr(2), value));
        }
        if (s.empty()) return std::nullopt;
        row.entry = parse_entry(s, g, t);
        for (DestinationStatus& d : row.destinations) d.generation = row.entry.generation;
        std::sort(row.destinations.begin(), row.destinations.end(),
                  [](const DestinationStatus& a, const DestinationStatus& b) {
                      return a.destination_bucket < b.destination_bucket;
                  });
        return row;
    }
    static DestinationStatus parse_destination(std::string bucket, const std::string& value) {
        const std::size_t first = value.find(':');
        const std::size_t second = first == std::string::npos ? first : value.find(':', first + 1);
        std::optional<ReplicationStatus> status;
        std::optional<Timestamp> at;
        if (second != std::string::npos) {
            status = detail::redis_parse_status(value.substr(0, first));
            at = detail::redis_parse_time(value.substr(first + 1, second - first - 1));
        }
        if (!status || !at) throw BackendError("lookup: a damaged destination of an entry: " + value);
        return {std::move(bucket), *status, 0, *at};
    }

    // An entry's destinations; the single-status form named as
    // BasicReplicationManager names it.
    std::vector<DestinationStatus> destinations_of(std::string_view bucket, const Row& row) const {
        if (!row.destinations.empty()) return row.destinations;
        return {DestinationStatus{sole_destination_of(bucket), row.entry.status, row.entry.generation,
                                  row.entry.recorded_at}};
    }
    std::string sole_destination_of(std::string_view bucket) const {
        const std::optional<ReplicationConfig> config = get_config(bucket);
        if (!config) return {};
        return std::string(sole_destination(*config).value_or(std::string_view()));
    }

    // A stored configuration: a one-bucket snapshot document (put_config).
    static ReplicationConfig parse_config(const std::string& text) {
        detail::RestoredState staged;
        try {
            detail::read_snapshot(text, staged, 0, Timestamp{});
        } catch (const SnapshotError& e) {
            throw BackendError(std::string("configuration: a damaged stored document: ") + e.what());
        }
        if (staged.configs.size() != 1) throw BackendError("configuration: a damaged stored document");
        return std::move(staged.configs.begin()->second);
    }
    detail::ConfigMap configs() const {
        const detail::RedisReply all = command({"HGETALL", state_->keys.configs()}, "configurations");
        detail::ConfigMap found;
        for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2)
            found.emplace(all.elements[i].text, parse_config(all.elements[i + 1].text));
        return found;
    }

    static EntryRef ref_of(Row&& row) {
        return EntryRef{std::move(row.name.bucket), std::move(row.name.key), row.entry, std::move(row.name.version_id),
                        row.delete_marker};
    }

    // Every entry of `statuses` with a score up to `max_score`, from the
    // shards [first, last): the sorted sets in one pipeline, then the
    // entries in another. An entry whose status changed in between is left
    // out (it is no longer what was asked for).
    std::vector<Row> rows(std::initializer_list<ReplicationStatus> statuses, const std::string& max_score,
                          std::uint64_t epoch, std::size_t first = 0,
                          std::size_t last = detail::redis_shard_count) const {
        std::vector<detail::RedisCommand> ranges;
        std::vector<std::pair<std::size_t, ReplicationStatus>> asked;
        for (std::size_t shard = first; shard < last; ++shard)
            for (const ReplicationStatus status : statuses) {
                ranges.push_back({"ZRANGEBYSCORE",
                                  state_->keys.shard_base(shard, epoch) + "z:" + detail::redis_status(status), "-inf",
                                  max_score});
                asked.emplace_back(shard, status);
            }
        const std::vector<detail::RedisReply> names = pipeline(ranges, "list");
        std::vector<detail::RedisCommand> reads;
        std::vector<std::pair<detail::RedisDecodedName, ReplicationStatus>> decoded;
        for (std::size_t i = 0; i < ranges.size(); ++i)
            for (const detail::RedisReply& name : checked(names[i], "list").elements) {
                std::optional<detail::RedisDecodedName> d = detail::redis_decode_name(name.text);
                if (!d) throw BackendError("list: a damaged entry name in " + ranges[i][1]);
                reads.push_back({"HGETALL", state_->keys.shard_base(asked[i].first, epoch) + "e:" + name.text});
                decoded.emplace_back(std::move(*d), asked[i].second);
            }
        const std::vector<detail::RedisReply> replies = pipeline(reads, "list");
        std::vector<Row> found;
        for (std::size_t i = 0; i < replies.size(); ++i) {
            std::optional<Row> row = row_of(replies[i]);
            if (!row || row->entry.status != decoded[i].second) continue; // gone or moved since the range
            row->name = std::move(decoded[i].first);
            found.push_back(std::move(*row));
        }
        return found;
    }

    template <class Predicate>
    std::vector<DestinationRef> collect_destinations(std::initializer_list<ReplicationStatus> statuses,
                                                     Predicate&& wanted) const {
        return stable([&](std::uint64_t epoch) {
            std::vector<DestinationRef> found;
            for (Row& row : rows(statuses, "+inf", epoch))
                for (DestinationStatus& d : destinations_of(row.name.bucket, row))
                    if (wanted(d))
                        found.push_back(DestinationRef{row.name.bucket, row.name.key, std::move(d), row.name.version_id,
                                                       row.delete_marker});
            return found;
        });
    }

    std::size_t sweep_status(std::size_t shard, ReplicationStatus status, std::int64_t cutoff) {
        std::size_t removed = 0, skip = 0;
        for (;;) {
            const detail::RedisReply reply = checked(
                in_epoch([&](std::uint64_t epoch) {
                    const std::string base = state_->keys.shard_base(shard, epoch);
                    return run_raw(state_->sweep,
                                   {"2", base + "z:" + detail::redis_status(status), base + "n", base,
                                    detail::redis_status(status),
                                    detail::redis_time(Timestamp{std::chrono::nanoseconds{cutoff}}),
                                    detail::redis_score(cutoff), std::to_string(skip), std::to_string(sweep_batch)});
                }),
                "sweep");
            if (reply.elements.size() != 3) throw BackendError("sweep: an unexpected reply");
            removed += static_cast<std::size_t>(reply.elements[0].integer);
            skip += static_cast<std::size_t>(reply.elements[1].integer);
            if (static_cast<std::size_t>(reply.elements[2].integer) < sweep_batch) return removed;
        }
    }

    std::size_t sweep_versions(std::size_t shard, std::size_t latest) {
        std::size_t removed = 0;
        std::string cursor = "0";
        do {
            const detail::RedisReply reply = checked(
                in_epoch([&](std::uint64_t epoch) {
                    const std::string base = state_->keys.shard_base(shard, epoch);
                    return run_raw(state_->sweep_versions, {"2", base + "vk", base + "n", base, cursor,
                                                            std::to_string(sweep_batch), std::to_string(latest)});
                }),
                "sweep_versions");
            if (reply.elements.size() != 2) throw BackendError("sweep_versions: an unexpected reply");
            cursor = reply.elements[0].text;
            removed += static_cast<std::size_t>(reply.elements[1].integer);
        } while (cursor != "0");
        return removed;
    }

    static void require_known(ReplicationStatus status) {
        if (static_cast<std::size_t>(status) >= replication_status_count)
            throw InvalidArgument("status " + std::to_string(static_cast<unsigned>(status)) +
                                  " is not a ReplicationStatus enumerator");
    }

    Clock clock_;
    std::unique_ptr<State> state_;
};

/// The Redis manager most servers want: the wall clock to the second.
using RedisReplicationManager = BasicRedisReplicationManager<>;

} // namespace v0
} // namespace s3repl
