#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include <cstddef>

namespace s3repl {
inline namespace v0 {

/// How restore_json, from_json and load_snapshot read a snapshot. Every
/// choice gives the same state and, for a bad snapshot, the same error:
/// these trade only time and memory.
///
///     auto manager = s3repl::ReplicationManager::load_snapshot(path, s3repl::RestoreOptions{4});
struct RestoreOptions {
    /// Threads reading "statuses": 1 reads on the calling thread. More split
    /// the array at entry boundaries found by a quick scan, read the parts
    /// in parallel (the calling thread and threads - 1 new ones), then store
    /// them into the tables in parallel, shard by shard in document order.
    /// It applies to a run of entries in the layout s3repl writes for an
    /// unversioned entry without destinations; a snapshot it cannot split so
    /// is read again on one thread, from the start. While it runs, it holds
    /// about 72 bytes per entry beside the text and the tables.
    std::size_t threads = 1;

    /// Reads entries in the exact layout s3repl writes in one pass of their
    /// bytes, and only the others through the general event-by-event reader
    /// (the default). False sends every entry through the general reader:
    /// the same result, slower; for measuring what the fast path buys.
    bool layout_fast_path = true;
};

} // namespace v0
} // namespace s3repl
