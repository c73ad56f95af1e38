#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/destination_status.hpp"
#include "s3repl/outcome_metrics.hpp"
#include "s3repl/status.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// The Prometheus text exposition format (version 0.0.4), for the handful
// of metric shapes s3repl exports.
class PrometheusText {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }

    // One sample: `labels` is a list of (name, value) pairs.
    void sample(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                std::string_view value) {
        out_ += name;
        if (labels.size() != 0) {
            out_ += '{';
            bool first = true;
            for (const auto& [label, text] : labels) {
                if (!first) out_ += ',';
                first = false;
                out_ += label;
                out_ += "=\"";
                escape(text);
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    void sample(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                std::uint64_t value) {
        sample(name, labels, std::string_view(std::to_string(value)));
    }

    template <std::size_t Bounds>
    void histogram(std::string_view name, const OutcomeMetrics::Histogram<Bounds>& h,
                   const std::array<double, Bounds>& bounds) {
        const std::string bucket = std::string(name) + "_bucket";
        for (std::size_t i = 0; i < Bounds; ++i) sample(bucket, {{"le", number(bounds[i])}}, h.cumulative(i));
        sample(bucket, {{"le", "+Inf"}}, h.count());
        sample(std::string(name) + "_sum", {}, number(h.sum()));
        sample(std::string(name) + "_count", {}, h.count());
    }

    std::string take() && { return std::move(out_); }

  private:
    // Label values escape backslash, double quote and line feed.
    void escape(std::string_view text) {
        for (const char c : text) {
            if (c == '\\')
                out_ += "\\\\";
            else if (c == '"')
                out_ += "\\\"";
            else if (c == '\n')
                out_ += "\\n";
            else
                out_ += c;
        }
    }
    static std::string number(double value) {
        char text[32];
        const int n = std::snprintf(text, sizeof text, "%.15g", value);
        return std::string(text, n < 0 ? 0 : static_cast<std::size_t>(n));
    }

    std::string out_;
};

inline constexpr std::string_view prometheus_status_labels[replication_status_count] = {"pending", "completed",
                                                                                        "failed", "replica"};

// Label values are snake case, as Prometheus's own are.
constexpr std::string_view prometheus_label(ReplicationResult result) noexcept {
    switch (result) {
    case ReplicationResult::Completed: return "completed";
    case ReplicationResult::Failed: return "failed";
    case ReplicationResult::Superseded: return "superseded";
    case ReplicationResult::SupersededAfterWrite: return "superseded_after_write";
    }
    return "failed"; // unreachable for valid enumerators
}

} // namespace detail

/// The manager's exact counters, and what `metrics` recorded (when given),
/// in the Prometheus text exposition format, for a `GET /metrics`
/// (Content-Type `text/plain; version=0.0.4`). Metric names follow
/// Prometheus's conventions: an `s3repl_` prefix, `_total` on counters,
/// seconds for time:
/// - `s3repl_entries{status}`: tracked entries by status (for an object with
///   several destinations, the aggregate), from one consistent cut (stats());
/// - `s3repl_destination_entries{destination_bucket, status}`: per
///   destination bucket (destination_stats(); an empty bucket label counts
///   entries whose destination the rules decide);
/// - `s3repl_generations_minted_total`, `s3repl_stamps_total{outcome}`
///   (accepted, rejected), `s3repl_entries_swept_total`,
///   `s3repl_replications_dropped_total`;
/// - with `metrics`: `s3repl_replications_total{result}`,
///   `s3repl_replication_failures_total{reason}`, and the histograms
///   `s3repl_replication_latency_seconds` and `s3repl_replication_attempts`.
/// Cost: stats() and destination_stats() (every shard's read lock, briefly),
/// plus text linear in the number of destination buckets.
template <class Manager>
std::string to_prometheus(const Manager& manager, const OutcomeMetrics* metrics = nullptr) {
    const auto stats = manager.stats();
    const std::vector<DestinationCounts> destinations = manager.destination_stats();
    detail::PrometheusText text;
    const auto& labels = detail::prometheus_status_labels;

    text.family("s3repl_entries", "gauge",
                "Tracked objects by x-amz-replication-status (the aggregate over destinations).");
    const std::size_t by_status[] = {stats.entries_pending, stats.entries_completed, stats.entries_failed,
                                     stats.entries_replica};
    for (std::size_t i = 0; i < replication_status_count; ++i)
        text.sample("s3repl_entries", {{"status", labels[i]}}, by_status[i]);

    text.family("s3repl_destination_entries", "gauge", "Tracked objects by destination bucket and status.");
    for (const DestinationCounts& d : destinations) {
        text.sample("s3repl_destination_entries", {{"destination_bucket", d.destination_bucket}, {"status", labels[0]}},
                    d.pending);
        text.sample("s3repl_destination_entries", {{"destination_bucket", d.destination_bucket}, {"status", labels[1]}},
                    d.completed);
        text.sample("s3repl_destination_entries", {{"destination_bucket", d.destination_bucket}, {"status", labels[2]}},
                    d.failed);
    }

    text.family("s3repl_generations_minted_total", "counter", "Generation tokens minted.");
    text.sample("s3repl_generations_minted_total", {}, stats.generations_minted);
    text.family("s3repl_stamps_total", "counter", "Status stamps, by whether the CAS accepted them.");
    text.sample("s3repl_stamps_total", {{"outcome", "accepted"}}, stats.stamps_accepted);
    text.sample("s3repl_stamps_total", {{"outcome", "rejected"}}, stats.stamps_rejected);
    text.family("s3repl_entries_swept_total", "counter", "Terminal entries removed by the sweep.");
    text.sample("s3repl_entries_swept_total", {}, stats.entries_swept);
    text.family("s3repl_replications_dropped_total", "counter",
                "Replications given up, or superseded after their write.");
    text.sample("s3repl_replications_dropped_total", {}, stats.dropped_total);

    if (metrics != nullptr) {
        text.family("s3repl_replications_total", "counter", "Finished replicate_object calls, by result.");
        for (const ReplicationResult r : {ReplicationResult::Completed, ReplicationResult::Failed,
                                          ReplicationResult::Superseded, ReplicationResult::SupersededAfterWrite})
            text.sample("s3repl_replications_total", {{"result", detail::prometheus_label(r)}}, metrics->results(r));
        text.family("s3repl_replication_failures_total", "counter",
                    "Replications that ended FAILED, by the reason of their last attempt.");
        for (const FailureReason reason :
             {FailureReason::DestinationException, FailureReason::WriteFailed, FailureReason::PreconditionConflicts})
            text.sample("s3repl_replication_failures_total", {{"reason", to_string(reason)}},
                        metrics->failures(reason));
        text.family("s3repl_replication_latency_seconds", "histogram",
                    "Time from the source PUT to COMPLETED, by the manager's clock.");
        text.histogram("s3repl_replication_latency_seconds", metrics->latency(), OutcomeMetrics::latency_bounds);
        text.family("s3repl_replication_attempts", "histogram", "Attempts per replication that completed or failed.");
        text.histogram("s3repl_replication_attempts", metrics->attempts(), OutcomeMetrics::attempts_bounds);
    }
    return std::move(text).take();
}

} // namespace v0
} // namespace s3repl
