// A small S3-compatible server that embeds s3repl: buckets and objects in a
// data directory, bucket replication driven by the library. S3 requests
// must carry an AWS Signature Version 4 made with a key of --credentials.
// See README.md.

#include "credentials.hpp"
#include "http_server.hpp"
#include "metrics_endpoint.hpp"
#include "object_store.hpp"
#include "options.hpp"
#include "periodic_task.hpp"
#include "replicator.hpp"
#include "s3_api.hpp"
#include "sigv4.hpp"
#include "store_destination.hpp"

#include <s3repl/manager.hpp>
#include <s3repl/outcome_metrics.hpp>
#include <s3repl/sweeper.hpp>
#ifdef S3SERVER_HAVE_REDIS
#include <s3repl/redis.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include <pthread.h>

namespace {

void print_warning(const s3server::ServerOptions& options) {
    if (options.credentials_file.empty())
        std::cerr << "*******************************************************************************\n"
                     "* WARNING: --allow-anonymous without --credentials: s3repl-s3-server does NOT *\n"
                     "* check request signatures: anyone who can reach its port can read, write and *\n"
                     "* configure every bucket. Run it on a loopback address only.                  *\n"
                     "*******************************************************************************\n";
    else if (options.allow_anonymous)
        std::cerr << "WARNING: --allow-anonymous: unsigned requests may read, write and configure every bucket\n";
    if (options.listen != "127.0.0.1" && options.listen != "::1" && options.listen != "localhost")
        std::cerr << "WARNING: listening on " << options.listen << ", which may not be a loopback address!\n";
}

// Everything serve() needs from the command line.
struct Startup {
    s3server::ServerOptions options;
    std::optional<std::string> metrics_token;
    std::optional<s3server::Credentials> credentials;
    sigset_t stop_signals;
};

template <class Manager>
constexpr bool kept_in_memory = std::is_same_v<Manager, s3repl::ReplicationManager>;

template <class Manager>
std::string state_line(const Manager& manager, const std::string& where) {
    const s3repl::ReplicationStats stats = manager.stats();
    return where + ": " + std::to_string(stats.entries_pending) + " pending, " +
           std::to_string(stats.entries_completed) + " completed, " + std::to_string(stats.entries_failed) + " failed";
}

void save(const s3repl::ReplicationManager& manager, const std::filesystem::path& snapshot) {
    try {
        manager.save_snapshot(snapshot);
    } catch (const s3repl::SnapshotError& error) {
        // The previous snapshot is intact; the next tick tries again.
        std::cerr << error.what() << '\n';
    }
}

// The periodic work besides the sweep, as (interval, task). In memory: the
// snapshot, every --snapshot-interval-ms.
using PeriodicWork = std::pair<std::chrono::milliseconds, std::function<void()>>;
PeriodicWork periodic_work(s3repl::ReplicationManager& manager, const s3server::ObjectStore& store,
                           s3server::Replicator<s3repl::ReplicationManager>&, const s3server::ServerOptions& options) {
    return {options.snapshot_interval, [&manager, &store] { save(manager, store.snapshot_path()); }};
}

// On Redis: the re-drive of the copies a node lost (it died, or stopped
// with a queue), then of the objects whose PENDING stamp was lost (Redis
// failed it after the rename), every half of --redrive-after-ms.
template <class Manager>
PeriodicWork periodic_work(Manager&, const s3server::ObjectStore&, s3server::Replicator<Manager>& replicator,
                           const s3server::ServerOptions& options) {
    const std::chrono::milliseconds after = options.redrive_after;
    return {after / 2, [&replicator, after] {
                const std::string older = " older than " + std::to_string(after.count()) + " ms\n";
                try {
                    const std::size_t redriven = replicator.redrive_stale_pending(after);
                    if (redriven > 0)
                        std::cout << "re-driving " + std::to_string(redriven) + " PENDING destination(s)" + older
                                  << std::flush;
                    const std::size_t unstamped = replicator.redrive_unstamped(after);
                    if (unstamped > 0)
                        std::cout << "re-driving " + std::to_string(unstamped) +
                                         " destination(s) of objects stored without a status" + older
                                  << std::flush;
                } catch (const std::exception& error) {                // Redis out of reach, an unreadable file
                    std::cerr << "re-drive: " << error.what() << '\n'; // the next tick tries again
                }
            }};
}

// The server on `manager` until SIGINT or SIGTERM. `state` (may be empty)
// is printed after the first line.
template <class Manager>
int serve(Manager& manager, s3server::ObjectStore& store, Startup& startup, const std::string& state) {
    const s3server::ServerOptions& options = startup.options;
    s3repl::OutcomeMetrics metrics;
    s3server::Replicator<Manager> replicator(manager, store,
                                             {options.fail_destination_percent, options.slow_destination,
                                              options.slow_destination_jitter, options.fail_destination_buckets,
                                              options.slow_commit_jitter, options.hold_commits_file},
                                             static_cast<std::size_t>(options.workers), metrics);
    s3server::MetricsEndpoint<Manager> metrics_endpoint(manager, metrics, std::move(startup.metrics_token));
    const s3server::SigV4Verifier verifier(std::move(startup.credentials), options.allow_anonymous);
    std::function<void()> save_config;
    if constexpr (kept_in_memory<Manager>) save_config = [&] { manager.save_snapshot(store.snapshot_path()); };
    s3server::S3Api<Manager> api(manager, store, replicator, verifier, std::move(save_config));
    // Handlers block (disk writes, fsync), so more threads than cores:
    // this many requests are handled at once, however many are open.
    const std::size_t http_threads = std::max(8U, std::thread::hardware_concurrency());
    s3server::HttpServer http(
        options.listen, static_cast<unsigned short>(options.port), http_threads,
        [&](const s3server::HttpRequest& req) {
            return s3server::MetricsEndpoint<Manager>::serves(req) ? metrics_endpoint.respond(req) : api.route(req);
        },
        [&](const s3server::S3Error& error) { return api.refuse(error); });
    const unsigned short port = http.port();

    // The first line of output on every start, as the README promises
    // (scripts wait for it): the socket already listens, and requests
    // wait in its backlog until the recovery below is done and run()
    // accepts them. Restore and re-drive messages, and
    // the re-driven copies' lines, come after it.
    std::cout << "listening on " << options.listen << ':' << port << std::endl;
    if (!state.empty()) std::cout << state << std::endl;
    // On Redis, other nodes may be copying the PENDING ones: the periodic
    // re-drive takes those once they are older than --redrive-after-ms.
    using Replicator = s3server::Replicator<Manager>;
    const std::size_t redriven = replicator.recover(kept_in_memory<Manager> ? Replicator::PendingAtStart::Redrive
                                                                            : Replicator::PendingAtStart::Leave);
    if (redriven > 0)
        std::cout << "re-driving " << redriven << (kept_in_memory<Manager> ? " PENDING or FAILED" : " FAILED")
                  << " destination(s)" << std::endl;
    const auto ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(options.sweep_ttl);
    s3repl::StaleSweeper sweeper(manager, s3repl::SweepPolicy{ttl, ttl}, ttl / 2,
                                 [](std::size_t swept, std::chrono::nanoseconds) {
                                     if (swept > 0) std::cout << "swept " << swept << " old entries" << std::endl;
                                 });
    auto [interval, task] = periodic_work(manager, store, replicator, options);
    s3server::PeriodicTask periodic(interval, std::move(task));

    std::thread signal_thread([&] {
        int signal = 0;
        sigwait(&startup.stop_signals, &signal);
        http.stop(); // also when run() has not started: it then returns at once
    });

    http.run();
    pthread_kill(signal_thread.native_handle(), SIGTERM); // ends sigwait if no signal came
    signal_thread.join();

    // Queued and retrying copies stay PENDING (in memory, in the final
    // snapshot) and are re-driven at the next start, or on Redis by the
    // periodic re-drive of any node.
    replicator.stop();
    periodic.stop();
    sweeper.stop();
    if constexpr (kept_in_memory<Manager>) {
        manager.save_snapshot(store.snapshot_path());
        std::cout << "stopped; snapshot saved to " << store.snapshot_path().string() << std::endl;
    } else {
        std::cout << "stopped" << std::endl;
    }
    return 0;
}

#ifdef S3SERVER_HAVE_REDIS
int serve_on_redis(s3server::ObjectStore& store, Startup& startup) {
    const s3server::ServerOptions& options = startup.options;
    if (options.redis) {
        s3repl::RedisOptions redis;
        redis.host = options.redis->host;
        redis.port = options.redis->port;
        s3repl::RedisReplicationManager manager(redis, options.redis_prefix);
        const std::string where = "redis://" + redis.host + ':' + std::to_string(redis.port);
        return serve(manager, store, startup, state_line(manager, where + " prefix " + options.redis_prefix));
    }
    s3repl::RedisClusterOptions cluster;
    cluster.seeds = options.redis_cluster_seeds;
    s3repl::RedisReplicationManager manager(cluster, options.redis_prefix);
    return serve(manager, store, startup,
                 state_line(manager, "Redis Cluster " + cluster.seeds + " prefix " + options.redis_prefix));
}
#endif

} // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
            std::cout << s3server::usage;
            return 0;
        }
    }
    s3server::ServerOptions options;
    std::optional<std::string> metrics_token;
    std::optional<s3server::Credentials> credentials;
    try {
        options = s3server::parse_options(argc, argv);
    } catch (const std::invalid_argument& error) {
        std::cerr << error.what() << '\n' << s3server::usage;
        return 2;
    }
