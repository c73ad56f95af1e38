#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/destination.hpp"
#include "s3repl/destination_status.hpp"
#include "s3repl/detail/time_math.hpp"
#include "s3repl/detail/utf8.hpp"
#include "s3repl/error.hpp"
#include "s3repl/manager_interface.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// One replication to perform, to one destination (`rule.destination_bucket`):
/// what begin_replication hands to the executor that will run
/// replicate_object. A plain value; copy it freely.
struct ReplicationJob {
    ReplicationRule rule;
    std::string source_bucket;
    std::string source_key;
    std::uint64_t generation = 0;
    /// The source version to copy, kept by the replica (empty: unversioned).
    std::string version_id{};
    /// The version is a delete marker: the destination gets a marker, not bytes.
    bool delete_marker = false;
    /// When the source commit happened, by the manager's clock (for a
    /// re-driven job: the stamp it re-drives); replication latency starts
    /// here. Unset for a job built by hand.
    std::optional<Timestamp> committed_at{};
};

namespace detail {
// The members every ordered commit (a PUT, a delete marker) calls.
template <class Manager>
void require_dispatchable() {
    static_assert(has_match_rules<Manager>::value,
                  "s3repl: the manager needs match_rules(bucket, key, tags) -> std::vector<ReplicationRule>");
    static_assert(has_commit_in_order<Manager>::value,
                  "s3repl: the manager needs commit_in_order(bucket, key, commit) -> the generation (std::uint64_t)");
    static_assert(has_record_destination_status_if_newer<Manager>::value,
                  "s3repl: the manager needs record_destination_status_if_newer(ObjectId, destination_bucket, "
                  "generation, status) -> bool");
}

// The ordered commit both PUTs and delete markers take: under the key's
// commit lock (every version of a key shares it, so generations follow the
// order of its versions), mint, run the server's commit, stamp PENDING for
// each destination; one job per destination.
template <bool DeleteMarker, class Manager, class Commit>
std::vector<ReplicationJob> commit_and_stamp(Manager& manager, const ObjectId& object,
                                             std::vector<ReplicationRule> rules, Commit&& commit) {
    constexpr bool told_if_replicated = std::is_invocable_v<Commit&, std::uint64_t, bool>;
    static_assert(told_if_replicated || std::is_invocable_v<Commit&, std::uint64_t>,
                  "s3repl: the commit step must be callable as commit(std::uint64_t generation) or "
                  "commit(std::uint64_t generation, bool replicated)");
    static_assert(has_clock<Manager>::value, "s3repl: the manager needs clock().now() -> a system_clock time_point");
    std::optional<Timestamp> committed_at;
    const std::uint64_t generation = manager.commit_in_order(object.bucket, object.key, [&](std::uint64_t minted) {
        committed_at = std::chrono::time_point_cast<std::chrono::nanoseconds>(manager.clock().now());
        if constexpr (told_if_replicated)
            std::invoke(commit, minted, !rules.empty());
        else
            std::invoke(commit, minted);
        for (const ReplicationRule& rule : rules)
            manager.record_destination_status_if_newer(object, rule.destination_bucket, minted,
                                                       ReplicationStatus::Pending);
        if constexpr (DeleteMarker)
            if (!rules.empty()) manager.mark_delete_marker(object);
    });
    std::vector<ReplicationJob> jobs;
    jobs.reserve(rules.size());
    for (ReplicationRule& rule : rules)
        jobs.push_back(ReplicationJob{std::move(rule), std::string(object.bucket), std::string(object.key), generation,
                                      std::string(object.version_id), DeleteMarker, committed_at});
    return jobs;
}

// The rules a delete marker replicates by: the winners for an object without
// tags, those that replicate markers.
inline std::vector<ReplicationRule> delete_marker_rules(std::vector<ReplicationRule> rules) {
    rules.erase(std::remove_if(rules.begin(), rules.end(),
                               [](const ReplicationRule& rule) { return !replicates_delete_markers(rule); }),
                rules.end());
    return rules;
}
} // namespace detail

