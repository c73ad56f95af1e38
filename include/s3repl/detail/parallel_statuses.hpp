#pragma once

#include "s3repl/detail/entry_table.hpp"
#include "s3repl/detail/writer_entry.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>
#include <thread>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// The entries of "statuses" on several threads (RestoreOptions::threads).
//
// The text from the array's first element is cut into `threads` parts at
// the byte pattern that separates two entries the writer wrote ("}],[[\"");
// a cut inside a string or past the array is possible, so each part is
// read with WriterEntryParser alone and every cut is checked: the part
// before it, read from a true element boundary, must end exactly there, so
// each part starts at a true boundary in turn. Parts are read in parallel
// into staging split by shard group, then each thread stores one group's
// entries, part by part in document order, so that a key listed twice
// keeps its later entry as on one thread. The last part ends at the first
// element the parser declines (or the array's end), where the general
// reader carries on.
//
// Anything else, a part the parser declines or a cut that does not hold or
// an entry a table refuses, returns failed: the caller then reads the whole
// snapshot again on one thread, which reports what is wrong as it always
// would. Nothing here reports an error.
class ParallelStatuses {
  public:
    struct Result {
        bool ok = false;
        const char* next = nullptr; // where the general reader carries on
        std::size_t count = 0;      // elements read
    };

    ParallelStatuses(std::array<EntryTable, shard_count>& tables, std::uint64_t seed) : tables_(tables), seed_(seed) {}

    Result read(const char* first, const char* end, std::size_t threads) {
        std::vector<const char*> cuts{first};
        for (std::size_t k = 1; k < threads; ++k) {
            const char* from = first + static_cast<std::size_t>(end - first) / threads * k;
            if (from <= cuts.back()) continue;
            const std::string_view rest(from, static_cast<std::size_t>(end - from));
            const std::size_t at = rest.find(separator);
            if (at == std::string_view::npos) break;
            cuts.push_back(from + at + 3); // at the next element's "[[\""
        }
        const std::size_t parts = cuts.size();
        std::vector<Part> staged(parts);
        run_on(parts, [&](std::size_t k) {
            staged[k] = read_part(cuts[k], k + 1 < parts ? cuts[k + 1] : nullptr, end, parts);
        });
        Result result;
        for (const Part& part : staged)
            if (!part.ok) return result;
        run_on(parts, [&](std::size_t group) {
            if (!store_group(staged, group)) staged[group].ok = false;
        });
        for (const Part& part : staged) {
            if (!part.ok) return result;
            result.count += part.count;
        }
        result.ok = true;
        result.next = staged.back().end;
        return result;
    }

  private:
    static constexpr std::string_view separator = "}],[[\"";

    struct Staged {
        WriterEntry entry;
        KeyHashes hashes;
    };
    struct Part {
        bool ok = false;
        const char* end = nullptr; // the last part: after its last element
        std::size_t count = 0;
        std::vector<std::vector<Staged>> groups; // by shard group
    };

    // Elements from `from` (a boundary if the cuts hold); up to `cut` (the
    // next part's start, which must be met exactly), or for the last part
    // (cut == nullptr) up to the first element declined.
    Part read_part(const char* from, const char* cut, const char* end, std::size_t group_count) const {
        Part part;
        part.groups.resize(group_count);
        // Address space for the most entries the part can hold (an entry
        // takes 45 bytes at least): never a copy while it fills, and pages
        // are touched only as entries arrive.
        const std::size_t most = static_cast<std::size_t>((cut != nullptr ? cut : end) - from) / 45 + 1;
        for (std::vector<Staged>& group : part.groups) group.reserve(most / group_count + most / 16 + 16);
        WriterEntryParser parser;
        const char* p = from;
        for (;;) {
            Staged s;
            const char* next = parser.parse(p, end, s.entry);
            if (next == nullptr) {
                if (cut != nullptr || p == from) return part; // the first part always reads one: its caller checked
                part.end = p - 1;                             // at the ',' before the declined element
                break;
            }
            s.hashes = hash_key(s.entry.bucket, EntryName(s.entry.key), seed_);
            part.groups[group_of(s.hashes, group_count)].push_back(s);
            ++part.count;
            if (cut != nullptr && next + 1 == cut && *next == ',') break;
            if (next == end || *next != ',' || (cut != nullptr && next + 1 > cut)) {
                if (cut != nullptr) return part;
                part.end = next;
                break;
            }
            p = next + 1;
        }
        part.ok = true;
        return part;
    }

    // One shard group's entries of every part, in document order.
    bool store_group(const std::vector<Part>& parts, std::size_t group) const noexcept {
        constexpr std::size_t ahead = 16; // prefetch distance, in entries
        try {
            for (const Part& part : parts) {
                const std::vector<Staged>& list = part.groups[group];
                for (std::size_t i = 0; i < list.size(); ++i) {
                    if (i + ahead < list.size()) {
                        const KeyHashes h = list[i + ahead].hashes;
                        tables_[shard_of(h)].prefetch_for_insert(h);
                    }
                    const Staged& s = list[i];
                    EntryTable::set_delete_marker(tables_[shard_of(s.hashes)].put(
                                                      s.entry.bucket, EntryName(s.entry.key), s.hashes, s.entry.value),
                                                  false);
                }
            }
        } catch (...) {
            return false; // refused (or out of memory): one thread again, which says why
        }
        return true;
    }

    static std::size_t group_of(KeyHashes h, std::size_t group_count) noexcept {
        return shard_of(h) * group_count / shard_count;
    }

    // body(0) on this thread and body(1) .. body(count - 1) on new ones;
    // rethrows the first exception once all are done.
    template <class Body>
    static void run_on(std::size_t count, Body&& body) {
        std::vector<std::exception_ptr> errors(count);
        std::vector<std::thread> threads;
        threads.reserve(count);
        const auto guarded = [&](std::size_t k) {
            try {
                body(k);
            } catch (...) {
                errors[k] = std::current_exception();
            }
        };
        try {
            for (std::size_t k = 1; k < count; ++k) threads.emplace_back(guarded, k);
        } catch (...) {
            for (std::thread& t : threads) t.join();
            throw;
        }
        guarded(0);
        for (std::thread& t : threads) t.join();
        for (const std::exception_ptr& e : errors)
            if (e) std::rethrow_exception(e);
    }

    std::array<EntryTable, shard_count>& tables_;
    const std::uint64_t seed_;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
