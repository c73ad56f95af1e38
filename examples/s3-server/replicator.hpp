#pragma once

#include "http_text.hpp"
#include "object_store.hpp"
#include "worker_pool.hpp"

#include <s3repl/dispatch.hpp>
#include <s3repl/manager.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace s3server {

/// Destination faults to show retries, FAILED, PENDING and the stale guard.
struct FaultInjection {
    int fail_percent = 0;              ///< share of destination writes that fail
    std::chrono::milliseconds slow{0}; ///< delay before each destination write
};

/// The object writes of the server, with replication: a PUT to a source
/// bucket stamps PENDING and queues the copy; workers write the replica
/// through the same store and stamp the outcome. Thread-safe.
///
/// Ordering: every write of one key happens under that key's lock (64
/// striped mutexes), and a source PUT mints its generation under it too, so
/// generations follow the order in which the bytes landed: the newest
/// generation's copy is the newest bytes. A replica write re-checks, under
/// the destination key's lock, that no newer source PUT has been stamped
/// since; a stale copy therefore can never land after a newer one.
class Replicator {
  public:
    using Body = std::shared_ptr<const std::string>;

    Replicator(s3repl::ReplicationManager& manager, ObjectStore& store, FaultInjection faults, std::size_t workers)
        : manager_(manager), store_(store), faults_(faults), pool_(workers) {}

    /// Stores a client's PUT; when a rule of the bucket selects the object,
    /// stamps PENDING (begin_replication) and queues the copy.
    ObjectMeta put_object(const std::string& bucket, const std::string& key, ObjectMeta meta, std::string body) {
        auto shared = std::make_shared<const std::string>(std::move(body));
        std::optional<s3repl::ReplicationJob> job;
        {
            std::lock_guard<std::mutex> lock(lock_of(bucket, key));
            const bool replicated = manager_.match_rule(bucket, key, meta.tags).has_value();
            job = s3repl::begin_replication(manager_, bucket, key, meta.tags, [&](std::uint64_t generation) {
                meta.generation = replicated ? generation : 0;
                meta = store_.put(bucket, key, std::move(meta), *shared);
            });
        }
        if (job) enqueue(std::move(*job), std::move(shared), meta);
        return meta;
    }

    /// False when there was no such object. The replica, if any, stays (S3
    /// does not replicate deletes without delete-marker replication).
    bool delete_object(const std::string& bucket, const std::string& key) {
        std::lock_guard<std::mutex> lock(lock_of(bucket, key));
        return store_.remove(bucket, key);
    }

    /// The `x-amz-replication-status` of a stored object: the manager's
    /// entry while it has one at least as new as the bytes, then the outcome
    /// kept beside the object, REPLICA for replicas, nothing when no rule
    /// matched its PUT.
    std::optional<s3repl::ReplicationStatus> status_of(const std::string& bucket, const std::string& key,
                                                       const ObjectMeta& meta) const {
        if (meta.generation == 0) {
            const auto header = meta.headers.find("x-amz-replication-status");
            if (header == meta.headers.end()) return std::nullopt;
            return s3repl::parse_aws_status(header->second);
        }
        const auto entry = manager_.lookup_entry(bucket, key);
        if (entry && entry->generation >= meta.generation) return entry->status;
        const auto done = store_.terminal_status(bucket, key);
        if (done && done->generation == meta.generation) return done->status;
        return s3repl::ReplicationStatus::Pending; // the PUT's stamp is not visible to us yet
    }

    /// At start-up, after the snapshot is restored: stamps PENDING for
    /// replicated PUTs the snapshot missed (it is taken periodically; a crash
    /// loses what came after), then re-drives every PENDING entry with the
    /// object's current bytes. Returns the number re-driven.
    std::size_t recover() {
        std::uint64_t highest = 0;
        store_.for_each_object([&](const std::string& bucket, const std::string& key, const ObjectMeta& meta) {
            highest = std::max(highest, meta.generation);
            if (meta.generation == 0) return;
            const auto entry = manager_.lookup_entry(bucket, key);
            const auto done = store_.terminal_status(bucket, key);
            if ((entry && entry->generation >= meta.generation) || (done && done->generation == meta.generation))
                return;
            manager_.record_status_if_newer(bucket, key, meta.generation, s3repl::ReplicationStatus::Pending);
        });
        // The restored counter may be behind generations the files carry (a
        // PUT after the last snapshot); new PUTs must mint above them, or a
        // reused generation would make their stamps ambiguous.
        while (manager_.next_generation() < highest) {
        }
        std::vector<s3repl::EntryRef> pending;
        manager_.for_each_entry(
            [&](std::string_view bucket, std::string_view key, const s3repl::ReplicationStatusEntry& e) {
                if (e.status == s3repl::ReplicationStatus::Pending)
                    pending.push_back({std::string(bucket), std::string(key), e});
            });
        for (const s3repl::EntryRef& ref : pending) redrive(ref);
        return pending.size();
    }

    /// Stops the workers: running copies finish their current attempt,
    /// copies waiting to retry or queued stay PENDING for the next start.
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

