#pragma once

#include "http_text.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace s3server {

/// One object as ListObjectsV2 shows it.
struct ListedObject {
    std::string key;
    std::string etag;
    std::uint64_t size = 0;
    SystemTime last_modified{};
    std::string storage_class;
};

/// The query of a ListObjectsV2 request.
struct ListQuery {
    std::string prefix;
    std::string delimiter;
    std::string start_after;
    std::string continuation_token; ///< the last key (or common prefix) of the previous page
    std::size_t max_keys = 1000;
    bool url_encoding = false; ///< encoding-type=url: keys and prefixes come back percent-encoded
};

/// One page of results, in key order.
struct ListPage {
    std::vector<ListedObject> contents;
    std::vector<std::string> common_prefixes;
    bool truncated = false;
    std::string next_continuation_token;
};

/// S3's listing rules over `objects` sorted by key: keys under the prefix,
/// after start-after and the token; with a delimiter, keys sharing the text up
/// to the first delimiter after the prefix roll up into one common prefix;
/// contents and common prefixes together count against max-keys.
inline ListPage list_page(const std::vector<ListedObject>& objects, const ListQuery& query) {
    ListPage page;
    const std::string& after = std::max(query.start_after, query.continuation_token);
    for (const ListedObject& object : objects) {
        if (object.key.compare(0, query.prefix.size(), query.prefix) != 0 || object.key <= after) continue;
        std::string rolled_up;
        if (!query.delimiter.empty()) {
            const std::size_t at = object.key.find(query.delimiter, query.prefix.size());
            if (at != std::string::npos) rolled_up = object.key.substr(0, at + query.delimiter.size());
        }
        // A key inside the last common prefix adds nothing new; the token
        // (that prefix) skips the rest of its keys on the next page because
        // they sort after it.
        if (!rolled_up.empty() && !page.common_prefixes.empty() && page.common_prefixes.back() == rolled_up) continue;
        if (!rolled_up.empty() && rolled_up <= after) continue;
        if (page.contents.size() + page.common_prefixes.size() == query.max_keys) {
            page.truncated = true;
            break;
        }
        if (rolled_up.empty()) {
            page.contents.push_back(object);
            page.next_continuation_token = object.key;
        } else {
            page.common_prefixes.push_back(rolled_up);
            page.next_continuation_token = rolled_up;
        }
    }
    if (!page.truncated) page.next_continuation_token.clear();
    return page;
}

} // namespace s3server
