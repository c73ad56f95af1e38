#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/detail/time_math.hpp"
#include "s3repl/error.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

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

namespace s3repl {
inline namespace v0 {

/// One replication to perform: what begin_replication hands to the executor
/// that will run replicate_object. A plain value; copy it freely.
struct ReplicationJob {
    ReplicationRule rule;
    std::string source_bucket;
    std::string source_key;
    std::uint64_t generation = 0;
};

/// The PUT path: when an enabled rule of `bucket` selects the object, mints a
/// generation, stamps PENDING with it (so a HEAD right after the PUT already
/// sees PENDING) and returns the job to run; otherwise stamps nothing and
/// returns nullopt. Thread-safe (the manager is). Cost: one rule match under
/// the config lock, one atomic increment, one stamp.
///
/// If the CAS refuses the PENDING stamp (a greater generation is stored
/// already, stamped by hand), the job is still returned: replicate_object
/// then reports it Superseded without writing.
///
///     if (auto job = s3repl::begin_replication(manager, "photos", "cat.jpg", tags))
///         pool.post([&manager, job = std::move(*job), body, meta, put] {
///             s3repl::replicate_object(manager, job, body, meta, put); });
template <class Manager>
std::optional<ReplicationJob> begin_replication(Manager& manager, std::string_view bucket, std::string_view key,
                                                const TagSet& object_tags = {}) {
    std::optional<ReplicationRule> rule = manager.match_rule(bucket, key, object_tags);
    if (!rule) return std::nullopt;
    const std::uint64_t generation = manager.next_generation();
    manager.record_status_if_newer(bucket, key, generation, ReplicationStatus::Pending);
    return ReplicationJob{std::move(*rule), std::string(bucket), std::string(key), generation};
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

/// The source object's Object Lock state, copied onto the replica.
struct ObjectLockState {
    std::optional<ObjectLockMode> mode;
    std::optional<std::chrono::system_clock::time_point> retain_until;
    bool legal_hold = false;
};

/// Everything about one replicate_object call beyond the job itself.
struct ReplicationOptions {
    RetryPolicy retry;
    /// The source's lock state; nullopt: the replica carries no lock headers.
    std::optional<ObjectLockState> object_lock;
    /// Where the replica goes in the destination bucket; nullopt: the source key.
    std::optional<std::string> destination_key;
    /// Waits between attempts; empty: std::this_thread::sleep_for. Tests
    /// pass one that records the delays and returns at once; a server that
    /// shuts down may pass one that throws to abandon the job (the entry
    /// stays PENDING, for the re-drive after restart).
    std::function<void(std::chrono::nanoseconds)> sleeper;
};

enum class ReplicationResult {
    Completed,  ///< `put` succeeded and COMPLETED was stamped at the job's generation
    Failed,     ///< every attempt failed and FAILED was stamped
    Superseded, ///< another task's stamp owns the status (a newer PUT, or a duplicate of this job that completed)
};

/// What replicate_object did.
struct ReplicationOutcome {
    ReplicationResult result = ReplicationResult::Failed;
    /// Calls made to `put` (0 when superseded before the first).
    int attempts = 0;
    /// The most recent failed attempt's error (an exception's what()); empty
    /// when no attempt failed.
    std::string last_error;
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
// describe.
template <class Metadata>
void set_replica_headers(Metadata& metadata, const ReplicationRule& rule, const std::optional<ObjectLockState>& lock) {
    constexpr std::string_view mode_header = "x-amz-object-lock-mode";
    constexpr std::string_view retain_header = "x-amz-object-lock-retain-until-date";
    constexpr std::string_view hold_header = "x-amz-object-lock-legal-hold";
    set_header(metadata, "x-amz-replication-status", to_aws_string(ReplicationStatus::Replica));
    if (rule.destination_storage_class) set_header(metadata, "x-amz-storage-class", *rule.destination_storage_class);
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

// One call to put; a throw is a failed attempt like `false`.
template <class Put, class Body, class Metadata>
bool attempt_put(Put& put, const std::string& bucket, const std::string& key, const Body& body,
                 const Metadata& metadata, std::string& error) {
    try {
        if (static_cast<bool>(std::invoke(put, bucket, key, body, metadata))) return true;
        error = "put reported failure";
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "put threw an exception not derived from std::exception";
    }
    return false;
}

inline void require_valid(const RetryPolicy& retry) {
    if (retry.attempts < 1) throw InvalidArgument("RetryPolicy: attempts must be at least 1");
    if (retry.initial_backoff.count() < 0 || retry.max_backoff.count() < 0)
        throw InvalidArgument("RetryPolicy: backoffs must not be negative");
    if (!(retry.multiplier >= 1)) throw InvalidArgument("RetryPolicy: multiplier must be at least 1");
}

} // namespace detail

/// Copies one object to the job's destination and stamps the outcome. Runs
/// synchronously on the calling thread: post it to the server's executor.
/// Thread-safe: any number may run at once, for the same key too.
///
/// `put(destination_bucket, destination_key, const Body&, const Metadata&)`
/// writes the replica and returns true (or anything that converts to bool)
/// on success; `false` or an exception is a failed attempt. `Body` is passed
/// through untouched. `Metadata` is a string-to-string map (std::map,
/// std::unordered_map, ...) with lower-case header names, as S3 stores them.
/// The replica's metadata is the source's plus `x-amz-replication-status:
/// REPLICA`, `x-amz-storage-class` when the rule overrides it, and the three
/// `x-amz-object-lock-*` headers from `options.object_lock`.
///
/// Before each attempt, a stored generation newer than the job's ends the
/// job as Superseded with no further write. After a successful put, the CAS
/// stamps COMPLETED; if a newer generation won meanwhile, the outcome is
/// Superseded and the manager's dropped counter is bumped (stale bytes were
/// written; the newer job overwrites them). After the last failed attempt,
/// the CAS stamps FAILED and the dropped counter is bumped; the outcome is
/// Failed, or Superseded when the CAS refused because another task's stamp
/// already owns the status (a newer success is never rolled back).
///
/// Cost: the metadata is copied once (taken by value); per attempt, one
/// allocation-free lookup and the put; one stamp at the end.
///
/// Throws InvalidArgument, before any call, for a RetryPolicy with fewer than
/// one attempt, a negative backoff or a multiplier below 1; an exception
/// from the sleeper or the manager propagates, leaving the entry PENDING for
/// the re-drive (stuck_pending).
///
///     auto outcome = s3repl::replicate_object(manager, job, bytes, metadata,
///         [&](const std::string& bucket, const std::string& key, const auto& body, const auto& meta) {
///             return store.put(bucket, key, body, meta); });
template <class Manager, class Body, class Metadata, class Put>
ReplicationOutcome replicate_object(Manager& manager, const ReplicationJob& job, Body body, Metadata metadata, Put put,
                                    const ReplicationOptions& options = {}) {
    static_assert(detail::is_string_map<Metadata>::value,
                  "s3repl: Metadata must be a string-to-string map such as std::map<std::string, std::string> or "
                  "std::unordered_map<std::string, std::string> (needs operator[] and erase)");
    static_assert(detail::is_put_callable<Put, Body, Metadata>::value,
                  "s3repl: Put must be callable as put(const std::string& destination_bucket, const std::string& "
                  "destination_key, const Body& body, const Metadata& metadata)");
    static_assert(!detail::is_put_callable<Put, Body, Metadata>::value ||
                      detail::put_reports_success<Put, Body, Metadata>::value,
                  "s3repl: Put must return bool (true: the replica is stored) or something convertible to bool; "
                  "report a failure by returning false or throwing");
    detail::require_valid(options.retry);

    detail::set_replica_headers(metadata, job.rule, options.object_lock);
    const std::string& destination_key = options.destination_key ? *options.destination_key : job.source_key;
    auto stamp = [&](ReplicationStatus status) {
        return manager.record_status_if_newer(job.source_bucket, job.source_key, job.generation, status);
    };

    ReplicationOutcome outcome;
    for (;;) {
        const auto stored = manager.lookup_entry(job.source_bucket, job.source_key);
        if (stored && stored->generation > job.generation) {
            outcome.result = ReplicationResult::Superseded;
            return outcome;
        }
        ++outcome.attempts;
        if (detail::attempt_put(put, job.rule.destination_bucket, destination_key, body, metadata,
                                outcome.last_error)) {
            if (stamp(ReplicationStatus::Completed)) {
                outcome.result = ReplicationResult::Completed;
            } else {
                outcome.result = ReplicationResult::Superseded;
                manager.note_dropped();
            }
            return outcome;
        }
        if (outcome.attempts >= options.retry.attempts) break;
        const std::chrono::nanoseconds delay = options.retry.backoff_after(outcome.attempts);
        if (options.sleeper)
            options.sleeper(delay);
        else
            std::this_thread::sleep_for(delay);
    }
    outcome.result = stamp(ReplicationStatus::Failed) ? ReplicationResult::Failed : ReplicationResult::Superseded;
    manager.note_dropped();
    return outcome;
}

} // namespace v0
} // namespace s3repl
