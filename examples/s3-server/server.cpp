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

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

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

void print_restored(const s3repl::ReplicationManager& manager, const std::filesystem::path& snapshot) {
    const s3repl::ReplicationStats stats = manager.stats();
    std::cout << "restored " << snapshot.string() << ": " << stats.entries_pending << " pending, "
              << stats.entries_completed << " completed, " << stats.entries_failed << " failed" << std::endl;
}

void save(const s3repl::ReplicationManager& manager, const std::filesystem::path& snapshot) {
    try {
        manager.save_snapshot(snapshot);
    } catch (const s3repl::SnapshotError& error) {
        // The previous snapshot is intact; the next tick tries again.
        std::cerr << error.what() << '\n';
    }
}

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
        const bool restoring = std::filesystem::exists(store.snapshot_path());
        s3repl::ReplicationManager manager =
            restoring ? s3repl::ReplicationManager::load_snapshot(store.snapshot_path()) : s3repl::ReplicationManager{};
        s3repl::OutcomeMetrics metrics;
        s3server::Replicator replicator(manager, store,
                                        {options.fail_destination_percent, options.slow_destination,
                                         options.slow_destination_jitter, options.fail_destination_buckets},
                                        static_cast<std::size_t>(options.workers), metrics);
        s3server::MetricsEndpoint metrics_endpoint(manager, metrics, std::move(metrics_token));
        const s3server::SigV4Verifier verifier(std::move(credentials), options.allow_anonymous);
        s3server::S3Api api(manager, store, replicator, verifier);
        // Handlers block (disk writes, fsync), so more threads than cores:
        // this many requests are handled at once, however many are open.
        const std::size_t http_threads = std::max(8U, std::thread::hardware_concurrency());
        s3server::HttpServer http(
            options.listen, static_cast<unsigned short>(options.port), http_threads,
            [&](const s3server::HttpRequest& req) {
                return s3server::MetricsEndpoint::serves(req) ? metrics_endpoint.respond(req) : api.route(req);
            },
            [&](const s3server::S3Error& error) { return api.refuse(error); });
        const unsigned short port = http.port();

        // The first line of output on every start, as the README promises
        // (scripts wait for it): the socket already listens, and requests
        // wait in its backlog until the recovery below is done and run()
        // accepts them. Restore and re-drive messages, and
        // the re-driven copies' lines, come after it.
        std::cout << "listening on " << options.listen << ':' << port << std::endl;
        if (restoring) print_restored(manager, store.snapshot_path());
        const std::size_t redriven = replicator.recover();
        if (redriven > 0) std::cout << "re-driving " << redriven << " PENDING or FAILED destination(s)" << std::endl;
        const auto ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(options.sweep_ttl);
        s3repl::StaleSweeper sweeper(manager, s3repl::SweepPolicy{ttl, ttl}, ttl / 2,
                                     [](std::size_t swept, std::chrono::nanoseconds) {
                                         if (swept > 0) std::cout << "swept " << swept << " old entries" << std::endl;
                                     });
        s3server::PeriodicTask snapshots(options.snapshot_interval, [&] { save(manager, store.snapshot_path()); });

        std::thread signal_thread([&] {
            int signal = 0;
            sigwait(&stop_signals, &signal);
            http.stop(); // also when run() has not started: it then returns at once
        });

        http.run();
        pthread_kill(signal_thread.native_handle(), SIGTERM); // ends sigwait if no signal came
        signal_thread.join();

        // Queued and retrying copies stay PENDING in the final snapshot and
        // are re-driven at the next start.
        replicator.stop();
        snapshots.stop();
        sweeper.stop();
        manager.save_snapshot(store.snapshot_path());
        std::cout << "stopped; snapshot saved to " << store.snapshot_path().string() << std::endl;
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "s3repl-s3-server: " << error.what() << '\n';
        return 1;
    }
}
