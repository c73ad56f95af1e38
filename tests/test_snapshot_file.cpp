// The durable save around the snapshot (s3repl/detail/snapshot_file.hpp,
// behind save_snapshot): what a killed save leaves is removed by the next
// save of the same target and nothing else is; every descriptor it opens is
// close-on-exec; concurrent saves to one path, from threads or processes,
// take turns, so the one that takes its state last leaves it. The steps
// themselves (a fault before each leaves the old file or the new one) are in
// test_snapshot.cpp.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using s3repl::ReplicationStatus;
using s3repl::detail::DurableWriteStep;
using s3repl::detail::write_file_durably;
using namespace s3repl_test;

namespace {

// A manager holding `objects` statuses, all Pending.
Manager manager_with(int objects) {
    Manager m{s3repl::ManualClock{}};
    for (int i = 0; i < objects; ++i)
        m.record_status("bucket", "object-" + std::to_string(i), ReplicationStatus::Pending);
    return m;
}

// How many statuses the snapshot at `path` holds.
std::size_t statuses_in(const fs::path& path) { return Manager::load_snapshot(path, s3repl::ManualClock{}).size(); }

// The open descriptors of this process whose file lies in `dir` (or is
// `dir`), with whether each is close-on-exec.
struct OpenFile {
    std::string path;
    bool close_on_exec;
};
std::vector<OpenFile> open_files_in(const fs::path& dir) {
    const std::string root = fs::canonical(dir).string();
    std::vector<OpenFile> found;
    for (const auto& item : fs::directory_iterator("/proc/self/fd")) {
        char target[PATH_MAX];
        const ::ssize_t n = ::readlink(item.path().c_str(), target, sizeof target - 1);
        if (n < 0) continue; // closed since the listing was read
        const std::string file(target, static_cast<std::size_t>(n));
        if (file != root && file.rfind(root + "/", 0) != 0) continue;
        const int flags = ::fcntl(std::stoi(item.path().filename().string()), F_GETFD);
        found.push_back({file, flags >= 0 && (flags & FD_CLOEXEC) != 0});
    }
    return found;
}

// A one-byte message down a pipe, between a parent and a forked child.
struct Pipe {
    int ends[2] = {-1, -1};
    Pipe() { REQUIRE(::pipe(ends) == 0); }
    ~Pipe() {
        for (const int fd : ends)
            if (fd >= 0) ::close(fd);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    bool send() const { return ::write(ends[1], "x", 1) == 1; }
    bool receive() const {
        char byte;
        ::ssize_t n;
        while ((n = ::read(ends[0], &byte, 1)) < 0 && errno == EINTR) {
        }
        return n == 1;
    }
};

// Runs `body` in a forked child, which exits with 0 if it returned and 1 if
// it threw; returns the child's pid. The child leaves through _exit, so
// nothing of the parent's (Catch's reporters, the TempDir) runs twice.
template <class Body>
::pid_t fork_child(Body body) {
    const ::pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        try {
            body();
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);
    }
    return pid;
}

int wait_for_exit(::pid_t pid) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

} // namespace

TEST_CASE("a save removes its target's leftover temporary files and nothing else", "[snapshot][file]") {
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    const std::vector<std::string> leftovers = {".state.json.tmp-AbC123", ".state.json.tmp-000000",
                                                ".state.json.tmp-zzzzzz"};
    const std::vector<std::string> kept = {
        ".other.json.tmp-AbC123",  // another target's
        ".state.json.tmp-AbC12",   // five random characters
        ".state.json.tmp-AbC1234", // seven
        ".state.json.tmp-AbC12-",  // not a letter or digit
        "state.json.tmp-AbC123",   // no leading dot
        ".state.json.tmp-",        // nothing after the infix
        ".state.jsonXtmp-AbC123",  // a different infix
        ".xstate.json.tmp-AbC123", // a target whose name ends like ours
        "notes.txt",
    };
    for (const std::string& name : leftovers) write_raw(dir.path() / name, std::string(4096, 'x'));
    for (const std::string& name : kept) write_raw(dir.path() / name, name);
    // Matching names that are not regular files stay too: a directory, and a
    // symbolic link (its target as well).
    fs::create_directory(dir.path() / ".state.json.tmp-Dir456");
    fs::create_symlink("notes.txt", dir.path() / ".state.json.tmp-Lnk789");

    manager_with(3).save_snapshot(path);

    std::vector<std::string> expected = kept;
    expected.insert(expected.end(), {".state.json.tmp-Dir456", ".state.json.tmp-Lnk789", "state.json"});
    std::sort(expected.begin(), expected.end());
    CHECK(dir.names() == expected);
    for (const std::string& name : kept) CHECK(read_raw(dir.path() / name) == name);
    CHECK(statuses_in(path) == 3);
}