#ifndef S3SERVER_HAVE_REDIS
    if (options.on_redis()) {
        std::cerr << "s3repl-s3-server: --redis and --redis-cluster: this server was built without Redis support "
                     "(hiredis was not found when it was configured)\n";
        return 2;
    }
#endif
    try {
        if (!options.metrics_token_file.empty())
            metrics_token = s3server::read_metrics_token(options.metrics_token_file);
        if (!options.credentials_file.empty()) credentials = s3server::Credentials::read_file(options.credentials_file);
    } catch (const std::invalid_argument& error) {
        std::cerr << "s3repl-s3-server: " << error.what() << '\n';
        return 2;
    }

    // SIGINT and SIGTERM are taken by sigwait on one thread; blocked here,
    // before any thread starts, so every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    print_warning(options);
    try {
        s3server::ObjectStore store(options.data_dir);
        Startup startup{std::move(options), std::move(metrics_token), std::move(credentials), stop_signals};
#ifdef S3SERVER_HAVE_REDIS
        if (startup.options.on_redis()) return serve_on_redis(store, startup);
#endif
        const std::filesystem::path snapshot = store.snapshot_path();
        const bool restoring = std::filesystem::exists(snapshot);
        s3repl::ReplicationManager manager =
            restoring ? s3repl::ReplicationManager::load_snapshot(snapshot) : s3repl::ReplicationManager{};
        return serve(manager, store, startup, restoring ? state_line(manager, "restored " + snapshot.string()) : "");
    } catch (const std::exception& error) {
        std::cerr << "s3repl-s3-server: " << error.what() << '\n';
        return 1;
    }
}
