#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace s3server {

/// Where a Redis server listens.
struct RedisAddress {
    std::string host;
    int port = 0;
};

/// The command line.
struct ServerOptions {
    std::string listen = "127.0.0.1";
    int port = 0; ///< 0: the OS picks a free port (printed at start-up)
    std::filesystem::path data_dir;
    std::chrono::seconds sweep_ttl{3600};
    int fail_destination_percent = 0;
    std::vector<std::string> fail_destination_buckets; ///< every replica write to these fails
    std::chrono::milliseconds slow_destination{0};
    std::chrono::milliseconds slow_destination_jitter{0};
    std::chrono::milliseconds slow_commit_jitter{0};
    /// A test's: while this file exists, client PUTs wait between mint and rename.
    std::filesystem::path hold_commits_file;
    std::chrono::milliseconds snapshot_interval{1000};
    int workers = 4;
    /// Empty: GET /metrics is open; else it needs this file's bearer token.
    std::filesystem::path metrics_token_file;
    /// The access keys S3 requests must be signed with (SigV4); empty only
    /// with allow_anonymous. Never a secret on the command line itself.
    std::filesystem::path credentials_file;
    /// Unsigned requests are let in (and, without credentials_file, every
    /// request goes unchecked).
    bool allow_anonymous = false;
    /// Where the replication state lives: empty both, in this process (and
    /// its snapshot); else one Redis server (--redis) or a Redis Cluster
    /// (--redis-cluster, its seed nodes), shared by every server started on
    /// it with the same prefix.
    std::optional<RedisAddress> redis;
    std::string redis_cluster_seeds;
    std::string redis_prefix = "s3repl";
    /// On Redis: PENDING destinations stamped longer ago than this are
    /// re-driven, checked every half of it. It must exceed the slowest copy,
    /// retries included (parse_options refuses less than the injected
    /// faults' worst case); the default is far above the demo's copies
    /// (local file writes, three attempts 50 and 100 ms apart) and bounds
    /// how long a dead node's copies wait.
    std::chrono::milliseconds redrive_after{60'000};
    bool redrive_after_given = false;

    bool on_redis() const { return redis || !redis_cluster_seeds.empty(); }

    /// The longest one copy can take with the injected faults: three
    /// attempts (the library's default RetryPolicy), each delayed by at most
    /// slow + jitter, with 50 and 100 ms between them.
    std::chrono::milliseconds slowest_injected_copy() const {
        return 3 * (slow_destination + slow_destination_jitter) + std::chrono::milliseconds(150);
    }
};

/// "redis://HOST:PORT" (a trailing '/' allowed), or "HOST:PORT" (a seed of
/// --redis-cluster): a host of letters, digits, '.', '-' or an IPv4 address,
/// a port from 1 to 65535. Throws std::invalid_argument naming the flag.
inline RedisAddress parse_redis_address(std::string_view flag, std::string_view text, bool with_scheme) {
    const std::string what = std::string(flag) + " takes " +
                             (with_scheme ? "redis://HOST:PORT" : "HOST:PORT,HOST:PORT,...") + ", not '" +
                             std::string(text) + "'";
    std::string_view rest = text;
    if (with_scheme) {
        constexpr std::string_view scheme = "redis://";
        if (rest.substr(0, scheme.size()) != scheme) throw std::invalid_argument(what);
        rest.remove_prefix(scheme.size());
        if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    }
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) throw std::invalid_argument(what);
    const std::string_view host = rest.substr(0, colon);
    const std::string_view port = rest.substr(colon + 1);
    if (host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
            std::string_view::npos ||
        port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
        throw std::invalid_argument(what);
    const int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) throw std::invalid_argument(what);
    return {std::string(host), number};
}

inline constexpr const char* usage =
    "usage: s3repl-s3-server --data-dir DIR (--credentials FILE | --allow-anonymous)\n"
    "         [--listen 127.0.0.1] [--port N (0: any free port)]\n"
    "         [--sweep-ttl SECONDS (3600)] [--snapshot-interval-ms N (1000)] [--workers N (4)]\n"
    "         [--fail-destination-percent N (0)] [--fail-destination-bucket NAME (repeatable)]\n"
    "         [--slow-destination-ms N (0)] [--slow-destination-jitter-ms N (0)] [--slow-commit-jitter-ms N (0)]\n"
    "         [--hold-commits-file FILE (tests: PUT commits wait while it exists)]\n"
    "         [--metrics-token-file FILE (GET /metrics needs Authorization: Bearer <its token>)]\n"
    "         [--redis redis://HOST:PORT | --redis-cluster HOST:PORT,...] [--redis-prefix NAME (s3repl)]\n"
    "         [--redrive-after-ms N (60000; with Redis only)]\n"
    "  --credentials FILE: one ACCESS_KEY_ID:SECRET_ACCESS_KEY per line ('#' comments), mode 600;\n"
    "    S3 requests must carry an AWS Signature Version 4 made with one of them\n"
    "  --allow-anonymous: unsigned requests are let in (without --credentials: nothing is checked)\n"
    "  --redis, --redis-cluster: the replication state in Redis, shared by every server on it with the\n"
    "    same --redis-prefix (no snapshot file); servers sharing one --data-dir are one bucket store\n"
    "  --redrive-after-ms N: PENDING copies older than N are copied again (checked every N/2); N must\n"
    "    exceed the slowest copy, its retries included\n";

