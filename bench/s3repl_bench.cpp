// s3repl-bench: the workloads of docs/bench-spec.md, on s3repl's manager
// (--impl s3repl, the default) or on the obvious design (--impl naive), so one
// run shows the gain over the baseline side by side. Two more implementations
// are s3repl with one default swapped back, to measure what that default buys:
// s3repl-system-clock (SystemClock: nanoseconds) and s3repl-std-shared-mutex.
// --impl abseil is the strongest obvious alternative (Abseil's
// flat_hash_map, simdjson On-Demand), built when both packages are found.
// --impl redis is s3repl's Redis manager on a loopback redis-server (built
// when hiredis is found), with workloads of its own (redis_workloads.hpp).
//
//     s3repl-bench [--n N] [--only NAME[,NAME...]] [--threads T] [--impl NAME] [--redis HOST:PORT]
//
// Results go to stdout, one `bench ...` line each; progress and errors go to
// stderr. Every timed loop's results are checked afterwards (and land in a
// volatile sink), so a broken or optimised-away loop fails the run instead of
// printing a flattering figure.

#include "naive_manager.hpp"
#if defined(S3REPL_BENCH_HAVE_ABSEIL)
#include "abseil_manager.hpp"
#endif
#if defined(S3REPL_BENCH_HAVE_REDIS)
#include "redis_manager.hpp"
#include "redis_server_process.hpp"
#include "redis_workloads.hpp"
#endif

#include <s3repl/manager.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <numeric>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace s3repl_bench {
namespace {

using s3repl::ReplicationStatus;
using s3repl::Timestamp;

constexpr std::uint64_t order_multiplier = 2654435761u;
constexpr std::uint64_t order_increment = 12345;
// Keys carry i in eight digits, so i stays below 10^8.
constexpr std::uint64_t max_n = 100000000;
constexpr std::size_t bucket_count = 16;
constexpr int runs = 3;

// Workloads in the order the spec lists them; the last two are the size lines.
constexpr std::array<std::string_view, 14> known_names = {
    "mint",  "stamp_insert", "stamp_update", "stamp_stale",      "lookup_hit", "lookup_miss",    "lookup_batch",
    "sweep", "snapshot",     "restore",      "restore_2threads", "mixed",      "snapshot_bytes", "rss_per_entry"};
// Keys per call of lookup_batch.
constexpr std::size_t batch_size = 64;

// Where each timed loop's result ends up: the optimiser must compute what a
// volatile store reads.
volatile std::uint64_t sink;

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

void expect(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error("check failed: " + what);
}

constexpr std::string_view impl_names[] = {
    "s3repl", "naive", "s3repl-system-clock", "s3repl-std-shared-mutex", "s3repl-general-reader",
#if defined(S3REPL_BENCH_HAVE_ABSEIL)
    "abseil",
#endif
#if defined(S3REPL_BENCH_HAVE_REDIS)
    "redis",
#endif
};
// --impl redis's N without --n: each of its calls is a round trip.
constexpr std::uint64_t redis_default_n = 50000;

struct Options {
    std::uint64_t n = 1000000;
    std::uint64_t threads = 2;
    std::string impl = "s3repl";
    std::string redis;                       // --redis HOST:PORT; empty: --impl redis starts its own server
    std::set<std::string, std::less<>> only; // empty: everything