/// The PUT path, ordered: mints a generation and runs `commit(generation)`,
/// the server's short, final step of the PUT (rename the uploaded file into
/// place, swap a metadata pointer, recording the generation with the
/// object), under the manager's per-key commit lock (commit_in_order), so
/// that generation order is the order in which a key's source commits
/// happen. Every destination the bucket's rules select (match_rules: one
/// rule per destination bucket) is stamped PENDING at that generation
/// inside the same lock (a HEAD right after the PUT already sees PENDING),
/// and one job per destination is returned, in match_rules' order. When no
/// enabled rule selects the object nothing is stamped and no job is
/// returned, but `commit` still runs with a fresh generation, so the server
/// has one code path. A commit step callable as `commit(generation, bool
/// replicated)` learns whether a rule selected the object, to record beside
/// it (no second match_rules that a concurrent put_config could make
/// disagree).
///
/// Receive and write the uploaded bytes before calling this, never inside
/// `commit`: every PUT of a key that shares the lock's stripe waits for it.
/// If `commit` throws, nothing is stamped and the exception propagates.
/// Throws InvalidArgument before minting anything when the bucket or key is
/// not valid UTF-8. Thread-safe. Cost: one rule match under the
/// configuration lock, one mint, one stamp per destination, all under the
/// commit lock. In a versioned bucket pass the new version's ObjectId: the
/// stamps and jobs are that version's, and the lock is the key's, so the
/// generations of a key's versions follow the order they were committed in.
///
///     auto jobs = s3repl::begin_replication(manager, "photos", "cat.jpg", tags,
///         [&](std::uint64_t generation) { store.rename_into_place(upload, generation); });
///     for (auto& job : jobs)
///         pool.post([&, job = std::move(job)] { s3repl::replicate_object(manager, job, body, meta, dst); });
template <class Manager, class Commit>
std::vector<ReplicationJob> begin_replication(Manager& manager, const ObjectId& object, const TagSet& object_tags,
                                              Commit&& commit) {
    detail::require_dispatchable<Manager>();
    detail::require_storable(object); // before the mint: a throw consumes no generation
    return detail::commit_and_stamp<false>(manager, object, manager.match_rules(object.bucket, object.key, object_tags),
                                           std::forward<Commit>(commit));
}

/// The unversioned object's PUT: begin_replication({bucket, key}, ...).
template <class Manager, class Commit>
std::vector<ReplicationJob> begin_replication(Manager& manager, std::string_view bucket, std::string_view key,
                                              const TagSet& object_tags, Commit&& commit) {
    return begin_replication(manager, ObjectId{bucket, key}, object_tags, std::forward<Commit>(commit));
}

/// A DELETE without a version ID on a versioned bucket made a delete marker,
/// version `marker.version_id`: as begin_replication (the commit step runs
/// under the key's commit lock with a fresh generation, so the marker is
/// ordered with the key's PUTs), but the jobs are only for the rules that
/// replicate delete markers (replicates_delete_markers: V1 rules, and V2
/// rules with DeleteMarkerReplication Enabled and no tag filter), chosen as
/// for an object without tags, and carry `delete_marker`. The entry is
/// marked (mark_delete_marker). Throws InvalidArgument, before minting, for
/// an empty version ID.
template <class Manager, class Commit>
std::vector<ReplicationJob> begin_delete_marker_replication(Manager& manager, const ObjectId& marker, Commit&& commit) {
    detail::require_dispatchable<Manager>();
    static_assert(detail::has_mark_delete_marker<Manager>::value,
                  "s3repl: the manager needs mark_delete_marker(ObjectId)");
    detail::require_storable(marker);
    if (marker.version_id.empty()) throw InvalidArgument("a delete marker needs a version ID");
    return detail::commit_and_stamp<true>(
        manager, marker, detail::delete_marker_rules(manager.match_rules(marker.bucket, marker.key, {})),
        std::forward<Commit>(commit));
}