// The seeds of --redis-cluster, each checked; as given.
inline std::string redis_seeds(std::string_view flag, const std::string& value) {
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = value.find(',', start);
        parse_redis_address(flag, std::string_view(value).substr(start, comma - start), false);
        if (comma == std::string::npos) return value;
        start = comma + 1;
    }
}

// The library's rule for a key prefix: not empty, no hash-tag brace.
inline std::string redis_prefix(std::string_view flag, const std::string& value) {
    if (value.empty() || value.find_first_of("{}") != std::string::npos)
        throw std::invalid_argument(std::string(flag) + " takes a non-empty name without '{' or '}', not '" + value +
                                    "'");
    return value;
}

/// Throws std::invalid_argument with a one-line reason on a bad command line.
inline ServerOptions parse_options(int argc, char** argv) {
    ServerOptions options;
    const auto number = [](std::string_view flag, const std::string& text, long long low, long long high) {
        std::size_t used = 0;
        long long value = 0;
        try {
            value = std::stoll(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != text.size() || text.empty() || value < low || value > high)
            throw std::invalid_argument(std::string(flag) + " takes an integer from " + std::to_string(low) + " to " +
                                        std::to_string(high) + ", not '" + text + "'");
        return value;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--allow-anonymous") { // the one flag without a value
            options.allow_anonymous = true;
            continue;
        }
        if (i + 1 == argc) throw std::invalid_argument(std::string(flag) + " needs a value");
        const std::string value = argv[++i];
        if (flag == "--listen")
            options.listen = value;
        else if (flag == "--port")
            options.port = static_cast<int>(number(flag, value, 0, 65535));
        else if (flag == "--data-dir")
            options.data_dir = value;
        else if (flag == "--sweep-ttl")
            options.sweep_ttl = std::chrono::seconds(number(flag, value, 1, 1LL << 40));
        else if (flag == "--fail-destination-percent")
            options.fail_destination_percent = static_cast<int>(number(flag, value, 0, 100));
        else if (flag == "--fail-destination-bucket")
            options.fail_destination_buckets.push_back(value);
        else if (flag == "--slow-destination-ms")
            options.slow_destination = std::chrono::milliseconds(number(flag, value, 0, 3'600'000));
        else if (flag == "--slow-destination-jitter-ms")
            options.slow_destination_jitter = std::chrono::milliseconds(number(flag, value, 0, 3'600'000));
        else if (flag == "--slow-commit-jitter-ms")
            options.slow_commit_jitter = std::chrono::milliseconds(number(flag, value, 0, 10'000));
        else if (flag == "--hold-commits-file")
            options.hold_commits_file = value;
        else if (flag == "--snapshot-interval-ms")
            options.snapshot_interval = std::chrono::milliseconds(number(flag, value, 1, 86'400'000));
        else if (flag == "--metrics-token-file")
            options.metrics_token_file = value;
        else if (flag == "--credentials")
            options.credentials_file = value;
        else if (flag == "--workers")
            options.workers = static_cast<int>(number(flag, value, 1, 256));
        else if (flag == "--redis")
            options.redis = parse_redis_address(flag, value, true);
        else if (flag == "--redis-cluster")
            options.redis_cluster_seeds = redis_seeds(flag, value);
        else if (flag == "--redis-prefix")
            options.redis_prefix = redis_prefix(flag, value);
        else if (flag == "--redrive-after-ms") {
            options.redrive_after = std::chrono::milliseconds(number(flag, value, 2, 86'400'000));
            options.redrive_after_given = true;
        } else
            throw std::invalid_argument("unknown flag " + std::string(flag));
    }
    if (options.data_dir.empty()) throw std::invalid_argument("--data-dir is required");
    if (options.credentials_file.empty() && !options.allow_anonymous)
        throw std::invalid_argument("--credentials FILE is required (or --allow-anonymous, to let anyone in)");
    if (options.redis && !options.redis_cluster_seeds.empty())
        throw std::invalid_argument("--redis and --redis-cluster exclude each other");
    if (options.redrive_after_given && !options.on_redis())
        throw std::invalid_argument("--redrive-after-ms needs --redis or --redis-cluster (in memory, a start re-drives "
                                    "every PENDING copy)");
    if (options.on_redis() && options.redrive_after <= options.slowest_injected_copy())
        throw std::invalid_argument(
            "--redrive-after-ms " + std::to_string(options.redrive_after.count()) +
            " must exceed the slowest copy: 3 attempts of up to --slow-destination-ms + --slow-destination-jitter-ms, "
            "plus 150 ms of backoff, is " +
            std::to_string(options.slowest_injected_copy().count()) + " ms");
    return options;
}

} // namespace s3server
