#pragma once

#include "private_file.hpp"

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace s3server {

/// The access keys the server accepts: access key ID → secret access key.
/// Immutable once built; safe to read from any number of threads.
class Credentials {
  public:
    /// Parses the credentials file format: one `ACCESS_KEY_ID:SECRET_ACCESS_KEY`
    /// per line (the ID ends at the first ':', so a secret may hold one);
    /// blank lines and lines starting with '#' are skipped; a trailing CR
    /// (a file written on Windows) is dropped. An ID is printable ASCII
    /// without spaces, '/', ',' or '='; a secret is printable ASCII without
    /// spaces; neither is empty. Throws std::invalid_argument
    /// `"WHERE:LINE: reason"` for the first bad line or a repeated ID, and
    /// for a text holding no key at all (a server nobody could use).
    static Credentials parse(std::string_view text, const std::string& where) {
        Credentials credentials;
        std::size_t line_number = 0;
        while (!text.empty()) {
            ++line_number;
            const std::size_t end = text.find('\n');
            std::string_view line = text.substr(0, end);
            text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty() || line.front() == '#') continue;
            const auto bad = [&](const std::string& why) {
                return std::invalid_argument(where + ":" + std::to_string(line_number) + ": " + why);
            };
            const std::size_t colon = line.find(':');
            if (colon == std::string_view::npos) throw bad("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
            const std::string_view id = line.substr(0, colon);
            const std::string_view secret = line.substr(colon + 1);
            if (id.empty()) throw bad("the access key ID is empty");
            if (secret.empty()) throw bad("the secret access key is empty");
            for (const char c : id)
                if (!printable(c) || c == '/' || c == ',' || c == '=')
                    throw bad("an access key ID is printable ASCII without spaces, '/', ',' or '='");
            for (const char c : secret)
                if (!printable(c)) throw bad("a secret access key is printable ASCII without spaces");
            if (!credentials.secrets_.emplace(id, secret).second)
                throw bad("access key ID '" + std::string(id) + "' is listed twice");
        }
        if (credentials.secrets_.empty()) throw std::invalid_argument(where + ": the file holds no credentials");
        return credentials;
    }

    /// Reads and parses `path` (see parse), refusing a file that group or
    /// others may access (read_private_file). Errors name `--credentials PATH`.
    static Credentials read_file(const std::filesystem::path& path) {
        return parse(read_private_file(path, "--credentials"), "--credentials " + path.string());
    }

    /// The secret of `access_key_id`, or nullptr when the ID is unknown.
    /// O(log n).
    const std::string* secret_of(std::string_view access_key_id) const {
        const auto found = secrets_.find(access_key_id);
        return found == secrets_.end() ? nullptr : &found->second;
    }

  private:
    static bool printable(char c) noexcept { return c > ' ' && c < 0x7f; }

    std::map<std::string, std::string, std::less<>> secrets_;
};

} // namespace s3server
