#pragma once

#include "http_text.hpp"
#include "object_store.hpp"

#include <s3repl/destination.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace s3server {

/// Destination faults to show retries, FAILED, PENDING and overlapping copies.
struct FaultInjection {
    int fail_percent = 0;              ///< share of destination writes that fail
    std::chrono::milliseconds slow{0}; ///< delay before each destination write (after its head)
    /// A random extra delay of up to this much per write, so that copies
    /// of one key land out of order.
    std::chrono::milliseconds jitter{0};
    /// Every write to these destination buckets fails: one destination of
    /// several ends FAILED while the others complete.
    std::vector<std::string> failing_buckets;
    /// Not the destination's: a random delay of up to this much in each
    /// client PUT's commit, after its generation is minted and before its rename
    /// (under the commit lock), so commits of one key through several nodes
    /// overlap; their generations must still follow the order of the renames.
    std::chrono::milliseconds commit_jitter{0};
    /// Not the destination's either: while this file exists, each client
    /// PUT's commit waits at the same place, so a test can act (stop Redis)
    /// between a generation's mint and its rename. Empty: no wait.
    std::filesystem::path hold_commits_while;

    bool fails_every_write_to(const std::string& bucket) const {
        return std::find(failing_buckets.begin(), failing_buckets.end(), bucket) != failing_buckets.end();
    }
};

/// The destination s3repl::replicate_object writes replicas to: this
/// server's own object store, with S3's conditional PutObject, and with
/// versions (s3repl's versioned destination): a replica of a source version
/// is stored under the source's version ID, a replicated delete marker is a
/// marker of the source's version ID; an empty version ID is the
/// unversioned object. A replica's state is its ETag and the source
/// generation it carries in x-amz-meta-s3repl-generation; `put` checks
/// If-Match / If-None-Match against that version and writes under the
/// store's lock for the key (ObjectStore::commit), so the library's
/// compare-and-set is atomic. Thread-safe.
class StoreDestination {
  public:
    using Body = std::shared_ptr<const std::string>;

    StoreDestination(ObjectStore& store, FaultInjection faults) : store_(store), faults_(faults) {}

    /// What a HEAD of the replica's version says; nullopt when there is none.
    std::optional<s3repl::ReplicaState> head(const std::string& bucket, const std::string& key,
                                             const std::string& version_id) const {
        const std::optional<ObjectMeta> meta = store_.head(bucket, key, version_id);
        if (!meta) return std::nullopt;
        return s3repl::ReplicaState{s3repl::replica_generation_of(meta->headers), meta->etag};
    }

    /// Writes the replica of that version if `condition` holds. An If-Match
    /// on a replica that is gone is PreconditionFailed too (S3 would answer
    /// 404): either way someone changed it since the head. Throws for an
    /// injected fault or a missing destination bucket (a failed attempt).
    s3repl::WriteResult put(const std::string& bucket, const std::string& key, const std::string& version_id,
                            const Body& body, const HeaderMap& metadata, const s3repl::WriteCondition& condition) {
        ObjectMeta replica = replica_meta(bucket, metadata);
        // Replicas are never a client PUT: no generation of their own, never re-stamped.
        StagedObject staged = store_.stage(bucket, key, std::move(replica), *body, version_id);
        if (store_.commit(staged, condition, 0, false) == CommitResult::Committed) return s3repl::WriteResult::Written;
        return s3repl::WriteResult::PreconditionFailed;
    }

    /// Writes a delete marker of that version ID (a version ID names one
    /// source marker only, so no condition is needed). Faults as `put`.
    s3repl::WriteResult put_delete_marker(const std::string& bucket, const std::string& key,
                                          const std::string& version_id, const HeaderMap& metadata) {
        ObjectMeta marker = replica_meta(bucket, metadata);
        marker.delete_marker = true;
        StagedObject staged = store_.stage(bucket, key, std::move(marker), {}, version_id);
        store_.commit(staged, {}, 0, false);
        return s3repl::WriteResult::Written;
    }

  private:
    // The injected faults of one write, then the replica's metadata (its
    // tags out of the x-amz-tagging header). Throws as `put` documents.
    ObjectMeta replica_meta(const std::string& bucket, const HeaderMap& metadata) {
        const std::chrono::milliseconds delay = faults_.slow + std::chrono::milliseconds(roll(faults_.jitter.count()));
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
        if (faults_.fail_percent > 0 && roll(99) < faults_.fail_percent)
            throw std::runtime_error("injected destination failure (--fail-destination-percent)");
        if (faults_.fails_every_write_to(bucket))
            throw std::runtime_error("injected destination failure (--fail-destination-bucket " + bucket + ")");
        if (!store_.bucket_exists(bucket)) throw std::runtime_error("destination bucket " + bucket + " does not exist");
        ObjectMeta replica;
        replica.headers = metadata;
        const auto tagging = replica.headers.find("x-amz-tagging");
        if (tagging != replica.headers.end()) {
            replica.tags = parse_tagging_header(tagging->second);
            replica.headers.erase(tagging);
        }
        return replica;
    }

    // Uniform in [0, high].
    template <class Int>
    Int roll(Int high) {
        if (high <= 0) return 0;
        std::lock_guard<std::mutex> lock(random_mutex_);
        return std::uniform_int_distribution<Int>(0, high)(random_);
    }

    ObjectStore& store_;
    const FaultInjection faults_;
    std::mutex random_mutex_;
    std::mt19937 random_{std::random_device{}()}; // guarded by random_mutex_
};

} // namespace s3server
