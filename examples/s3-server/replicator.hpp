#pragma once

#include "http_text.hpp"
#include "object_store.hpp"
#include "s3_error.hpp"
#include "store_destination.hpp"
#include "worker_pool.hpp"

#include <s3repl/destination.hpp>
#include <s3repl/dispatch.hpp>
#include <s3repl/error.hpp>
#include <s3repl/manager.hpp>
#include <s3repl/outcome_metrics.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace s3server {

/// The object writes of the server, with replication: a client PUT is
/// staged, then committed through begin_replication, which stamps PENDING
/// for each destination bucket the rules select and returns one copy per
/// destination to queue; workers run replicate_object against a
/// StoreDestination and keep the outcome beside the source object once
/// every destination is done. Thread-safe.
///
/// Ordering is the library's: begin_replication mints the generation and
/// runs the commit (the rename into place) under the manager's per-key
/// commit lock, so generations follow the order in which a key's bytes
/// landed; replicate_object writes the replica with If-Match /
/// If-None-Match against the replica's generation, so an older copy never
/// overwrites a newer one. The server keeps no ordering locks of its own.
///
/// `Manager` is s3repl::ReplicationManager (the state in this process) or
/// s3repl::RedisReplicationManager (the state in Redis, shared by every
/// server on the same data directory); the request path is the same.
template <class Manager>
class Replicator {
  public:
    using Body = StoreDestination::Body;

    /// What recover() does with the PENDING destinations it finds.
    enum class PendingAtStart {
        Redrive, ///< copy each again: no other process can be copying them (one node)
        Leave,   ///< other nodes may be copying them: redrive_stale_pending's job
    };

    /// Every outcome of replicate_object is recorded in `metrics`, which
    /// must outlive the replicator.
    Replicator(Manager& manager, ObjectStore& store, FaultInjection faults, std::size_t workers,
               s3repl::OutcomeMetrics& metrics)
        : manager_(manager), store_(store), commit_jitter_(faults.commit_jitter),
          hold_commits_while_(faults.hold_commits_while), destination_(store, faults),
          record_outcome_(metrics.recorder(manager.clock())), pool_(workers) {}

    /// Stores a client's PUT as version `version_id` (empty: the
    /// unversioned object, S3's null version) if `condition` holds against
    /// the key's current object (S3's If-Match / If-None-Match: *); when
    /// rules of the bucket select the object, PENDING is stamped for that
    /// version and a copy queued for each destination. Throws S3Error
    /// PreconditionFailed (412) or NoSuchKey (404, If-Match on a missing
    /// object), storing and stamping nothing. On Redis, a BackendError once
    /// the bytes are in place is not the client's (see stored_even_if):
    /// the object is returned, and redrive_unstamped copies it later.
    ObjectMeta put_object(const std::string& bucket, const std::string& key, ObjectMeta meta, std::string body,
                          const s3repl::WriteCondition& condition, const std::string& version_id = {}) {
        auto shared = std::make_shared<const std::string>(std::move(body));
        // The slow part, outside every lock: the bytes go to a temporary file.
        StagedObject staged = store_.stage(bucket, key, std::move(meta), *shared, version_id);
        // Whether a rule selected the object is recorded with it, for recover().
        auto jobs = stored_even_if(bucket, key, staged, [&] {
            return s3repl::begin_replication(
                manager_, s3repl::ObjectId{bucket, key, version_id}, staged.meta().tags,
                [&](std::uint64_t generation, bool replicated) {
                    commit_delay(bucket, key);
                    switch (store_.commit(staged, condition, generation, replicated, ConditionOn::Latest)) {
                    case CommitResult::Committed: return;
                    case CommitResult::PreconditionFailed: throw precondition_failed();
                    case CommitResult::NoSuchKey: throw no_such_key();
                    }
                });
        });
        for (auto& job : jobs) enqueue(std::move(job), shared, staged.meta());
        return staged.meta();
    }

    /// A DELETE without a version ID in a bucket with versioning Enabled:
    /// a delete marker of a new version `version_id` becomes the key's
    /// current version, copied to each destination whose rule replicates
    /// delete markers (begin_delete_marker_replication picks them).
    ObjectMeta put_delete_marker(const std::string& bucket, const std::string& key, const std::string& version_id) {
        ObjectMeta marker;
        marker.delete_marker = true;
        StagedObject staged = store_.stage(bucket, key, std::move(marker), {}, version_id);
        auto jobs = stored_even_if(bucket, key, staged, [&] {
            return s3repl::begin_delete_marker_replication(
                manager_, s3repl::ObjectId{bucket, key, version_id},
                [&](std::uint64_t generation, bool replicated) { store_.commit(staged, {}, generation, replicated); });
        });
        const auto no_bytes = std::make_shared<const std::string>();
        for (auto& job : jobs) enqueue(std::move(job), no_bytes, staged.meta());
        return staged.meta();
    }