/// A DELETE of one version (with its version ID): never replicated, as S3
/// does, so that nobody can delete data at the destination from the source.
/// Runs `commit()` or `commit(generation)` (the server removes the version;
/// a fresh generation orders it with the key's other commits) under the
/// key's commit lock, then forgets the version's entry: a copy of it still
/// running finds none and ends Superseded. Returns no job, by design.
template <class Manager, class Commit>
void commit_version_delete(Manager& manager, const ObjectId& version, Commit&& commit) {
    static_assert(detail::has_commit_in_order<Manager>::value,
                  "s3repl: the manager needs commit_in_order(bucket, key, commit) -> the generation (std::uint64_t)");
    static_assert(detail::has_forget<Manager>::value, "s3repl: the manager needs forget(ObjectId) -> bool");
    detail::require_storable(version);
    manager.commit_in_order(version.bucket, version.key, [&](std::uint64_t generation) {
        if constexpr (std::is_invocable_v<Commit&, std::uint64_t>)
            std::invoke(commit, generation);
        else
            std::invoke(commit);
        manager.forget(version);
    });
}

/// The jobs that re-copy what a re-drive list names (failed_destinations,
/// stuck_pending_destinations): the rules that select the object now,
/// restricted to the reference's destination (all of them for an empty
/// name, a single-status entry), at the reference's generation, so that
/// replicate_object's checks still apply. Empty when no rule selects that
/// destination any more (stamp it FAILED, or leave it to the sweep).
/// `object_tags` are the source object's current tags (unused for a delete
/// marker). Jobs keep the reference's version ID and delete-marker flag.
template <class Manager>
std::vector<ReplicationJob> redrive_jobs(const Manager& manager, const DestinationRef& ref, const TagSet& object_tags) {
    static_assert(detail::has_match_rules<Manager>::value,
                  "s3repl: the manager needs match_rules(bucket, key, tags) -> std::vector<ReplicationRule>");
    std::vector<ReplicationJob> jobs;
    std::vector<ReplicationRule> rules = ref.delete_marker
                                             ? detail::delete_marker_rules(manager.match_rules(ref.bucket, ref.key, {}))
                                             : manager.match_rules(ref.bucket, ref.key, object_tags);
    for (ReplicationRule& rule : rules) {
        const std::string& wanted = ref.destination.destination_bucket;
        if (!wanted.empty() && wanted != rule.destination_bucket) continue;
        jobs.push_back(ReplicationJob{std::move(rule), ref.bucket, ref.key, ref.destination.generation, ref.version_id,
                                      ref.delete_marker, ref.destination.recorded_at});
    }
    return jobs;
}

/// How often, and how patiently, replicate_object calls `put`. No jitter:
/// delays are exactly backoff_after(k).
struct RetryPolicy {
    /// Calls to `put` at most; at least 1.
    int attempts = 3;
    std::chrono::milliseconds initial_backoff{50};
    /// Growth of the delay per failed attempt; at least 1.
    double multiplier = 2;
    std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};

    /// The wait after failed attempt `attempt` (1-based):
    /// min(initial_backoff * multiplier^(attempt-1), max_backoff). Never
    /// overflows, whatever the attempt number or the durations.
    std::chrono::nanoseconds backoff_after(int attempt) const noexcept {
        const std::chrono::nanoseconds cap = detail::saturating_nanoseconds(max_backoff);
        const std::chrono::nanoseconds initial = detail::saturating_nanoseconds(initial_backoff);
        if (initial <= std::chrono::nanoseconds::zero() || attempt <= 1) return initial < cap ? initial : cap;
        // In double, so a large exponent saturates to infinity instead of wrapping.
        const double delay = static_cast<double>(initial.count()) * std::pow(multiplier, attempt - 1);
        if (!(delay < static_cast<double>(cap.count()))) return cap;
        return std::chrono::nanoseconds{static_cast<std::int64_t>(delay)};
    }
};

/// S3 Object Lock retention modes.
enum class ObjectLockMode { Governance, Compliance };

/// The `x-amz-object-lock-mode` value: "GOVERNANCE" or "COMPLIANCE".
constexpr std::string_view to_aws_string(ObjectLockMode mode) noexcept {
    return mode == ObjectLockMode::Compliance ? "COMPLIANCE" : "GOVERNANCE";
}

/// The enumerator's name: "Governance" or "Compliance".
constexpr std::string_view to_string(ObjectLockMode mode) noexcept {
    return mode == ObjectLockMode::Compliance ? "Compliance" : "Governance";
}

