#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace s3server {

/// Where this process writes files before renaming them into place: its own
/// directory under `root` (DIR/tmp/<pid>-<random>/), held with flock while
/// the process lives, so that several servers can share one data directory.
/// At start-up every other directory there whose flock can be taken belongs
/// to a process that died (the kernel dropped its lock): what it holds was
/// never renamed into place, never visible, and is removed. Files directly
/// in `root` are leftovers of servers from before these directories.
/// Thread-safe.
class TempArea {
  public:
    explicit TempArea(const std::filesystem::path& root) {
        std::filesystem::create_directories(root);
        claim_own(root);
        remove_leftovers(root);
    }
    TempArea(const TempArea&) = delete;
    TempArea& operator=(const TempArea&) = delete;
    ~TempArea() {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        ::close(fd_);
    }

    /// A name no other write of any process uses.
    std::filesystem::path next_path() { return dir_ / std::to_string(counter_++); }

  private:
    // A fresh directory, locked. A start-up sweep of another process may
    // take the lock between the mkdir and ours and remove it: then the
    // directory has no link left, and another name is tried.
    void claim_own(const std::filesystem::path& root) {
        std::random_device random;
        for (;;) {
            char name[40];
            std::snprintf(name, sizeof name, "%ld-%08x", static_cast<long>(::getpid()), random());
            const std::filesystem::path dir = root / name;
            if (::mkdir(dir.c_str(), 0755) != 0) {
                if (errno == EEXIST) continue;
                throw std::system_error(errno, std::generic_category(), "mkdir " + dir.string());
            }
            const int fd = lock_directory(dir, 0);
            struct stat info {};
            if (fd >= 0 && ::fstat(fd, &info) == 0 && info.st_nlink > 0) {
                dir_ = dir;
                fd_ = fd;
                return;
            }
            if (fd >= 0) ::close(fd);
        }
    }

    void remove_leftovers(const std::filesystem::path& root) const {
        for (const auto& entry : std::filesystem::directory_iterator(root)) {
            if (entry.path() == dir_) continue;
            std::error_code ignored;
            if (!entry.is_directory(ignored)) {
                std::filesystem::remove(entry.path(), ignored);
                continue;
            }
            const int fd = lock_directory(entry.path(), LOCK_NB);
            if (fd < 0) continue; // its process lives (or it is gone already)
            std::filesystem::remove_all(entry.path(), ignored);
            ::close(fd);
        }
    }

    // The directory opened and flocked exclusively; -1 when it cannot be
    // (with LOCK_NB: another process holds it).
    static int lock_directory(const std::filesystem::path& dir, int flags) {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return -1;
        int rc = 0;
        while ((rc = ::flock(fd, LOCK_EX | flags)) != 0 && errno == EINTR) {
        }
        if (rc == 0) return fd;
        ::close(fd);
        return -1;
    }

    std::filesystem::path dir_;
    int fd_ = -1;
    std::atomic<std::uint64_t> counter_{0};
};

} // namespace s3server