    /// A DELETE with a version ID (empty: the null version): removes that
    /// version, never replicated (commit_version_delete: the destination
    /// keeps its copy), and forgets its entry. Returns the version removed.
    std::optional<ObjectMeta> delete_version(const std::string& bucket, const std::string& key,
                                             const std::string& version_id) {
        std::optional<ObjectMeta> removed;
        s3repl::commit_version_delete(manager_, s3repl::ObjectId{bucket, key, version_id}, [&] {
            removed = store_.head(bucket, key, version_id);
            if (removed && !store_.remove(bucket, key, version_id)) removed.reset();
        });
        return removed;
    }

    /// A DELETE without a version ID in a bucket with versioning Suspended:
    /// the null version becomes a delete marker, as S3 does. Not replicated:
    /// s3repl replicates markers by version ID, and this one has none.
    void put_null_delete_marker(const std::string& bucket, const std::string& key) {
        ObjectMeta marker;
        marker.delete_marker = true;
        StagedObject staged = store_.stage(bucket, key, std::move(marker), {});
        // The null version is replaced: its entry goes, and the generation
        // orders the marker above the key's versions.
        s3repl::commit_version_delete(manager_, s3repl::ObjectId{bucket, key},
                                      [&](std::uint64_t generation) { store_.commit(staged, {}, generation, false); });
    }

    /// False when there was no such object. The replica, if any, stays (S3
    /// does not replicate deletes without delete-marker replication).
    bool delete_object(const std::string& bucket, const std::string& key) { return store_.remove(bucket, key); }

    /// The `x-amz-replication-status` of a stored object: REPLICA for a
    /// replica; for a client PUT the manager's entry while it has one at
    /// least as new as the bytes (over several destinations its aggregate:
    /// FAILED if one failed, else PENDING while one copies, else COMPLETED),
    /// then the outcome kept beside the object;
    /// nothing when neither exists, which is an object no rule selected
    /// (the library stamps PENDING in the same commit lock as the rename, so
    /// a selected object has its entry as soon as its PUT is answered),
    /// or, on Redis, one whose stamp failed (until redrive_unstamped).
    std::optional<s3repl::ReplicationStatus> status_of(const std::string& bucket, const std::string& key,
                                                       const ObjectMeta& meta) const {
        if (meta.generation == 0) return replica_status(meta);
        const auto entry = manager_.lookup_entry(s3repl::ObjectId{bucket, key, meta.version_id});
        if (entry && entry->generation >= meta.generation) return entry->status;
        const auto done = store_.terminal_status(bucket, key, meta.version_id);
        if (done && done->generation == meta.generation) return done->status;
        return std::nullopt;
    }

    /// At start-up, after the snapshot is restored: raises the generation
    /// floor above every generation the files carry, stamps PENDING for
    /// replicated PUTs the manager has no entry of (the snapshot is taken
    /// periodically, and a crash loses what came after; in Redis, a node
    /// died between its rename and its stamp), one stamp per destination
    /// their rules select, then re-drives each FAILED destination and, with
    /// PendingAtStart::Redrive, each PENDING one, to that destination only,
    /// with the object's current bytes: a destination that completed is not
    /// copied again. Each version and delete marker is its own object here.
    /// Returns the number of destinations re-driven.
    std::size_t recover(PendingAtStart pending) {
        std::uint64_t highest = 0;
        store_.for_each_object([&](const std::string& bucket, const std::string& key, const ObjectMeta& meta) {
            // A replica's generation counts too: its source may be gone, and a
            // new PUT of it minted below the replica would be superseded by it.
            highest = std::max(highest, meta.generation == 0 && replica_status(meta)
                                            ? s3repl::replica_generation_of(meta.headers)
                                            : meta.generation);
            if (meta.replicated && !status_of(bucket, key, meta)) stamp_pending(bucket, key, meta);
        });
        manager_.raise_generation_floor(highest);
        // The cutoff is strict (recorded before it), and the stamps above are
        // from this very second: a cutoff at the end of time takes every one.
        std::vector<s3repl::DestinationRef> todo;
        if (pending == PendingAtStart::Redrive)
            todo = manager_.stuck_pending_destinations(s3repl::Timestamp::max(), std::chrono::nanoseconds::zero());
        std::vector<s3repl::DestinationRef> failed = manager_.failed_destinations();
        todo.insert(todo.end(), std::make_move_iterator(failed.begin()), std::make_move_iterator(failed.end()));
        for (const s3repl::DestinationRef& ref : todo) redrive(ref);
        return todo.size();
    }