/// The source object's Object Lock state, copied onto the replica.
struct ObjectLockState {
    std::optional<ObjectLockMode> mode;
    std::optional<std::chrono::system_clock::time_point> retain_until;
    bool legal_hold = false;
};

struct ReplicationOutcome;

/// Everything about one replicate_object call beyond the job itself.
struct ReplicationOptions {
    RetryPolicy retry;
    /// The source's lock state; nullopt: the replica carries no lock headers.
    std::optional<ObjectLockState> object_lock;
    /// Where the replica goes in the destination bucket; nullopt: the source key.
    std::optional<std::string> destination_key;
    /// With a destination: how many times in a row one attempt re-heads and
    /// retries after PreconditionFailed (someone wrote the replica between
    /// its head and its put) before the attempt counts as failed. These
    /// retries are immediate and consume no attempt of `retry`.
    int precondition_retries = 8;
    /// Waits between attempts; empty: std::this_thread::sleep_for. Tests
    /// pass one that records the delays and returns at once; a server that
    /// shuts down may pass one that throws to abandon the job (the entry
    /// stays PENDING, for the re-drive after restart).
    std::function<void(std::chrono::nanoseconds)> sleeper;
    /// Called once with the outcome, after its stamp, on the calling thread
    /// (e.g. OutcomeMetrics::recorder, s3repl/outcome_metrics.hpp).
    /// An exception from it propagates; the stamp stands.
    std::function<void(const ReplicationJob&, const ReplicationOutcome&)> on_outcome;
};

enum class ReplicationResult {
    Completed,  ///< the replica holds the job's generation and COMPLETED was stamped at it
    Failed,     ///< every attempt failed and FAILED was stamped
    Superseded, ///< another task's stamp owns the status (a newer PUT, or a duplicate of this job that completed)
    /// Only the unconditional `put` overload: its write landed, but a newer
    /// generation had won meanwhile, so the destination may hold older
    /// bytes than the source; the key is queued for take_redrive_candidates.
    SupersededAfterWrite,
};

/// The enumerator's name: "Completed", "Failed", "Superseded", "SupersededAfterWrite".
constexpr std::string_view to_string(ReplicationResult result) noexcept {
    switch (result) {
    case ReplicationResult::Completed: return "Completed";
    case ReplicationResult::Failed: return "Failed";
    case ReplicationResult::Superseded: return "Superseded";
    case ReplicationResult::SupersededAfterWrite: return "SupersededAfterWrite";
    }
    return "Failed"; // unreachable for valid enumerators
}

/// Why an attempt failed, for metrics (failures by reason).
enum class FailureReason {
    None,                  ///< no attempt failed
    DestinationException,  ///< head or put threw
    WriteFailed,           ///< put reported a failed write (WriteResult::Failed, or false)
    PreconditionConflicts, ///< the replica changed between head and put precondition_retries + 1 times
};

/// Its name in metrics and logs: "none", "destination_exception", "write_failed",
/// "precondition_conflicts".
constexpr std::string_view to_string(FailureReason reason) noexcept {
    switch (reason) {
    case FailureReason::None: return "none";
    case FailureReason::DestinationException: return "destination_exception";
    case FailureReason::WriteFailed: return "write_failed";
    case FailureReason::PreconditionConflicts: return "precondition_conflicts";
    }
    return "none"; // unreachable for valid enumerators
}

/// What replicate_object did.
struct ReplicationOutcome {
    ReplicationResult result = ReplicationResult::Failed;
    /// Attempts begun (0 when superseded before the first). With a
    /// destination, an attempt is a head and at most 1 + precondition_retries
    /// conditional puts; with a `put`, one call to it.
    int attempts = 0;
    /// The most recent failed attempt's error (an exception's what()); empty
    /// when no attempt failed.
    std::string last_error;
    /// Why the most recent failed attempt failed.
    FailureReason last_failure = FailureReason::None;
};