    bool wants(std::string_view name) const { return only.empty() || only.count(name) != 0; }
};

const char* const usage =
    "usage: s3repl-bench [--n N] [--only NAME[,NAME...]] [--threads T] [--impl NAME] [--redis HOST:PORT]\n"
    "  --n        entries, default 1000000 (--impl redis: 50000); must be coprime with 2654435761\n"
    "             and at most 100000000\n"
    "  --only     mint, stamp_insert, stamp_update, stamp_stale, lookup_hit, lookup_miss, lookup_batch,\n"
    "             sweep, snapshot, restore, restore_2threads, mixed, snapshot_bytes, rss_per_entry (default: all)\n"
    "  --threads  threads for mixed, default 2\n"
    "  --impl     s3repl (default), naive (one shared_mutex around an unordered_map), or s3repl with\n"
    "             one default swapped back: s3repl-system-clock, s3repl-std-shared-mutex,\n"
    "             s3repl-general-reader (restore without the layout fast path)\n"
#if defined(S3REPL_BENCH_HAVE_ABSEIL)
    "             abseil: 32 absl::flat_hash_map shards under absl::Mutex, simdjson restore\n"
#else
    "             (abseil: not built here; it needs libabsl-dev and libsimdjson-dev)\n"
#endif
#if defined(S3REPL_BENCH_HAVE_REDIS)
    "             redis: the Redis manager, which also runs redis_stamp_batch, redis_stamp_t1/2/4/8,\n"
    "             redis_lookup_t1/2/4/8, redis_mint_t1/2/4/8, redis_server_memory (docs/bench-spec.md)\n"
    "  --redis    --impl redis's server; default: a redis-server of its own on a free loopback port\n";
#else
    "             (redis: not built here; it needs libhiredis-dev)\n";
#endif

std::uint64_t parse_count(std::string_view flag, std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value == 0)
        throw UsageError(std::string(flag) + " expects a positive integer, got '" + std::string(text) + "'");
    return value;
}

#if defined(S3REPL_BENCH_HAVE_REDIS)
s3repl::RedisOptions redis_endpoint(const std::string& host_port) {
    const std::size_t colon = host_port.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw UsageError("--redis expects HOST:PORT, got '" + host_port + "'");
    s3repl::RedisOptions server;
    server.host = host_port.substr(0, colon);
    const std::uint64_t port = parse_count("--redis's port", std::string_view(host_port).substr(colon + 1));
    if (port > 65535) throw UsageError("--redis: port " + std::to_string(port) + " is above 65535");
    server.port = static_cast<int>(port);
    return server;
}
#endif