    /// Re-drives each PENDING destination stamped more than `older_than`
    /// ago: its copy was lost (the node that ran it died, or a queue was
    /// dropped at a stop). Each is stamped PENDING again first, which
    /// restarts its age, so neither this node nor another re-drives it
    /// again before `older_than` has passed once more; a copy finished
    /// meanwhile (COMPLETED) refuses that stamp and is left alone. Two nodes
    /// re-driving one copy at once are safe: the replica's writes are
    /// conditional on its generation. `older_than` must exceed the slowest
    /// copy (its retries included), or a copy still running is copied
    /// twice. Returns the number re-driven.
    std::size_t redrive_stale_pending(std::chrono::milliseconds older_than) {
        const auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(manager_.clock().now());
        std::size_t redriven = 0;
        for (const s3repl::DestinationRef& ref : manager_.stuck_pending_destinations(now, older_than)) {
            const s3repl::ObjectId object{ref.bucket, ref.key, ref.version_id};
            const std::string& destination = ref.destination.destination_bucket;
            const std::uint64_t generation = ref.destination.generation;
            const bool claimed =
                destination.empty()
                    ? manager_.record_status_if_newer(object, generation, s3repl::ReplicationStatus::Pending)
                    : manager_.record_destination_status_if_newer(object, destination, generation,
                                                                  s3repl::ReplicationStatus::Pending);
            if (!claimed) continue;
            redrive(ref);
            ++redriven;
        }
        return redriven;
    }

    /// Stamps PENDING for each replicated object without a status
    /// (status_of: no entry at least as new as its bytes, no outcome beside
    /// it for this generation) committed more than `older_than` ago, and
    /// re-drives the destinations stamped: on Redis, its PUT's stamp failed
    /// after the rename (Redis out of reach; put_object answered the client
    /// anyway), or its node died between the two. A PUT whose stamp is on
    /// its way (on any node) is younger than that and left alone; were it
    /// not, the two stamps are the same PENDING at the same generation, and
    /// two copies of one generation are safe (conditional writes). A newer
    /// PUT's entry refuses the stamp, and a destination that completed
    /// meanwhile refuses it too: neither is re-driven. Reads every object
    /// of the store (one lookup in the manager per replicated object older
    /// than `older_than`). Returns the number of destinations re-driven.
    std::size_t redrive_unstamped(std::chrono::milliseconds older_than) {
        const SystemTime cutoff = std::chrono::system_clock::now() - older_than;
        std::size_t redriven = 0;
        store_.for_each_object([&](const std::string& bucket, const std::string& key, const ObjectMeta& meta) {
            if (!meta.replicated) return; // the cheap checks first: a stat, then the manager
            const std::optional<SystemTime> committed = store_.committed_at(bucket, key, meta.version_id);
            if (!committed || *committed > cutoff || status_of(bucket, key, meta)) return;
            for (const s3repl::DestinationRef& ref : stamp_pending(bucket, key, meta)) {
                redrive(ref);
                ++redriven;
            }
        });
        return redriven;
    }

    /// Stops the workers: running copies finish their current attempt,
    /// copies waiting to retry or queued stay PENDING for the next start
    /// (on Redis: for the periodic re-drive of any node).
    void stop() {
        {
            std::lock_guard<std::mutex> lock(stop_mutex_);
            stopping_ = true;
        }
        stop_wake_.notify_all();
        pool_.stop();
    }

  private:
    struct Abandoned : std::runtime_error {
        Abandoned() : std::runtime_error("shutting down") {}
    };

    // Replicas are written by StoreDestination, the only writer that keeps
    // x-amz-replication-status (a client PUT never stores it).
    static std::optional<s3repl::ReplicationStatus> replica_status(const ObjectMeta& meta) {
        const auto header = meta.headers.find("x-amz-replication-status");
        if (header == meta.headers.end()) return std::nullopt;
        return s3repl::parse_aws_status(header->second);
    }

