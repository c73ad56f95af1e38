#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace s3server {

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
};

inline constexpr const char* usage =
    "usage: s3repl-s3-server --data-dir DIR (--credentials FILE | --allow-anonymous)\n"
    "         [--listen 127.0.0.1] [--port N (0: any free port)]\n"
    "         [--sweep-ttl SECONDS (3600)] [--snapshot-interval-ms N (1000)] [--workers N (4)]\n"
    "         [--fail-destination-percent N (0)] [--fail-destination-bucket NAME (repeatable)]\n"
    "         [--slow-destination-ms N (0)] [--slow-destination-jitter-ms N (0)]\n"
    "         [--metrics-token-file FILE (GET /metrics needs Authorization: Bearer <its token>)]\n"
    "  --credentials FILE: one ACCESS_KEY_ID:SECRET_ACCESS_KEY per line ('#' comments), mode 600;\n"
    "    S3 requests must carry an AWS Signature Version 4 made with one of them\n"
    "  --allow-anonymous: unsigned requests are let in (without --credentials: nothing is checked)\n";

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
        else if (flag == "--snapshot-interval-ms")
            options.snapshot_interval = std::chrono::milliseconds(number(flag, value, 1, 86'400'000));
        else if (flag == "--metrics-token-file")
            options.metrics_token_file = value;
        else if (flag == "--credentials")
            options.credentials_file = value;
        else if (flag == "--workers")
            options.workers = static_cast<int>(number(flag, value, 1, 256));
        else
            throw std::invalid_argument("unknown flag " + std::string(flag));
    }
    if (options.data_dir.empty()) throw std::invalid_argument("--data-dir is required");
    if (options.credentials_file.empty() && !options.allow_anonymous)
        throw std::invalid_argument("--credentials FILE is required (or --allow-anonymous, to let anyone in)");
    return options;
}

} // namespace s3server