namespace detail {

template <class Metadata, class = void>
struct is_string_map : std::false_type {};
template <class Metadata>
struct is_string_map<
    Metadata, std::void_t<decltype(std::declval<Metadata&>()[std::declval<typename Metadata::key_type>()] =
                                       std::declval<typename Metadata::mapped_type>()),
                          decltype(std::declval<Metadata&>().erase(std::declval<typename Metadata::key_type>()))>>
    : std::conjunction<std::is_constructible<typename Metadata::key_type, std::string_view>,
                       std::is_constructible<typename Metadata::mapped_type, std::string_view>> {};

template <class Put, class Body, class Metadata>
using is_put_callable = std::is_invocable<Put&, const std::string&, const std::string&, const Body&, const Metadata&>;

template <class Put, class Body, class Metadata, class = void>
struct put_reports_success : std::false_type {};
template <class Put, class Body, class Metadata>
struct put_reports_success<Put, Body, Metadata, std::enable_if_t<is_put_callable<Put, Body, Metadata>::value>>
    : std::is_constructible<
          bool, std::invoke_result_t<Put&, const std::string&, const std::string&, const Body&, const Metadata&>> {};

template <class Metadata>
void set_header(Metadata& metadata, std::string_view name, std::string_view value) {
    metadata[typename Metadata::key_type(name)] = typename Metadata::mapped_type(value);
}

// The lock headers come only from `lock`: copies in the source metadata are
// replaced or removed, so the replica never claims a lock the caller did not
// describe. The generation lets the next copy's head tell stale from new.
template <class Metadata>
void set_replica_headers(Metadata& metadata, const ReplicationJob& job, const std::optional<ObjectLockState>& lock) {
    constexpr std::string_view mode_header = "x-amz-object-lock-mode";
    constexpr std::string_view retain_header = "x-amz-object-lock-retain-until-date";
    constexpr std::string_view hold_header = "x-amz-object-lock-legal-hold";
    set_header(metadata, "x-amz-replication-status", to_aws_string(ReplicationStatus::Replica));
    set_replica_generation(metadata, job.generation);
    if (job.rule.destination_storage_class)
        set_header(metadata, "x-amz-storage-class", *job.rule.destination_storage_class);
    if (lock && lock->mode)
        set_header(metadata, mode_header, to_aws_string(*lock->mode));
    else
        metadata.erase(typename Metadata::key_type(mode_header));
    if (lock && lock->retain_until)
        set_header(metadata, retain_header,
                   format_rfc3339(Timestamp{saturating_nanoseconds(lock->retain_until->time_since_epoch())}));
    else
        metadata.erase(typename Metadata::key_type(retain_header));
    if (lock)
        set_header(metadata, hold_header, lock->legal_hold ? "ON" : "OFF");
    else
        metadata.erase(typename Metadata::key_type(hold_header));
}

// Runs a call to the server's code; an exception is a failed attempt whose
// message is kept. Returns whether it returned normally.
template <class Call>
bool guarded(Call&& call, ReplicationOutcome& outcome) {
    try {
        call();
        return true;
    } catch (const std::exception& e) {
        outcome.last_error = e.what();
    } catch (...) {
        outcome.last_error = "the destination threw an exception not derived from std::exception";
    }
    outcome.last_failure = FailureReason::DestinationException;
    return false;
}

// Records a failed attempt that threw nothing.
inline std::nullopt_t failed(ReplicationOutcome& outcome, FailureReason reason, std::string message) {
    outcome.last_failure = reason;
    outcome.last_error = std::move(message);
    return std::nullopt;
}

inline void require_valid(const ReplicationOptions& options) {
    const RetryPolicy& retry = options.retry;
    if (retry.attempts < 1) throw InvalidArgument("RetryPolicy: attempts must be at least 1");
    if (retry.initial_backoff.count() < 0 || retry.max_backoff.count() < 0)
        throw InvalidArgument("RetryPolicy: backoffs must not be negative");
    if (!(retry.multiplier >= 1)) throw InvalidArgument("RetryPolicy: multiplier must be at least 1");
    if (options.precondition_retries < 0)
        throw InvalidArgument("ReplicationOptions: precondition_retries must not be negative");
}

// The source has moved past the job: a newer generation is stored, or the
// entry is gone (swept: a terminal status at this generation or later was
// stamped, so another task finished the key).
inline ObjectId source_of(const ReplicationJob& job) noexcept {
    return ObjectId{job.source_bucket, job.source_key, job.version_id};
}

template <class Manager>
bool superseded_at_source(const Manager& manager, const ReplicationJob& job) {
    const auto stored = manager.lookup_entry(source_of(job));
    return !stored || stored->generation > job.generation;
}

// Where every outcome of a job is stamped: its own destination's CAS.
template <class Manager>
bool stamp(Manager& manager, const ReplicationJob& job, ReplicationStatus status) {
    return manager.record_destination_status_if_newer(source_of(job), job.rule.destination_bucket, job.generation,
                                                      status);
}

template <class Manager, class Attempt>
ReplicationOutcome attempt_until_done(Manager& manager, const ReplicationJob& job, const ReplicationOptions& options,
                                      Attempt& attempt) {
    static_assert(has_lookup_entry<Manager>::value,
                  "s3repl: the manager needs lookup_entry(ObjectId) -> std::optional<ReplicationStatusEntry>");
    static_assert(has_record_destination_status_if_newer<Manager>::value,
                  "s3repl: the manager needs record_destination_status_if_newer(ObjectId, destination_bucket, "
                  "generation, status) -> bool");
    static_assert(has_note_dropped<Manager>::value, "s3repl: the manager needs note_dropped()");
    ReplicationOutcome outcome;
    for (;;) {
        if (superseded_at_source(manager, job)) {
            outcome.result = ReplicationResult::Superseded;
            return outcome;
        }
        ++outcome.attempts;
        if (const std::optional<ReplicationResult> result = attempt(outcome)) {
            outcome.result = *result;
            return outcome;
        }
        if (outcome.attempts >= options.retry.attempts) break;
        const std::chrono::nanoseconds delay = options.retry.backoff_after(outcome.attempts);
        if (options.sleeper)
            options.sleeper(delay);
        else
            std::this_thread::sleep_for(delay);
    }
    outcome.result =
        stamp(manager, job, ReplicationStatus::Failed) ? ReplicationResult::Failed : ReplicationResult::Superseded;
    manager.note_dropped();
    return outcome;
}

// The retry loop both overloads share. `attempt(outcome)` returns the job's
// result, or nullopt for a failed attempt (with the outcome's last error and
// reason set). Before each attempt the source is checked; after the last
// failed one FAILED is stamped (the CAS keeps a newer success). The outcome
// goes to options.on_outcome.
template <class Manager, class Attempt>
ReplicationOutcome run_attempts(Manager& manager, const ReplicationJob& job, const ReplicationOptions& options,
                                Attempt&& attempt) {
    ReplicationOutcome outcome = attempt_until_done(manager, job, options, attempt);
    if (options.on_outcome) options.on_outcome(job, outcome);
    return outcome;
}

// The replica holds the job's generation: stamp COMPLETED. Refused only when
// a newer generation is stored, whose own job then owns the destination.
template <class Manager>
ReplicationResult stamp_completed(Manager& manager, const ReplicationJob& job) {
    if (stamp(manager, job, ReplicationStatus::Completed)) return ReplicationResult::Completed;
    return ReplicationResult::Superseded;
}

// A job of a version or a delete marker needs a destination with versions.
inline void require_unversioned(const ReplicationJob& job, const char* what) {
    if (!job.version_id.empty() || job.delete_marker)
        throw InvalidArgument(std::string("replicate_object: ") + what +
                              " cannot copy a version or a delete marker (give it head/put with a version ID and "
                              "put_delete_marker, see s3repl/destination.hpp)");
}

// What both overloads do before the first attempt: check the options, add
// the replica's headers, and say where the replica goes.
struct ReplicaTarget {
    const std::string& bucket;
    const std::string& key;
};
template <class Metadata>
ReplicaTarget prepare_replica(Metadata& metadata, const ReplicationJob& job, const ReplicationOptions& options) {
    static_assert(is_string_map<Metadata>::value,
                  "s3repl: Metadata must be a string-to-string map such as std::map<std::string, std::string> or "
                  "std::unordered_map<std::string, std::string> (needs operator[] and erase)");
    require_valid(options);
    set_replica_headers(metadata, job, options.object_lock);
    return {job.rule.destination_bucket, options.destination_key ? *options.destination_key : job.source_key};
}

} // namespace detail