    // A BackendError out of `begin` (begin_replication or
    // begin_delete_marker_replication) after the commit renamed the bytes
    // into place: Redis failed the PENDING stamps or the release of the
    // key's lease. The write stands (GETs on every node see it, its
    // generation orders it), so the client is told so: a 500 would have it
    // retry a write that happened, and a conditional one would then fail
    // against its own bytes. No job is queued: redrive_unstamped (or
    // redrive_stale_pending, had a stamp landed) copies it. Before the
    // rename nothing is stored, and the error goes on (500).
    template <class Begin>
    std::vector<s3repl::ReplicationJob> stored_even_if(const std::string& bucket, const std::string& key,
                                                       const StagedObject& staged, Begin&& begin) {
        try {
            return std::forward<Begin>(begin)();
        } catch (const s3repl::BackendError& error) {
            if (!staged.committed()) throw;
            std::cerr << "stored " + bucket + '/' + key + " generation " + std::to_string(staged.meta().generation) +
                             " without its PENDING stamp (" + error.what() + "); left to the re-drive\n";
            return {};
        }
    }

    // PENDING at the version's generation for each destination its rules
    // select (for a delete marker, those that replicate markers); a single
    // PENDING when none does any more, which the re-drive then marks FAILED.
    // Returns the stamps the manager took (a newer entry, or a destination
    // done meanwhile, refuses one), as references to re-drive.
    std::vector<s3repl::DestinationRef> stamp_pending(const std::string& bucket, const std::string& key,
                                                      const ObjectMeta& meta) {
        const s3repl::ObjectId object{bucket, key, meta.version_id};
        std::vector<s3repl::ReplicationRule> rules = manager_.match_rules(bucket, key, meta.tags);
        if (meta.delete_marker)
            rules.erase(std::remove_if(rules.begin(), rules.end(),
                                       [](const auto& rule) { return !s3repl::replicates_delete_markers(rule); }),
                        rules.end());
        std::vector<s3repl::DestinationRef> stamped;
        const auto took = [&](bool taken, std::string destination) {
            if (taken)
                stamped.push_back(s3repl::DestinationRef{
                    bucket, key,
                    s3repl::DestinationStatus{std::move(destination), s3repl::ReplicationStatus::Pending,
                                              meta.generation, s3repl::Timestamp{}},
                    meta.version_id, meta.delete_marker});
        };
        if (rules.empty())
            took(manager_.record_status_if_newer(object, meta.generation, s3repl::ReplicationStatus::Pending), {});
        for (const s3repl::ReplicationRule& rule : rules)
            took(manager_.record_destination_status_if_newer(object, rule.destination_bucket, meta.generation,
                                                             s3repl::ReplicationStatus::Pending),
                 rule.destination_bucket);
        if (meta.delete_marker) manager_.mark_delete_marker(object);
        return stamped;
    }

    // Queues the copy of one destination of `ref` (every destination its
    // rules select for an unnamed, single-status entry).
    void redrive(const s3repl::DestinationRef& ref) {
        const std::string& destination = ref.destination.destination_bucket;
        const std::uint64_t generation = ref.destination.generation;
        const s3repl::ObjectId object{ref.bucket, ref.key, ref.version_id};
        const auto give_up = [&](const std::string& why) {
            // A FAILED one keeps its stamp (and its age, for the sweep).
            const bool pending = ref.destination.status == s3repl::ReplicationStatus::Pending;
            if (pending && destination.empty())
                manager_.record_status_if_newer(object, generation, s3repl::ReplicationStatus::Failed);
            else if (pending)
                manager_.record_destination_status_if_newer(object, destination, generation,
                                                            s3repl::ReplicationStatus::Failed);
            std::cerr << "re-drive " + ref.bucket + '/' + ref.key +
                             (ref.version_id.empty() ? std::string() : " version " + ref.version_id) + " generation " +
                             std::to_string(generation) + " to " +
                             (destination.empty() ? std::string("its destinations") : destination) + ": " + why +
                             (pending ? ", marked FAILED\n" : ", left FAILED\n");
        };
        auto stored = store_.get(ref.bucket, ref.key, ref.version_id);
        if (!stored) return give_up("the object is gone");
        // Copying newer bytes would label them with this older generation
        // (a newer replicated PUT has its own entry: recover() stamped it).
        if (stored->first.generation != generation)
            return give_up("the object holds generation " + std::to_string(stored->first.generation));
        auto jobs = s3repl::redrive_jobs(manager_, ref, stored->first.tags);
        if (jobs.empty()) return give_up("no rule selects it any more");
        // One status standing for several destinations: each gets its own
        // first, or the first copy to finish would stand for them all.
        if (destination.empty())
            for (const s3repl::ReplicationJob& job : jobs)
                manager_.record_destination_status_if_newer(object, job.rule.destination_bucket, generation,
                                                            s3repl::ReplicationStatus::Pending);
        const auto body = std::make_shared<const std::string>(std::move(stored->second));
        for (auto& job : jobs) enqueue(std::move(job), body, stored->first);
    }

