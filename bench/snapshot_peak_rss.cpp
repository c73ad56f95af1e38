// s3repl-snapshot-rss: the peak resident memory of a process that loads a
// snapshot of N entries with load_snapshot (the restore promise: 1,000,000
// entries, about 133 MB of JSON, in under 350 MB).
//
//     s3repl-snapshot-rss [--n N] [--file PATH]
//
// A child process builds the manager (the bench-spec data, all COMPLETED) and
// saves it, so the loading process starts small; the parent then loads the
// file and prints `bench load_snapshot_peak_rss n=<N> bytes=<VmHWM>`.

#include <s3repl/manager.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace {

long peak_rss_bytes() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) * 1024;
    return -1;
}

void write_snapshot(unsigned long n, const std::string& path) {
    s3repl::ReplicationManager manager;
    char bucket[32], key[48];
    for (unsigned long i = 0; i < n; ++i) {
        std::snprintf(bucket, sizeof bucket, "bucket-%02lu", i % 16);
        std::snprintf(key, sizeof key, "data/%08lu/object.bin", i);
        manager.record_status_if_newer(bucket, key, i + 1, s3repl::ReplicationStatus::Completed);
    }
    manager.save_snapshot(path);
}

} // namespace

int main(int argc, char** argv) {
    unsigned long n = 1000000;
    std::string path = "/tmp/s3repl-snapshot-rss.json";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--n")
            n = std::strtoul(argv[i + 1], nullptr, 10);
        else if (flag == "--file")
            path = argv[i + 1];
    }
    const pid_t child = fork();
    if (child == 0) {
        write_snapshot(n, path);
        std::_Exit(0);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "s3repl-snapshot-rss: could not write %s\n", path.c_str());
        return 1;
    }
    const auto manager = s3repl::ReplicationManager::load_snapshot(path);
    if (manager.size() != n) {
        std::fprintf(stderr, "s3repl-snapshot-rss: loaded %zu entries, expected %lu\n", manager.size(), n);
        return 1;
    }
    std::printf("bench load_snapshot_peak_rss n=%lu bytes=%ld\n", n, peak_rss_bytes());
    std::remove(path.c_str());
    return 0;
}