    void redrive(const s3repl::EntryRef& ref) {
        const auto fail = [&](const char* why) {
            manager_.record_status_if_newer(ref.bucket, ref.key, ref.entry.generation,
                                            s3repl::ReplicationStatus::Failed);
            std::cerr << "re-drive " << ref.bucket << '/' << ref.key << ": " << why << ", marked FAILED\n";
        };
        auto object = store_.get(ref.bucket, ref.key);
        if (!object) return fail("the object is gone");
        auto rule = manager_.match_rule(ref.bucket, ref.key, object->first.tags);
        if (!rule) return fail("no rule selects it any more");
        enqueue(s3repl::ReplicationJob{std::move(*rule), ref.bucket, ref.key, ref.entry.generation},
                std::make_shared<const std::string>(std::move(object->second)), object->first);
    }

    void enqueue(s3repl::ReplicationJob job, Body body, const ObjectMeta& source) {
        HeaderMap metadata = source.headers;
        if (!source.tags.empty()) metadata["x-amz-tagging"] = format_tagging_header(source.tags);
        pool_.submit([this, job = std::move(job), body = std::move(body), metadata = std::move(metadata)] {
            run(job, body, metadata);
        });
    }

    void run(const s3repl::ReplicationJob& job, const Body& body, const HeaderMap& metadata) {
        s3repl::ReplicationOptions options;
        options.sleeper = [this](std::chrono::nanoseconds delay) {
            std::unique_lock<std::mutex> lock(stop_mutex_);
            if (stop_wake_.wait_for(lock, delay, [this] { return stopping_; })) throw Abandoned();
        };
        const auto put = [&](const std::string& bucket, const std::string& key, const Body& bytes,
                             const HeaderMap& replica_metadata) {
            return write_replica(job, bucket, key, *bytes, replica_metadata);
        };
        s3repl::ReplicationOutcome outcome;
        try {
            outcome = s3repl::replicate_object(manager_, job, body, metadata, put, options);
        } catch (const Abandoned&) {
            return;
        }
        std::cout << "replication " << job.source_bucket << '/' << job.source_key << " generation " << job.generation
                  << ": " << describe(outcome) << std::endl;
        if (outcome.result == s3repl::ReplicationResult::Superseded) return;
        const auto status = outcome.result == s3repl::ReplicationResult::Completed
                                ? s3repl::ReplicationStatus::Completed
                                : s3repl::ReplicationStatus::Failed;
        std::lock_guard<std::mutex> lock(lock_of(job.source_bucket, job.source_key));
        const auto current = store_.head(job.source_bucket, job.source_key);
        if (current && current->generation == job.generation)
            store_.set_terminal_status(job.source_bucket, job.source_key, {job.generation, status});
    }

    bool write_replica(const s3repl::ReplicationJob& job, const std::string& bucket, const std::string& key,
                       const std::string& bytes, HeaderMap metadata) {
        if (faults_.slow.count() > 0) std::this_thread::sleep_for(faults_.slow);
        if (faults_.fail_percent > 0 && roll_percent() < faults_.fail_percent)
            throw std::runtime_error("injected destination failure (--fail-destination-percent)");
        std::lock_guard<std::mutex> lock(lock_of(bucket, key));
        const auto stored = manager_.lookup_entry(job.source_bucket, job.source_key);
        if (stored && stored->generation > job.generation)
            throw std::runtime_error("a newer PUT of the source was stamped; not overwriting its copy");
        if (!store_.bucket_exists(bucket)) throw std::runtime_error("destination bucket " + bucket + " does not exist");
        ObjectMeta replica;
        const auto tagging = metadata.find("x-amz-tagging");
        if (tagging != metadata.end()) {
            replica.tags = parse_tagging_header(tagging->second);
            metadata.erase(tagging);
        }
        replica.headers = std::move(metadata);
        store_.put(bucket, key, std::move(replica), bytes);
        return true;
    }

    static std::string describe(const s3repl::ReplicationOutcome& outcome) {
        switch (outcome.result) {
        case s3repl::ReplicationResult::Completed:
            return "COMPLETED after " + std::to_string(outcome.attempts) + " attempt(s)";
        case s3repl::ReplicationResult::Failed:
            return "FAILED after " + std::to_string(outcome.attempts) + " attempt(s): " + outcome.last_error;
        case s3repl::ReplicationResult::SupersededAfterWrite: return "written, then superseded by a newer PUT";
        case s3repl::ReplicationResult::Superseded: break;
        }
        return "superseded by a newer PUT";
    }

    int roll_percent() {
        std::lock_guard<std::mutex> lock(random_mutex_);
        return std::uniform_int_distribution<int>(0, 99)(random_);
    }

    std::mutex& lock_of(const std::string& bucket, const std::string& key) {
        return key_locks_[std::hash<std::string>()(bucket + '\0' + key) % key_locks_.size()];
    }

    s3repl::ReplicationManager& manager_;
    ObjectStore& store_;
    const FaultInjection faults_;
    std::array<std::mutex, 64> key_locks_;
    std::mutex random_mutex_;
    std::mt19937 random_{std::random_device{}()}; // guarded by random_mutex_
    std::mutex stop_mutex_;
    std::condition_variable stop_wake_;
    bool stopping_ = false; // guarded by stop_mutex_
    WorkerPool pool_;       // last: its threads use everything above
};

} // namespace s3server