/// Copies one object to the job's destination so that an older job can never
/// overwrite a newer replica, and stamps the outcome. Runs synchronously on
/// the calling thread: post it to the server's executor. Thread-safe: any
/// number may run at once, for the same key too, on any number of nodes
/// sharing the destination.
///
/// `destination` has `std::optional<ReplicaState> head(bucket, key)` (what a
/// HEAD of the replica says, nullopt when there is none) and
/// `WriteResult put(bucket, key, const Body&, const Metadata&, const
/// WriteCondition&)` (a conditional PutObject); an exception from either is
/// a failed attempt, its message kept. `Body` is passed through untouched;
/// `Metadata` is a string-to-string map with lower-case header names. The
/// replica's metadata is the source's plus `x-amz-replication-status:
/// REPLICA`, the job's generation in `x-amz-meta-s3repl-generation`,
/// `x-amz-storage-class` when the rule overrides it, and the three
/// `x-amz-object-lock-*` headers from `options.object_lock`.
///
/// A destination with versions has head(bucket, key, version_id),
/// put(bucket, key, version_id, body, metadata, condition) and
/// put_delete_marker(bucket, key, version_id, metadata) instead: each call
/// gets the job's version ID (the replica keeps the source's), and a
/// delete-marker job writes a marker through put_delete_marker (its `body`
/// is not used). A destination without versions takes only unversioned
/// jobs (InvalidArgument otherwise).
///
/// Each attempt: a newer stored generation at the source, or no entry at all
/// (swept after another task finished the key), ends the job as Superseded
/// without writing. Otherwise `head` the replica: a generation above the
/// job's is Superseded, an equal one is already this job's copy (COMPLETED
/// is stamped: Completed); an older replica is overwritten with `If-Match`
/// its ETag, a missing one created with `If-None-Match: *`. PreconditionFailed
/// means someone wrote in between: head and decide again, up to
/// `options.precondition_retries` times. After Written, the CAS stamps
/// COMPLETED (Superseded when a newer generation won meanwhile; its job
/// overwrites this copy, conditionally, later). After the last failed
/// attempt FAILED is stamped (Failed, or Superseded when the CAS refused)
/// and the dropped counter is bumped.
///
/// Throws InvalidArgument, before any call, for a RetryPolicy with fewer than
/// one attempt, a negative backoff or a multiplier below 1, or negative
/// precondition_retries; an exception from the sleeper or the manager
/// propagates, leaving the entry PENDING for the re-drive (stuck_pending).
///
///     auto outcome = s3repl::replicate_object(manager, job, bytes, metadata, destination);
///     if (outcome.result == s3repl::ReplicationResult::Failed) log(outcome.last_error);
template <class Manager, class Body, class Metadata, class Destination>
auto replicate_object(Manager& manager, const ReplicationJob& job, Body body, Metadata metadata,
                      Destination&& destination, const ReplicationOptions& options = {})
    -> std::enable_if_t<
        detail::is_destination<std::remove_reference_t<Destination>, Body, Metadata>::value ||
            detail::is_versioned_destination<std::remove_reference_t<Destination>, Body, Metadata>::value,
        ReplicationOutcome> {
    constexpr bool versioned =
        detail::is_versioned_destination<std::remove_reference_t<Destination>, Body, Metadata>::value;
    if constexpr (!versioned) detail::require_unversioned(job, "a destination without versions");
    const detail::ReplicaTarget to = detail::prepare_replica(metadata, job, options);
    const auto head = [&]() -> std::optional<ReplicaState> {
        if constexpr (versioned)
            return destination.head(to.bucket, to.key, job.version_id);
        else
            return destination.head(to.bucket, to.key);
    };
    const auto put = [&](const WriteCondition& condition) -> WriteResult {
        if constexpr (versioned) {
            if (job.delete_marker) return destination.put_delete_marker(to.bucket, to.key, job.version_id, metadata);
            return destination.put(to.bucket, to.key, job.version_id, body, metadata, condition);
        } else {
            return destination.put(to.bucket, to.key, body, metadata, condition);
        }
    };

    return detail::run_attempts(
        manager, job, options, [&](ReplicationOutcome& failure) -> std::optional<ReplicationResult> {
            for (int conflicts = 0;; ++conflicts) {
                std::optional<ReplicaState> replica;
                if (!detail::guarded([&] { replica = head(); }, failure)) return std::nullopt;
                if (replica && replica->generation > job.generation) return ReplicationResult::Superseded;
                if (replica && replica->generation == job.generation) return detail::stamp_completed(manager, job);
                WriteCondition condition;
                if (replica)
                    condition.if_match = replica->etag;
                else
                    condition.if_none_match = true;
                WriteResult written = WriteResult::Failed;
                if (!detail::guarded([&] { written = put(condition); }, failure)) return std::nullopt;
                if (written == WriteResult::Written) return detail::stamp_completed(manager, job);
                if (written == WriteResult::Failed)
                    return detail::failed(failure, FailureReason::WriteFailed,
                                          "the destination reported a failed write");
                if (conflicts >= options.precondition_retries)
                    return detail::failed(failure, FailureReason::PreconditionConflicts,
                                          "the replica changed between head and put " + std::to_string(conflicts + 1) +
                                              " times in a row (PreconditionFailed)");
                if (detail::superseded_at_source(manager, job)) return ReplicationResult::Superseded;
            }
        });
}