Options parse_options(int argc, char** argv) {
    Options o;
    bool n_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        std::optional<std::string_view> value;
        if (const auto eq = flag.find('='); eq != std::string_view::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        if (flag == "--help" || flag == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        if (flag != "--n" && flag != "--only" && flag != "--threads" && flag != "--impl" && flag != "--redis")
            throw UsageError("unknown argument '" + std::string(argv[i]) + "'");
        if (!value) {
            if (i + 1 == argc) throw UsageError(std::string(flag) + " needs a value");
            value = argv[++i];
        }
        if (flag == "--n") {
            o.n = parse_count(flag, *value);
            n_given = true;
        } else if (flag == "--redis") {
#if defined(S3REPL_BENCH_HAVE_REDIS)
            redis_endpoint(std::string(*value)); // refused now, before the inputs are built
#endif
            o.redis = std::string(*value);
        } else if (flag == "--threads") {
            o.threads = parse_count(flag, *value);
        } else if (flag == "--impl") {
            if (std::find(std::begin(impl_names), std::end(impl_names), *value) == std::end(impl_names))
                throw UsageError("--impl: unknown implementation '" + std::string(*value) + "'" +
                                 (*value == "abseil" ? " (this build found no libabsl-dev and libsimdjson-dev)" : ""));
            o.impl = std::string(*value);
        } else {
            for (std::string_view rest = *value; !rest.empty();) {
                const std::size_t comma = std::min(rest.find(','), rest.size());
                const std::string_view name = rest.substr(0, comma);
                if (std::find(known_names.begin(), known_names.end(), name) == known_names.end()
#if defined(S3REPL_BENCH_HAVE_REDIS)
                    && std::find(redis_workload_names.begin(), redis_workload_names.end(), name) ==
                           redis_workload_names.end()
#endif
                )
                    throw UsageError("--only: unknown workload '" + std::string(name) + "'");
                o.only.emplace(name);
                rest = rest.substr(std::min(comma + 1, rest.size()));
            }
        }
    }
    if (o.impl == "redis" && !n_given) o.n = redis_default_n;
    // order(j) is a permutation of [0, N) only when N shares no factor with the multiplier.
    if (std::gcd(o.n, order_multiplier) != 1)
        throw UsageError("--n " + std::to_string(o.n) + " is not coprime with 2654435761, so the visiting order " +
                         "(j * 2654435761 + 12345) mod N would repeat entries; choose another N (1000000 is fine)");
    if (o.n > max_n) throw UsageError("--n is at most 100000000 (keys carry i in eight digits)");
    if (o.threads > 1024) throw UsageError("--threads is at most 1024");
    return o;
}

// Fixed-width strings packed in one buffer. The timed loops read them
// front to back, so input access is sequential and the misses measured
// are the table's own.
class TextColumn {
  public:
    TextColumn(std::size_t width, std::size_t count) : width_(width), text_(width * count, '\0') {}
    std::string_view operator[](std::size_t i) const noexcept { return {text_.data() + i * width_, width_}; }
    void set(std::size_t i, std::string_view value) {
        expect(value.size() == width_, "fixed-width input");
        std::memcpy(&text_[i * width_], value.data(), width_);
    }

  private:
    std::size_t width_;
    std::string text_;
};

std::string numbered(const char* format, std::uint64_t i) {
    char text[64];
    const int length = std::snprintf(text, sizeof text, format, static_cast<unsigned long long>(i));
    return std::string(text, static_cast<std::size_t>(length));
}

// The spec's data, built once before any timing.
struct Data {
    explicit Data(std::uint64_t count) : n(count), keys(24, count), visited_keys(24, count), missing_keys(16, count) {
        for (std::size_t b = 0; b < bucket_count; ++b) buckets[b] = numbered("bucket-%02llu", b);
        order.resize(n);
        for (std::uint64_t i = 0; i < n; ++i) {
            keys.set(i, numbered("data/%08llu/object.bin", i));
            missing_keys.set(i, numbered("missing/%08llu", i));
        }
        for (std::uint64_t j = 0; j < n; ++j) {
            order[j] = static_cast<std::uint32_t>((j * order_multiplier + order_increment) % n);
            visited_keys.set(j, keys[order[j]]);
        }
    }

    std::string_view bucket(std::uint64_t i) const noexcept { return buckets[i % bucket_count]; }
    static std::uint64_t generation(std::uint64_t i) noexcept { return i + 1; }

    std::uint64_t n;
    std::array<std::string, bucket_count> buckets;
    std::vector<std::uint32_t> order;
    TextColumn keys;         // key(i)
    TextColumn visited_keys; // key(order(j))
    TextColumn missing_keys; // "missing/" + eight-digit i
};

template <class Body>
double elapsed_ns(Body&& body) {
    const auto start = std::chrono::steady_clock::now();
    body();
    const auto stop = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(stop - start).count();
}

double median(std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

void print_result(std::string_view name, std::uint64_t ops, const std::vector<double>& ns_per_op) {
    std::printf("bench %.*s n=%llu ns_per_op=%.1f\n", static_cast<int>(name.size()), name.data(),
                static_cast<unsigned long long>(ops), median(ns_per_op));
    std::fflush(stdout);
}

void progress(std::string_view what, int run) {
    std::fprintf(stderr, "  %.*s run %d/%d\n", static_cast<int>(what.size()), what.data(), run + 1, runs);
}

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t total_pages = 0, resident_pages = 0;
    expect(static_cast<bool>(statm >> total_pages >> resident_pages), "reading /proc/self/statm");
    return resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// Hands freed heap pages back to the kernel, so that a later allocation has
// to grow the resident set instead of reusing them unseen.
void trim_heap() {
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

s3repl::ReplicationConfig snapshot_config() {
    s3repl::ReplicationRule rule;
    rule.id = "replicate-data";
    rule.priority = 1;
    rule.filter.prefix = "data/";
    rule.destination_bucket = "bucket-00-replica";
    return s3repl::ReplicationConfig{"arn:aws:iam::123456789012:role/replication", {rule}};
}

// A snapshot text with the order of its entries factored out (s3repl's and
// every peer's come from hash maps): the text around the statuses, their
// number and the sum of their hashes, which no order changes. Entries are
// cut at the `}],[[` between two of them, which the spec's keys never hold.
struct SnapshotShape {
    explicit SnapshotShape(std::string_view text) {
        constexpr std::string_view open = "\"statuses\":[[[", close = "}]],\"next_generation\":", between = "}],[[";
        const std::size_t first = text.find(open), last = text.rfind(close);
        expect(first != std::string_view::npos && last != std::string_view::npos && first < last,
               "a snapshot with a statuses array and a next_generation");
        head = std::string(text.substr(0, first + open.size()));
        tail = std::string(text.substr(last));
        std::string_view rest = text.substr(first + open.size(), last - first - open.size());
        for (;;) {
            const std::size_t cut = std::min(rest.find(between), rest.size());
            ++entries;
            hash_sum += std::hash<std::string_view>{}(rest.substr(0, cut));
            if (cut == rest.size()) break;
            rest = rest.substr(cut + between.size());
        }
    }
    friend bool operator==(const SnapshotShape& a, const SnapshotShape& b) {
        return a.head == b.head && a.tail == b.tail && a.entries == b.entries && a.hash_sum == b.hash_sum;
    }

    std::string head, tail;
    std::size_t entries = 0;
    std::uint64_t hash_sum = 0;
};

// Each implementation stamps with its own default wall clock: s3repl's reads
// whole seconds, the naive one (like the Rust design) system_clock::now().
template <class WallClockType = s3repl::ReplicationManager::clock_type,
          class Mutex = s3repl::ReplicationManager::mutex_type, bool LayoutFastPath = true>
struct S3replImpl {
    template <class Clock>
    using Manager = s3repl::BasicReplicationManager<Clock, Mutex>;
    using WallClock = WallClockType;

    template <class AnyManager>
    static AnyManager restore(const std::string& json, std::size_t threads) {
        s3repl::RestoreOptions options;
        options.threads = threads;
        options.layout_fast_path = LayoutFastPath;
        return AnyManager::from_json(json, options);
    }
};
// The peers read on one thread (the spec's restore_2threads for them is their restore).
template <template <class Clock> class PeerManager, class WallClockType>
struct OneThreadPeer {
    template <class Clock>
    using Manager = PeerManager<Clock>;
    using WallClock = WallClockType;

    template <class AnyManager>
    static AnyManager restore(const std::string& json, std::size_t) {
        return AnyManager::from_json(json);
    }
};
using NaiveImpl = OneThreadPeer<NaiveManager, s3repl::SystemClock>;
#if defined(S3REPL_BENCH_HAVE_ABSEIL)
// Whole seconds, like s3repl's default: the same clock cost and the same snapshot bytes.
using AbseilImpl = OneThreadPeer<AbseilManager, s3repl::CoarseSystemClock>;
#endif
#if defined(S3REPL_BENCH_HAVE_REDIS)
// Whole seconds, like s3repl's default (and RedisReplicationManager's).
using RedisImpl = OneThreadPeer<RedisBenchManager, s3repl::CoarseSystemClock>;
#endif

// lookup_batch's call: the manager's batch lookup where it has one, else a
// loop over single lookups (as the spec says).
template <class Manager, class = void>
struct has_batch_lookup : std::false_type {};
template <class Manager>
struct has_batch_lookup<Manager, std::void_t<decltype(std::declval<const Manager&>().lookup_statuses(
                                     std::declval<const s3repl::ObjectId*>(), std::size_t{},
                                     std::declval<std::optional<ReplicationStatus>*>()))>> : std::true_type {};

template <class Manager>
void lookup_statuses(const Manager& manager, const s3repl::ObjectId* objects, std::size_t count,
                     std::optional<ReplicationStatus>* out) {
    if constexpr (has_batch_lookup<Manager>::value) {
        manager.lookup_statuses(objects, count, out);
    } else {
        for (std::size_t i = 0; i < count; ++i) out[i] = manager.lookup_status(objects[i].bucket, objects[i].key);
    }
}

// Runs the selected workloads on one implementation.
template <class Impl>
class Bench {
    using Manager = typename Impl::template Manager<typename Impl::WallClock>;
    using ManualManager = typename Impl::template Manager<s3repl::ManualClock>;

  public:
    Bench(const Options& options, const Data& data) : o_(options), d_(data), n_(data.n) {}

    void run() {
        // First, while the heap has nothing freed in it to hide growth.
        std::optional<double> rss_per_entry;
        if (o_.wants("rss_per_entry")) rss_per_entry = measure_rss_per_entry();
        if (o_.wants("mint")) mint();
        if (o_.wants("stamp_insert") || o_.wants("stamp_update") || o_.wants("stamp_stale") || o_.wants("lookup_hit") ||
            o_.wants("lookup_miss") || o_.wants("lookup_batch"))
            stamps_and_lookups();
        if (o_.wants("sweep")) sweep();
        if (o_.wants("snapshot") || o_.wants("restore") || o_.wants("restore_2threads") || o_.wants("snapshot_bytes"))
            snapshot_and_restore();
        if (o_.wants("mixed")) mixed();
        // The size lines come last, as the spec lists them.
        if (snapshot_bytes_)
            std::printf("bench snapshot_bytes n=%llu bytes=%zu\n", static_cast<unsigned long long>(n_),
                        *snapshot_bytes_);
        if (rss_per_entry)
            std::printf("bench rss_per_entry n=%llu bytes_per_entry=%.1f\n", static_cast<unsigned long long>(n_),
                        *rss_per_entry);
    }

  private:
    // Stamps (bucket(i), key(i)) for every i at gen(i) - behind; returns how many were accepted.
    template <class AnyManager>
    std::uint64_t stamp_all(AnyManager& manager, std::uint64_t behind, ReplicationStatus status) const {
        std::uint64_t accepted = 0;
        for (std::uint64_t i = 0; i < n_; ++i)
            accepted += manager.record_status_if_newer(d_.bucket(i), d_.keys[i], Data::generation(i) - behind, status);
        sink = accepted;
        return accepted;
    }

    double measure_rss_per_entry() const {
        std::fprintf(stderr, "  rss_per_entry\n");
        trim_heap();
        const double before = static_cast<double>(resident_bytes());
        Manager manager;
        expect(stamp_all(manager, 0, ReplicationStatus::Pending) == n_, "rss_per_entry: every insert accepted");
        return (static_cast<double>(resident_bytes()) - before) / static_cast<double>(n_);
    }

    void mint() const {
        const std::uint64_t calls = 10 * n_;
        std::vector<double> samples;
        for (int r = 0; r < runs; ++r) {
            progress("mint", r);
            Manager manager;
            std::uint64_t last = 0;
            samples.push_back(elapsed_ns([&] {
                                  for (std::uint64_t c = 0; c < calls; ++c) last = manager.next_generation();
                              }) /
                              static_cast<double>(calls));
            sink = last;
            expect(last == calls, "mint: generations 1 to 10*N");
        }
        print_result("mint", calls, samples);
    }

    void stamps_and_lookups() const {
        std::vector<double> insert, update, stale, hit, miss, batch;
        // lookup_batch's input: lookup_hit's keys, in its order.
        std::vector<s3repl::ObjectId> visited;
        if (o_.wants("lookup_batch")) {
            visited.reserve(n_);
            for (std::uint64_t j = 0; j < n_; ++j) visited.push_back({d_.bucket(d_.order[j]), d_.visited_keys[j]});
        }
        for (int r = 0; r < runs; ++r) {
            progress("stamp_insert, stamp_update, stamp_stale, lookup_hit, lookup_miss, lookup_batch", r);
            Manager manager;
            std::uint64_t accepted = 0;
            insert.push_back(per_op([&] { accepted = stamp_all(manager, 0, ReplicationStatus::Pending); }));
            expect(accepted == n_, "stamp_insert: every stamp accepted");
            if (o_.wants("stamp_update")) {
                update.push_back(per_op([&] { accepted = stamp_all(manager, 0, ReplicationStatus::Completed); }));
                expect(accepted == n_, "stamp_update: every equal-generation stamp accepted");
            }
            if (o_.wants("stamp_stale")) {
                stale.push_back(per_op([&] { accepted = stamp_all(manager, 1, ReplicationStatus::Failed); }));
                expect(accepted == 0, "stamp_stale: every older-generation stamp rejected");
            }
            if (o_.wants("lookup_hit")) {
                std::uint64_t found = 0;
                hit.push_back(per_op([&] {
                    for (std::uint64_t j = 0; j < n_; ++j)
                        found += manager.lookup_status(d_.bucket(d_.order[j]), d_.visited_keys[j]).has_value();
                }));
                sink = found;
                expect(found == n_, "lookup_hit: every key found");
            }
            if (o_.wants("lookup_miss")) {
                std::uint64_t found = 0;
                miss.push_back(per_op([&] {
                    for (std::uint64_t i = 0; i < n_; ++i)
                        found += manager.lookup_status(d_.bucket(i), d_.missing_keys[i]).has_value();
                }));
                sink = found;
                expect(found == 0, "lookup_miss: no key found");
            }
            if (o_.wants("lookup_batch")) {
                // What the stamps before it left: Completed after stamp_update, else Pending.
                const ReplicationStatus stored =
                    o_.wants("stamp_update") ? ReplicationStatus::Completed : ReplicationStatus::Pending;
                std::uint64_t found = 0;
                std::array<std::optional<ReplicationStatus>, batch_size> statuses;
                batch.push_back(per_op([&] {
                    for (std::uint64_t j = 0; j < n_; j += batch_size) {
                        const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(batch_size, n_ - j));
                        lookup_statuses(manager, visited.data() + j, count, statuses.data());
                        for (std::size_t k = 0; k < count; ++k) found += statuses[k] == stored;
                    }
                }));
                sink = found;
                expect(found == n_, "lookup_batch: every key found with its stored status");
            }
        }
        if (o_.wants("stamp_insert")) print_result("stamp_insert", n_, insert);
        if (o_.wants("stamp_update")) print_result("stamp_update", n_, update);
        if (o_.wants("stamp_stale")) print_result("stamp_stale", n_, stale);
        if (o_.wants("lookup_hit")) print_result("lookup_hit", n_, hit);
        if (o_.wants("lookup_miss")) print_result("lookup_miss", n_, miss);
        if (o_.wants("lookup_batch")) print_result("lookup_batch", n_, batch);
    }

    void sweep() const {
        std::vector<double> samples;
        for (int r = 0; r < runs; ++r) {
            progress("sweep", r);
            const s3repl::ManualClock clock(Timestamp{std::chrono::seconds{1700000000}});
            ManualManager manager(clock);
            for (std::uint64_t i = 0; i < n_; ++i)
                manager.record_status_if_newer(d_.bucket(i), d_.keys[i], Data::generation(i),
                                               i % 2 == 0 ? ReplicationStatus::Completed : ReplicationStatus::Pending);
            const Timestamp now = clock.now() + std::chrono::hours{2};
            std::size_t removed = 0;
            samples.push_back(per_op([&] { removed = manager.sweep_stale(now, std::chrono::hours{1}); }));
            sink = removed;
            // The spec's N/2, counted exactly: the even i in [0, N).
            expect(removed == (n_ + 1) / 2, "sweep: exactly the Completed half removed");
            expect(manager.size() == n_ / 2, "sweep: the Pending half kept");
        }
        print_result("sweep", n_, samples);
    }

    void snapshot_and_restore() {
        std::vector<double> snapshot, restore, restore_2threads;
        std::string json;
        for (int r = 0; r < runs; ++r) {
            progress("snapshot", r);
            Manager manager;
            manager.put_config(d_.bucket(0), snapshot_config());
            expect(stamp_all(manager, 0, ReplicationStatus::Completed) == n_, "snapshot: every entry stamped");
            std::string text;
            snapshot.push_back(per_op([&] { text = manager.to_json(); }));
            json = std::move(text);
        }
        const auto restore_runs = [&](std::string_view name, std::size_t threads, std::vector<double>& samples) {
            if (!o_.wants(name)) return;
            for (int r = 0; r < runs; ++r) {
                progress(name, r);
                std::optional<Manager> restored;
                samples.push_back(per_op([&] { restored.emplace(Impl::template restore<Manager>(json, threads)); }));
                expect(restored->size() == n_, std::string(name) + ": every entry back");
                expect(restored->lookup_status(d_.bucket(n_ - 1), d_.keys[n_ - 1]) == ReplicationStatus::Completed,
                       std::string(name) + ": the last entry Completed");
            }
        };
        restore_runs("restore", 1, restore);
        restore_runs("restore_2threads", 2, restore_2threads);
        if (o_.wants("snapshot")) print_result("snapshot", n_, snapshot);
        if (o_.wants("restore")) print_result("restore", n_, restore);
        if (o_.wants("restore_2threads")) print_result("restore_2threads", n_, restore_2threads);
        if (o_.wants("snapshot_bytes")) {
            check_snapshot_bytes();
            snapshot_bytes_ = json.size();
        }
    }

    // The spec's snapshot state recorded at one fixed whole second, so that
    // any two implementations' texts can be compared.
    template <class AnyManager>
    std::string fixed_time_snapshot() const {
        AnyManager manager{s3repl::ManualClock(Timestamp{std::chrono::seconds{1700000000}})};
        manager.put_config(d_.bucket(0), snapshot_config());
        expect(stamp_all(manager, 0, ReplicationStatus::Completed) == n_, "snapshot_bytes: every entry stamped");
        return manager.to_json();
    }

    // What makes snapshot_bytes and restore comparable across
    // implementations: this one writes s3repl's text for the spec's snapshot
    // state (entry order aside), and reads s3repl's text back to that state.
    void check_snapshot_bytes() const {
        std::fprintf(stderr, "  snapshot_bytes: the text against s3repl's\n");
        const std::string reference = fixed_time_snapshot<s3repl::BasicReplicationManager<s3repl::ManualClock>>();
        const SnapshotShape expected(reference);
        expect(SnapshotShape(fixed_time_snapshot<ManualManager>()) == expected,
               "snapshot_bytes: the same text as s3repl's for the spec's snapshot state (entry order aside)");
        expect(SnapshotShape(ManualManager::from_json(reference).to_json()) == expected,
               "restore: s3repl's snapshot read back to the state it holds");
    }

    void mixed() const {
        const std::uint64_t threads = o_.threads;
        const std::uint64_t per_thread = n_ / threads;
        std::vector<double> samples;
        for (int r = 0; r < runs; ++r) {
            progress("mixed", r);
            Manager manager;
            expect(stamp_all(manager, 0, ReplicationStatus::Pending) == n_, "mixed: every entry stamped");
            std::atomic<std::uint64_t> ready{0};
            std::atomic<bool> go{false};
            std::vector<std::uint64_t> succeeded(threads, 0);
            std::vector<std::thread> workers;
            for (std::uint64_t t = 0; t < threads; ++t) {
                workers.emplace_back([&, t] {
                    ready.fetch_add(1);
                    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
                    std::uint64_t ok = 0;
                    for (std::uint64_t j = 0; j < per_thread; ++j) {
                        // (j*T + t) < N, so "mod N" never wraps: entry order(j*T + t).
                        const std::uint64_t k = j * threads + t;
                        const std::uint64_t entry = d_.order[k];
                        if (j % 10 == 0)
                            ok += manager.record_status_if_newer(d_.bucket(entry), d_.visited_keys[k],
                                                                 Data::generation(entry), ReplicationStatus::Completed);
                        else
                            ok += manager.lookup_status(d_.bucket(entry), d_.visited_keys[k]).has_value();
                    }
                    succeeded[t] = ok;
                });
            }
            while (ready.load() != threads) std::this_thread::yield();
            samples.push_back(per_op([&] {
                go.store(true, std::memory_order_release);
                for (std::thread& worker : workers) worker.join();
            }));
            const std::uint64_t total = std::accumulate(succeeded.begin(), succeeded.end(), std::uint64_t{0});
            sink = total;
            expect(total == per_thread * threads, "mixed: every stamp accepted and every lookup found");
        }
        print_result("mixed", n_, samples);
    }

    template <class Body>
    double per_op(Body&& body) const {
        return elapsed_ns(std::forward<Body>(body)) / static_cast<double>(n_);
    }

    const Options& o_;
    const Data& d_;
    std::uint64_t n_;
    std::optional<std::size_t> snapshot_bytes_;
};

#if defined(S3REPL_BENCH_HAVE_REDIS)
// --impl redis: the spec's workloads but rss_per_entry (the client holds no
// entries: its line says so), then the Redis-only ones, on the server of
// --redis or on one of its own, stopped by its PID when this returns.
void run_redis(const Options& options, const Data& data) {
    std::optional<RedisServerProcess> own;
    if (options.redis.empty()) own.emplace();
    redis_bench_server() = own ? own->options() : redis_endpoint(options.redis);
    redis_bench_server().timeout = std::chrono::seconds(10); // a loaded machine is slow, not broken
    std::fprintf(stderr, "  redis-server %s:%d%s\n", redis_bench_server().host.c_str(), redis_bench_server().port,
                 own ? " (started for this run)" : "");
    Options spec = options;
    if (spec.only.empty()) spec.only.insert(known_names.begin(), known_names.end());
    const bool rss_asked = spec.only.erase("rss_per_entry") != 0;
    if (std::any_of(known_names.begin(), known_names.end(), [&](std::string_view name) { return spec.wants(name); }))
        Bench<RedisImpl>(spec, data).run();
    if (rss_asked)
        std::printf("bench rss_per_entry n=%llu unsupported=entries-live-in-the-server\n",
                    static_cast<unsigned long long>(data.n));
    RedisWorkloads<Data>(data, runs).run([&](std::string_view name) { return options.wants(name); });
}
#endif

} // namespace
} // namespace s3repl_bench