TEST_CASE("a save killed mid-write leaves its temporary file; the next save removes it", "[snapshot][file]") {
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    manager_with(1).save_snapshot(path);

    // The child dies as a kill -9 would leave it: no destructors, no cleanup.
    const Manager big = manager_with(200);
    const ::pid_t child = fork_child([&] {
        write_file_durably(
            path, [&] { return big.to_json(); },
            [](DurableWriteStep step) {
                if (step == DurableWriteStep::Rename) ::_exit(0);
            });
    });
    REQUIRE(wait_for_exit(child) == 0);
    const std::vector<std::string> left = dir.names();
    REQUIRE(left.size() == 2);
    CHECK(s3repl::detail::is_temporary_of(left[0], "state.json"));
    CHECK(statuses_in(path) == 1);

    manager_with(2).save_snapshot(path);
    CHECK(dir.names() == std::vector<std::string>{"state.json"});
    CHECK(statuses_in(path) == 2);
}

TEST_CASE("every descriptor a save opens is close-on-exec", "[snapshot][file]") {
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    std::vector<OpenFile> seen;
    write_file_durably(
        path, [] { return manager_with(2).to_json(); },
        [&](DurableWriteStep) {
            for (const OpenFile& file : open_files_in(dir.path())) seen.push_back(file);
        });
    // The directory (locked, then synced) and the temporary file were open during the steps.
    const std::string root = fs::canonical(dir.path()).string();
    const auto is_temporary = [&](const OpenFile& file) {
        return s3repl::detail::is_temporary_of(fs::path(file.path).filename().string(), "state.json");
    };
    CHECK(std::any_of(seen.begin(), seen.end(), [&](const OpenFile& file) { return file.path == root; }));
    CHECK(std::any_of(seen.begin(), seen.end(), is_temporary));
    for (const OpenFile& file : seen) {
        INFO(file.path);
        CHECK(file.close_on_exec);
    }
    CHECK(open_files_in(dir.path()).empty()); // and all are closed once it returns
}

// The race: save 1 takes the older state, save 2 the newer one; save 2
// renames first, then save 1 renames the older state over it. Here save 1
// stops before its rename until save 2 has either finished (the race: no
// lock) or found the lock taken; then save 1 goes on. Save 2 must then take
// its state after save 1 has finished, and leave it.
TEST_CASE("of two concurrent saves to one path, the one that takes its state last leaves it",
          "[snapshot][file][concurrent]") {
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    Manager m = manager_with(1);

    std::promise<void> first_at_rename, first_may_rename, second_blocked_or_done;
    std::atomic<bool> second_reported{false};
    const auto report_second = [&] {
        if (!second_reported.exchange(true)) second_blocked_or_done.set_value();
    };
    std::atomic<bool> second_waited{false};
    bool first_ok = false, second_ok = false;

    std::thread first([&] {
        write_file_durably(
            path, [&] { return m.to_json(); },
            [&](DurableWriteStep step) {
                if (step != DurableWriteStep::Rename) return;
                first_at_rename.set_value();
                first_may_rename.get_future().wait();
            });
        first_ok = true;
    });
    first_at_rename.get_future().wait();
    m.record_status("bucket", "newer", ReplicationStatus::Completed); // what only the second save can see

    std::thread second([&] {
        write_file_durably(
            path, [&] { return m.to_json(); },
            [&](DurableWriteStep step) {
                if (step != DurableWriteStep::WaitForLock) return;
                second_waited = true;
                report_second();
            });
        second_ok = true;
        report_second();
    });
    second_blocked_or_done.get_future().wait();
    first_may_rename.set_value();
    first.join();
    second.join();

    CHECK(first_ok);
    CHECK(second_ok);
    CHECK(second_waited);
    const Manager saved = Manager::load_snapshot(path, s3repl::ManualClock{});
    CHECK(saved.lookup_status("bucket", "newer") == ReplicationStatus::Completed);
    CHECK(saved.size() == 2);
    CHECK(dir.names() == std::vector<std::string>{"state.json"});
}

// The same across processes: a child's save stops before its rename (its
// temporary file in place) until the parent's save has found the lock taken,
// or has finished. The parent's save must wait for the child's, must not
// remove the child's temporary file as a leftover, and must leave its state.
TEST_CASE("a save in another process holding the directory is waited for, its temporary file kept",
          "[snapshot][file]") {
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    const Manager older = manager_with(1), newer = manager_with(2);
    Pipe at_rename, may_rename;

    const ::pid_t child = fork_child([&] {
        write_file_durably(
            path, [&] { return older.to_json(); },
            [&](DurableWriteStep step) {
                if (step != DurableWriteStep::Rename) return;
                if (!at_rename.send() || !may_rename.receive()) ::_exit(2);
            });
    });
    REQUIRE(at_rename.receive());

    bool waited = false;
    write_file_durably(
        path, [&] { return newer.to_json(); },
        [&](DurableWriteStep step) {
            if (step != DurableWriteStep::WaitForLock) return;
            waited = true;
            REQUIRE(may_rename.send());
        });
    if (!waited) REQUIRE(may_rename.send());

    CHECK(wait_for_exit(child) == 0); // 1: its save threw (its temporary file was removed under it)
    CHECK(waited);
    CHECK(statuses_in(path) == 2);
    CHECK(dir.names() == std::vector<std::string>{"state.json"});
}