/// The unconditional form, for destinations without conditional writes.
/// It cannot stop an older job's write from landing after a newer one's:
/// when that happens its COMPLETED stamp is refused, the outcome is
/// SupersededAfterWrite, the dropped counter is bumped and the key is queued
/// for take_redrive_candidates (re-copy it at its newest generation). Prefer
/// the destination overload above, which makes that impossible.
///
/// `put(destination_bucket, destination_key, const Body&, const Metadata&)`
/// writes the replica and returns true (or anything that converts to bool)
/// on success; `false` or an exception is a failed attempt. Metadata, the
/// source check before each attempt, retries, FAILED and the exceptions are
/// as above.
///
///     auto outcome = s3repl::replicate_object(manager, job, bytes, metadata,
///         [&](const std::string& bucket, const std::string& key, const auto& body, const auto& meta) {
///             return store.put(bucket, key, body, meta); });
template <class Manager, class Body, class Metadata, class Put>
auto replicate_object(Manager& manager, const ReplicationJob& job, Body body, Metadata metadata, Put put,
                      const ReplicationOptions& options = {})
    -> std::enable_if_t<!detail::is_destination<Put, Body, Metadata>::value &&
                            !detail::is_versioned_destination<Put, Body, Metadata>::value,
                        ReplicationOutcome> {
    static_assert(detail::is_put_callable<Put, Body, Metadata>::value,
                  "s3repl: Put must be callable as put(const std::string& destination_bucket, const std::string& "
                  "destination_key, const Body& body, const Metadata& metadata), or be a destination with head() "
                  "and a conditional put() (see s3repl/destination.hpp)");
    static_assert(!detail::is_put_callable<Put, Body, Metadata>::value ||
                      detail::put_reports_success<Put, Body, Metadata>::value,
                  "s3repl: Put must return bool (true: the replica is stored) or something convertible to bool; "
                  "report a failure by returning false or throwing");
    static_assert(detail::has_request_redrive<Manager>::value,
                  "s3repl: the manager needs request_redrive(bucket, key) (the put overload queues stale writes)");
    detail::require_unversioned(job, "the put overload");
    const detail::ReplicaTarget to = detail::prepare_replica(metadata, job, options);

    return detail::run_attempts(
        manager, job, options, [&](ReplicationOutcome& failure) -> std::optional<ReplicationResult> {
            bool stored = false;
            if (!detail::guarded(
                    [&] { stored = static_cast<bool>(std::invoke(put, to.bucket, to.key, body, metadata)); }, failure))
                return std::nullopt;
            if (!stored) return detail::failed(failure, FailureReason::WriteFailed, "put reported failure");
            if (detail::stamp_completed(manager, job) == ReplicationResult::Completed)
                return ReplicationResult::Completed;
            manager.note_dropped();
            manager.request_redrive(job.source_bucket, job.source_key);
            return ReplicationResult::SupersededAfterWrite;
        });
}

} // namespace v0
} // namespace s3repl
