#pragma once

#include "s3repl/detail/snapshot_reader.hpp"
#include "s3repl/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace s3repl {
inline namespace v0 {
namespace detail {

// ---- writing: lock, temp file, fsync, rename, fsync the directory -------

// The steps of a durable write, in order. Tests inject a fault before each
// to prove that every interruption leaves the old file or the new one.
// WaitForLock comes only when another save in the directory holds the lock.
enum class DurableWriteStep { WaitForLock, CreateTemporary, Write, SyncFile, Rename, SyncDirectory };
using DurableWriteHook = std::function<void(DurableWriteStep)>;

[[noreturn]] inline void throw_file_error(const std::filesystem::path& path, const std::string& doing, int error) {
    throw SnapshotError(path.string() + ": " + doing + ": " + std::strerror(error));
}

// Whether `name` is a temporary file of write_file_durably for the target
// named `target_name`: "." + target_name + ".tmp-" and the six letters or
// digits mkstemp puts for XXXXXX. Nothing else may match: a match is deleted.
inline bool is_temporary_of(std::string_view name, std::string_view target_name) noexcept {
    constexpr std::string_view infix = ".tmp-";
    constexpr std::size_t random_part = 6;
    if (name.size() != 1 + target_name.size() + infix.size() + random_part || name[0] != '.' ||
        name.substr(1, target_name.size()) != target_name || name.substr(1 + target_name.size(), infix.size()) != infix)
        return false;
    for (const char c : name.substr(name.size() - random_part))
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    return true;
}

// Removes the regular files in the directory `dir_fd` that are temporary
// files for `target_name`: what writers killed mid-save left behind (a
// snapshot-sized file each). Only under the directory lock, so none of them
// belongs to a save still running. Best effort: a leftover that cannot be
// listed or removed costs disk space, and failing the save over it would
// lose the new state.
inline void remove_leftover_temporaries(int dir_fd, std::string_view target_name) noexcept {
    const int list_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0); // closedir closes it; dir_fd stays ours
    if (list_fd < 0) return;
    const std::unique_ptr<DIR, int (*)(DIR*)> listing(::fdopendir(list_fd), &::closedir);
    if (!listing) {
        ::close(list_fd);
        return;
    }
    while (const ::dirent* entry = ::readdir(listing.get())) {
        struct ::stat st;
        if (is_temporary_of(entry->d_name, target_name) &&
            ::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            ::unlinkat(dir_fd, entry->d_name, 0);
    }
}

// Replaces `target` with the bytes `produce()` returns (a std::string), so
// that a crash at any instant leaves either the old file or the new one,
// never a torn or empty file. On failure the old file is untouched and the
// temporary file removed. The new file is readable by its owner only
// (mkstemp): a snapshot lists every object key. Every descriptor is
// close-on-exec, so a child exec'd meanwhile inherits none.
//
// Saves into one directory, from any thread or process, are serialised by
// an exclusive flock on the directory, held from before `produce()` is
// called until the directory is synced: of two saves to one path, the one
// that gets the lock second produces its bytes later and leaves them. Under
// the lock, temporary files of `target` left by killed writers are removed.
template <class Produce>
void write_file_durably(const std::filesystem::path& target, Produce&& produce, const DurableWriteHook& before = {}) {
    auto step = [&](DurableWriteStep s) {
        if (before) before(s);
    };
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const std::string name = target.filename().string();

    struct Descriptor {
        int fd;
        ~Descriptor() {
            if (fd >= 0) ::close(fd);
        }
    };
    // The lock goes with the descriptor: released when it closes, also when the process dies.
    const Descriptor directory{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (directory.fd < 0) throw_file_error(target, "cannot open directory " + dir.string(), errno);
    if (::flock(directory.fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) throw_file_error(target, "cannot lock " + dir.string(), errno);
        step(DurableWriteStep::WaitForLock);
        while (::flock(directory.fd, LOCK_EX) != 0)
            if (errno != EINTR) throw_file_error(target, "cannot lock " + dir.string(), errno);
    }
    remove_leftover_temporaries(directory.fd, name);
    const std::string data = produce();

    std::string temp = (dir / ("." + name + ".tmp-XXXXXX")).string();
    step(DurableWriteStep::CreateTemporary);
    const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) throw_file_error(target, "cannot create a temporary file in " + dir.string(), errno);
    // Until the rename, a failure removes the temporary file and keeps the old one.
    struct Cleanup {
        int fd;
        const std::string& path;
        bool armed = true;
        ~Cleanup() {
            if (fd >= 0) ::close(fd);
            if (armed) ::unlink(path.c_str());
        }
    } cleanup{fd, temp};

    step(DurableWriteStep::Write);
    for (std::size_t written = 0; written < data.size();) {
        const ::ssize_t n = ::write(fd, data.data() + written, data.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_file_error(target, "cannot write " + temp, errno);
        written += static_cast<std::size_t>(n);
    }
    step(DurableWriteStep::SyncFile);
    if (::fsync(fd) != 0) throw_file_error(target, "cannot fsync " + temp, errno);
    cleanup.fd = -1;
    if (::close(fd) != 0) throw_file_error(target, "cannot close " + temp, errno);

    step(DurableWriteStep::Rename);
    if (::rename(temp.c_str(), target.c_str()) != 0)
        throw_file_error(target, "cannot rename " + temp + " over it", errno);
    cleanup.armed = false;

    // The rename is durable only once the directory entry is on disk.
    step(DurableWriteStep::SyncDirectory);
    if (::fsync(directory.fd) != 0) throw_file_error(target, "cannot fsync directory " + dir.string(), errno);
}

// ---- reading ------------------------------------------------------------

// Reads the whole file, then parses it in place: the text is about as large
// as the tables it fills, and no DOM is built (1,000,000 entries, 133 MB of
// JSON, restore in well under 350 MB).
inline void read_snapshot_file(const std::filesystem::path& path, RestoredState& out, std::uint64_t seed, Timestamp now,
                               const RestoreOptions& options = RestoreOptions{}) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw_file_error(path, "cannot open", errno);
    std::string text;
    std::error_code size_error; // the size is only a hint: without it the string grows as it reads
    const std::uintmax_t size = std::filesystem::file_size(path, size_error);
    if (!size_error) text.reserve(static_cast<std::size_t>(size)); // no doubling: peak = file + tables
    char chunk[1 << 16];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file.get())) != 0;) text.append(chunk, n);
    if (std::ferror(file.get())) throw_file_error(path, "cannot read", errno != 0 ? errno : EIO);
    try {
        read_snapshot(text, out, seed, now, options);
    } catch (const SnapshotError& error) {
        throw SnapshotError(path.string() + ": " + (error.what() + std::strlen("[s3repl.snapshot] ")));
    }
}

} // namespace detail
} // namespace v0
} // namespace s3repl
