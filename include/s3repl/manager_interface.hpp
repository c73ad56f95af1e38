#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/destination_status.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/sweep_policy.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

// The one interface every manager satisfies: the members the dispatcher
// (begin_replication, replicate_object) and the sweeper (StaleSweeper) call.
// Each is a trait of its own, so the function that needs a member checks that
// one with a message naming it (a wrapper adding metrics, or another backend,
// learns at compile time what it lacks); is_replication_manager_v checks all.
namespace detail {

// Stand-ins for the callables the dispatcher and the sweeper pass.
struct CommitProbe {
    void operator()(std::uint64_t) const noexcept {}
};
struct KeepGoingProbe {
    bool operator()() const noexcept { return true; }
};

template <class M>
using match_rules_t = decltype(std::declval<const M&>().match_rules(std::string_view(), std::string_view(),
                                                                    std::declval<const TagSet&>()));
template <class M>
using commit_in_order_t =
    decltype(std::declval<M&>().commit_in_order(std::string_view(), std::string_view(), CommitProbe{}));
template <class M>
using record_destination_status_if_newer_t = decltype(std::declval<M&>().record_destination_status_if_newer(
    std::declval<const ObjectId&>(), std::string_view(), std::uint64_t(), ReplicationStatus::Pending));
template <class M>
using lookup_entry_t = decltype(std::declval<const M&>().lookup_entry(std::declval<const ObjectId&>()));
template <class M>
using mark_delete_marker_t = decltype(std::declval<M&>().mark_delete_marker(std::declval<const ObjectId&>()));
template <class M>
using forget_t = decltype(std::declval<M&>().forget(std::declval<const ObjectId&>()));
template <class M>
using note_dropped_t = decltype(std::declval<M&>().note_dropped());
template <class M>
using request_redrive_t = decltype(std::declval<M&>().request_redrive(std::string_view(), std::string_view()));
template <class M>
using clock_now_t = decltype(std::declval<const M&>().clock().now());
template <class M>
using sweep_stale_t = decltype(std::declval<M&>().sweep_stale(std::declval<Timestamp>(),
                                                              std::declval<const SweepPolicy&>(), KeepGoingProbe{}));
template <class M>
using failed_destinations_t = decltype(std::declval<const M&>().failed_destinations());
template <class M>
using stuck_pending_destinations_t = decltype(std::declval<const M&>().stuck_pending_destinations(
    std::declval<Timestamp>(), std::declval<std::chrono::nanoseconds>()));

// Whether `Member<M>` is well-formed and converts to `Result` (void: any).
template <template <class> class Member, class M, class Result, class = void>
struct has_member : std::false_type {};
template <template <class> class Member, class M, class Result>
struct has_member<Member, M, Result, std::void_t<Member<M>>>
    : std::bool_constant<std::is_void_v<Result> || std::is_convertible_v<Member<M>, Result>> {};

template <class M>
using has_match_rules = has_member<match_rules_t, M, std::vector<ReplicationRule>>;
template <class M>
using has_commit_in_order = has_member<commit_in_order_t, M, std::uint64_t>;
template <class M>
using has_record_destination_status_if_newer = has_member<record_destination_status_if_newer_t, M, bool>;
template <class M>
using has_lookup_entry = has_member<lookup_entry_t, M, std::optional<ReplicationStatusEntry>>;
template <class M>
using has_mark_delete_marker = has_member<mark_delete_marker_t, M, void>;
template <class M>
using has_forget = has_member<forget_t, M, bool>;
template <class M>
using has_note_dropped = has_member<note_dropped_t, M, void>;
template <class M>
using has_request_redrive = has_member<request_redrive_t, M, void>;
template <class M>
using has_clock = has_member<clock_now_t, M, Timestamp>;
template <class M>
using has_sweep_stale = has_member<sweep_stale_t, M, std::size_t>;
// The re-drive recipe's listings (README, "Dispatcher and sweeper"): what a
// server walks to feed redrive_jobs after a restart.
template <class M>
using has_failed_destinations = has_member<failed_destinations_t, M, std::vector<DestinationRef>>;
template <class M>
using has_stuck_pending_destinations = has_member<stuck_pending_destinations_t, M, std::vector<DestinationRef>>;

} // namespace detail

/// True when `Manager` has every member the dispatcher and the sweeper use:
/// match_rules, commit_in_order, record_destination_status_if_newer(ObjectId,
/// ...), lookup_entry(ObjectId), mark_delete_marker, forget, note_dropped,
/// request_redrive, clock().now() and sweep_stale(now, policy, keep_going). BasicReplicationManager satisfies it, and
/// so must any other manager (another backend, or a wrapper).
template <class Manager>
inline constexpr bool is_replication_manager_v =
    std::conjunction_v<detail::has_match_rules<Manager>, detail::has_commit_in_order<Manager>,
                       detail::has_record_destination_status_if_newer<Manager>, detail::has_lookup_entry<Manager>,
                       detail::has_mark_delete_marker<Manager>, detail::has_forget<Manager>,
                       detail::has_note_dropped<Manager>, detail::has_request_redrive<Manager>,
                       detail::has_clock<Manager>, detail::has_sweep_stale<Manager>>;

/// True when `Manager` also lists what the re-drive recipe re-copies:
/// failed_destinations() and stuck_pending_destinations(now, older_than).
/// Both managers (in memory, s3repl/redis.hpp) satisfy it.
template <class Manager>
inline constexpr bool is_redrive_source_v =
    std::conjunction_v<detail::has_failed_destinations<Manager>, detail::has_stuck_pending_destinations<Manager>>;

} // namespace v0
} // namespace s3repl