int main(int argc, char** argv) {
    using namespace s3repl_bench;
    try {
        const Options options = parse_options(argc, argv);
        std::fprintf(stderr, "s3repl-bench: impl=%s n=%llu threads=%llu; building inputs\n", options.impl.c_str(),
                     static_cast<unsigned long long>(options.n), static_cast<unsigned long long>(options.threads));
        const Data data(options.n);
        if (options.impl == "naive")
            Bench<NaiveImpl>(options, data).run();
        else if (options.impl == "s3repl-system-clock")
            Bench<S3replImpl<s3repl::SystemClock>>(options, data).run();
        else if (options.impl == "s3repl-general-reader")
            Bench<S3replImpl<s3repl::ReplicationManager::clock_type, s3repl::ReplicationManager::mutex_type, false>>(
                options, data)
                .run();
        else if (options.impl == "s3repl-std-shared-mutex")
            Bench<S3replImpl<s3repl::ReplicationManager::clock_type, std::shared_mutex>>(options, data).run();
#if defined(S3REPL_BENCH_HAVE_ABSEIL)
        else if (options.impl == "abseil")
            Bench<AbseilImpl>(options, data).run();
#endif
#if defined(S3REPL_BENCH_HAVE_REDIS)
        else if (options.impl == "redis")
            run_redis(options, data);
#endif
        else
            Bench<S3replImpl<>>(options, data).run();
        return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "s3repl-bench: %s\n%s", e.what(), usage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "s3repl-bench: %s\n", e.what());
        return 1;
    }
}
