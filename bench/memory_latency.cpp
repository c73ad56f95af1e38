// s3repl-memory-latency: what one dependent random read costs on this
// machine, for regions the size of s3repl's index and entries at a million
// entries. It is the floor under lookup_hit (two such reads in a row) and
// the yardstick for "near what the hardware allows".
//
//     s3repl-memory-latency [MiB...]      (default: 1 4 16 48 128)
//
// Prints one line per size: `latency mib=<M> ns_per_read=<x>`.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

namespace {

// One element per cache line, linked in a random cycle: each read's address
// comes from the previous read, so no two misses overlap.
struct alignas(64) Line {
    std::size_t next;
};

double dependent_read_ns(std::size_t mib) {
    const std::size_t lines = mib * 1024 * 1024 / sizeof(Line);
    std::vector<std::size_t> order(lines);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::shuffle(order.begin(), order.end(), std::mt19937_64{42});
    std::vector<Line> region(lines);
    for (std::size_t i = 0; i < lines; ++i) region[order[i]].next = order[(i + 1) % lines];

    const std::size_t reads = 4'000'000;
    std::size_t at = order[0];
    for (std::size_t i = 0; i < lines; ++i) at = region[at].next; // warm the page tables
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < reads; ++i) at = region[at].next;
    const auto stop = std::chrono::steady_clock::now();
    if (at >= lines) std::abort(); // uses `at`, so the chase cannot be optimised away
    return std::chrono::duration<double, std::nano>(stop - start).count() / static_cast<double>(reads);
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes;
    for (int i = 1; i < argc; ++i) {
        const long mib = std::strtol(argv[i], nullptr, 10);
        if (mib <= 0 || mib > 65536) {
            std::fprintf(stderr, "s3repl-memory-latency: '%s' is not a size in MiB (1 to 65536)\n", argv[i]);
            return 2;
        }
        sizes.push_back(static_cast<std::size_t>(mib));
    }
    if (sizes.empty()) sizes = {1, 4, 16, 48, 128};
    for (const std::size_t mib : sizes) std::printf("latency mib=%zu ns_per_read=%.1f\n", mib, dependent_read_ns(mib));
}
