#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace s3server {

/// The whole text of a file holding a secret (a credentials file, a bearer
/// token), named on the command line by `flag`. Like ssh with a private key,
/// refuses a file that group or others may access: the secret would not be
/// one. The checks are made on the opened file itself (fstat), so a file
/// swapped after the check is never read. Throws std::invalid_argument
/// `"FLAG PATH: reason"` (missing, not a regular file, open to others with
/// its mode and the chmod that fixes it, unreadable).
inline std::string read_private_file(const std::filesystem::path& path, const std::string& flag) {
    const std::string where = flag + " " + path.string() + ": ";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) throw std::invalid_argument(where + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw std::invalid_argument(where + std::strerror(errno));
    if (!S_ISREG(info.st_mode)) throw std::invalid_argument(where + "not a regular file");
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        throw std::invalid_argument(where + "group or others may access it (mode " + mode +
                                    "); make it private with chmod 600");
    }
    std::string text;
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got == 0) return text;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw std::invalid_argument(where + "cannot be read: " + std::strerror(errno));
        }
        text.append(buffer, static_cast<std::size_t>(got));
    }
}

} // namespace s3server