    // --slow-commit-jitter-ms: a random wait inside the commit step; then
    // --hold-commits-file: a wait while that file exists, said once on
    // stdout (a test waits for the line).
    void commit_delay(const std::string& bucket, const std::string& key) const {
        if (commit_jitter_.count() > 0) {
            thread_local std::minstd_rand random{std::random_device{}()};
            std::this_thread::sleep_for(std::chrono::milliseconds(
                std::uniform_int_distribution<std::chrono::milliseconds::rep>(0, commit_jitter_.count())(random)));
        }
        if (hold_commits_while_.empty() || !std::filesystem::exists(hold_commits_while_)) return;
        std::cout << "commit of " + bucket + '/' + key + " held while " + hold_commits_while_.string() + " exists\n"
                  << std::flush;
        while (std::filesystem::exists(hold_commits_while_)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    void enqueue(s3repl::ReplicationJob job, Body body, const ObjectMeta& source) {
        HeaderMap metadata = source.headers;
        if (!source.tags.empty()) metadata["x-amz-tagging"] = format_tagging_header(source.tags);
        pool_.submit([this, job = std::move(job), body = std::move(body), metadata = std::move(metadata)] {
            try {
                run(job, body, metadata);
            } catch (const s3repl::BackendError& error) {
                // The manager's state is out of reach (Redis): the entry stays
                // PENDING, and the periodic re-drive copies it again.
                std::cerr << "replication " + job.source_bucket + '/' + job.source_key + " to " +
                                 job.rule.destination_bucket + ": " + error.what() + "; left PENDING\n";
            }
        });
    }

    void run(const s3repl::ReplicationJob& job, const Body& body, const HeaderMap& metadata) {
        s3repl::ReplicationOptions options;
        options.on_outcome = record_outcome_;
        options.sleeper = [this](std::chrono::nanoseconds delay) {
            std::unique_lock<std::mutex> lock(stop_mutex_);
            if (stop_wake_.wait_for(lock, delay, [this] { return stopping_; })) throw Abandoned();
        };
        s3repl::ReplicationOutcome outcome;
        try {
            outcome = s3repl::replicate_object(manager_, job, body, metadata, destination_, options);
        } catch (const Abandoned&) {
            return;
        }
        // One write of the whole line: workers log at once, and a chain of <<
        // would interleave their pieces.
        std::cout << "replication " + job.source_bucket + '/' + job.source_key +
                         (job.version_id.empty() ? std::string() : " version " + job.version_id) +
                         (job.delete_marker ? " (delete marker)" : "") + " to " + job.rule.destination_bucket +
                         " generation " + std::to_string(job.generation) + ": " +
                         std::string(s3repl::to_string(outcome.result)) + " after " + std::to_string(outcome.attempts) +
                         " attempt(s)" + (outcome.last_error.empty() ? "" : "; last error: " + outcome.last_error) +
                         '\n'
                  << std::flush;
        // Kept beside the object once every destination of this generation is
        // done (the aggregate is terminal); a newer PUT's jobs own later outcomes.
        const auto entry = manager_.lookup_entry(s3repl::ObjectId{job.source_bucket, job.source_key, job.version_id});
        if (entry && entry->generation == job.generation && s3repl::is_terminal(entry->status))
            store_.set_terminal_status_if_current(job.source_bucket, job.source_key, job.version_id,
                                                  {job.generation, entry->status});
    }

    Manager& manager_;
    ObjectStore& store_;
    const std::chrono::milliseconds commit_jitter_;
    const std::filesystem::path hold_commits_while_;
    StoreDestination destination_;
    const std::function<void(const s3repl::ReplicationJob&, const s3repl::ReplicationOutcome&)> record_outcome_;
    std::mutex stop_mutex_;
    std::condition_variable stop_wake_;
    bool stopping_ = false; // guarded by stop_mutex_
    WorkerPool pool_;       // last: its threads use everything above
};

} // namespace s3server
