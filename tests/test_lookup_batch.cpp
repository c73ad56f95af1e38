// Batch lookups (lookup_statuses, lookup_entries): each result is the single
// lookup's, for hits, misses, versions, entries with destination lists,
// names that cannot be stored, any batch size; and under concurrent stamps,
// each result is a state some stamp left.
#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using s3repl::ObjectId;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;

namespace {

constexpr ReplicationStatus statuses[] = {ReplicationStatus::Pending, ReplicationStatus::Completed,
                                          ReplicationStatus::Failed, ReplicationStatus::Replica};

// Owned names, so that the ObjectIds of a batch have something to view.
struct Name {
    std::string bucket, key, version;
    ObjectId id() const { return {bucket, key, version}; }
};

std::vector<ObjectId> ids_of(const std::vector<Name>& names) {
    std::vector<ObjectId> ids;
    for (const Name& n : names) ids.push_back(n.id());
    return ids;
}

// A manager of 600 objects over three buckets (a third of them versions,
// some with two destinations), with the statuses stamped kept in a model;
// and 1000 names to look up: stamped ones, absent ones (other keys, other
// versions of stamped keys, other buckets), one name twice in a row. Enough
// keys that every one of the 32 shards holds some.
struct Fixture {
    Fixture() {
        s3repl::ReplicationRule a, b;
        a.id = "a";
        a.priority = 1;
        a.destination_bucket = "dst-a";
        b.id = "b";
        b.priority = 2;
        b.destination_bucket = "dst-b";
        manager.put_config("multi", s3repl::ReplicationConfig{"role", {a, b}});
        const char* const buckets[] = {"photos", "logs", "multi"};
        for (std::size_t i = 0; i < 600; ++i) {
            Name n{buckets[i % 3], "dir/" + std::to_string(i) + (i % 7 == 0 ? "/a-key-longer-than-24-bytes" : ""),
                   i % 3 == 1 ? "v" + std::to_string(i % 5) : ""};
            const ReplicationStatus status = statuses[(i / 3) % 3]; // never Replica: see the fills below
            if (n.bucket == "multi" && i % 2 == 0) {
                // Two destinations: the entry's status is their aggregate.
                manager.record_destination_status_if_newer(n.id(), "dst-a", i + 1, ReplicationStatus::Completed);
                manager.record_destination_status_if_newer(n.id(), "dst-b", i + 1, ReplicationStatus::Pending);
                model[std::tie(n.bucket, n.key, n.version)] = ReplicationStatus::Pending;
            } else {
                manager.record_status_if_newer(n.id(), i + 1, status);
                model[std::tie(n.bucket, n.key, n.version)] = status;
            }
            names.push_back(n);
            if (i % 3 == 0) names.push_back({n.bucket, "missing/" + std::to_string(i), ""});
            if (i % 3 == 1) names.push_back({n.bucket, n.key, "other-version"});
            if (i % 5 == 0) names.push_back({"no-such-bucket", n.key, n.version});
            if (i % 11 == 0) names.push_back(n);
            if (names.size() >= 1000) break;
        }
        names.resize(1000);
    }

    std::optional<ReplicationStatus> expected(const Name& n) const {
        const auto found = model.find(std::tie(n.bucket, n.key, n.version));
        if (found == model.end()) return std::nullopt;
        return found->second;
    }

    s3repl_test::Manager manager;
    std::map<std::tuple<std::string, std::string, std::string>, ReplicationStatus> model;
    std::vector<Name> names;
};

} // namespace

TEST_CASE("a batch lookup returns each key's single lookup, for any batch size", "[lookup][batch]") {
    Fixture f;
    const std::size_t size =
        GENERATE(std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65}, std::size_t{1000});
    CAPTURE(size);
    const std::vector<Name> names(f.names.begin(), f.names.begin() + static_cast<std::ptrdiff_t>(size));
    const std::vector<ObjectId> ids = ids_of(names);
    // Filled with values a lookup never returns for these names, so that a
    // slot the batch skipped shows.
    std::vector<std::optional<ReplicationStatus>> found(size, ReplicationStatus::Replica);
    std::vector<std::optional<ReplicationStatusEntry>> entries(size, ReplicationStatusEntry{});
    f.manager.lookup_statuses(ids.data(), ids.size(), found.data());
    f.manager.lookup_entries(ids.data(), ids.size(), entries.data());
    std::size_t hits = 0;
    for (std::size_t i = 0; i < size; ++i) {
        CAPTURE(i, names[i].bucket, names[i].key, names[i].version);
        REQUIRE(found[i] == f.expected(names[i]));
        REQUIRE(found[i] == f.manager.lookup_status(ids[i]));
        REQUIRE(entries[i] == f.manager.lookup_entry(ids[i]));
        hits += found[i].has_value();
    }
    if (size >= 64) {
        CHECK(hits > 0);
        CHECK(hits < size);
    }
}

TEST_CASE("a batch of no keys writes nothing", "[lookup][batch]") {
    Fixture f;
    std::optional<ReplicationStatus> untouched = ReplicationStatus::Failed;
    f.manager.lookup_statuses(nullptr, 0, nullptr);
    const ObjectId one = f.names.front().id();
    f.manager.lookup_statuses(&one, 0, &untouched);
    CHECK(untouched == ReplicationStatus::Failed);
}

TEST_CASE("a batch sees entries moved by erases", "[lookup][batch]") {
    // forget() moves the table's last entry into the erased one's place: the
    // batch must find the moved entries where they are now.
    Fixture f;
    for (std::size_t i = 0; i < f.names.size(); i += 2) {
        const Name& n = f.names[i];
        f.manager.forget(n.id());
        f.model.erase(std::tie(n.bucket, n.key, n.version));
    }
    const std::vector<ObjectId> ids = ids_of(f.names);
    std::vector<std::optional<ReplicationStatus>> found(ids.size());
    f.manager.lookup_statuses(ids.data(), ids.size(), found.data());
    std::size_t hits = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CAPTURE(i, f.names[i].bucket, f.names[i].key, f.names[i].version);
        REQUIRE(found[i] == f.expected(f.names[i]));
        hits += found[i].has_value();
    }
    CHECK(hits > 0);
}

TEST_CASE("names that cannot be stored just miss in a batch", "[lookup][batch]") {
    Fixture f;
    const std::string too_long_version(s3repl::max_version_id_bytes + 1, 'v');
    const Name stored = f.names.front();
    REQUIRE(f.expected(stored).has_value());
    const std::vector<Name> names = {{"photos", "bad-\xff\xfe", ""},
                                     {"bad-\xc3", "dir/0", ""},
                                     {stored.bucket, stored.key, "\xed\xa0\x80"},
                                     {stored.bucket, stored.key, too_long_version},
                                     stored};
    const std::vector<ObjectId> ids = ids_of(names);
    std::vector<std::optional<ReplicationStatus>> found(ids.size(), ReplicationStatus::Replica);
    std::vector<std::optional<ReplicationStatusEntry>> entries(ids.size(), ReplicationStatusEntry{});
    REQUIRE_NOTHROW(f.manager.lookup_statuses(ids.data(), ids.size(), found.data()));
    REQUIRE_NOTHROW(f.manager.lookup_entries(ids.data(), ids.size(), entries.data()));
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
        CAPTURE(i);
        CHECK(found[i] == std::nullopt);
        CHECK(entries[i] == std::nullopt);
    }
    CHECK(found.back() == f.expected(stored));
    CHECK(entries.back() == f.manager.lookup_entry(stored.id()));
}

namespace {

// What the stampers write: key k at generation g gets this status, so a
// result whose status does not fit its generation was read torn.
ReplicationStatus status_at(std::size_t k, std::uint64_t generation) {
    return statuses[(k + generation) % 3]; // Pending, Completed or Failed
}

} // namespace

TEST_CASE("batches running beside stamps and erases see states some stamp left", "[lookup][batch][concurrent]") {
    constexpr std::size_t keys = 512, stampers = 2, rounds = 60;
    s3repl_test::Manager manager;
    std::vector<Name> names;
    for (std::size_t k = 0; k < keys; ++k) {
        names.push_back({"b" + std::to_string(k % 4), "key/" + std::to_string(k), k % 2 ? "v1" : ""});
        manager.record_status_if_newer(names.back().id(), 1, status_at(k, 1));
    }
    // Churned names: created and forgotten again and again, so entries move
    // in their tables while the batches read them.
    std::vector<Name> churned;
    for (std::size_t k = 0; k < 64; ++k) churned.push_back({"b0", "churn/" + std::to_string(k), ""});
    std::vector<Name> all = names;
    all.insert(all.end(), churned.begin(), churned.end());
    all.push_back({"b1", "never-stamped", ""});
    const std::vector<ObjectId> ids = ids_of(all);

    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (std::size_t t = 0; t < stampers; ++t) {
        writers.emplace_back([&, t] {
            for (std::uint64_t generation = 2; !stop.load(); ++generation)
                for (std::size_t k = t; k < keys; k += stampers)
                    manager.record_status_if_newer(names[k].id(), generation, status_at(k, generation));
        });
    }
    writers.emplace_back([&] {
        while (!stop.load()) {
            for (const Name& n : churned) manager.record_status(n.id(), ReplicationStatus::Failed);
            for (const Name& n : churned) manager.forget(n.id());
        }
    });

    std::vector<std::uint64_t> last_generation(keys, 1);
    std::vector<std::optional<ReplicationStatusEntry>> entries(ids.size());
    std::vector<std::optional<ReplicationStatus>> found(ids.size());
    bool consistent = true;
    for (std::size_t r = 0; r < rounds && consistent; ++r) {
        manager.lookup_entries(ids.data(), ids.size(), entries.data());
        manager.lookup_statuses(ids.data(), ids.size(), found.data());
        for (std::size_t k = 0; k < keys; ++k) {
            const std::optional<ReplicationStatusEntry>& e = entries[k];
            // Present throughout, a whole state, never older than what this
            // thread saw before (each result is the key's state at an instant of the call).
            consistent = consistent && e && e->status == status_at(k, e->generation) &&
                         e->generation >= last_generation[k] && found[k].has_value();
            if (!consistent) {
                CAPTURE(k, r);
                FAIL_CHECK("entry " << k << " at round " << r);
                break;
            }
            last_generation[k] = e->generation;
        }
        for (std::size_t c = keys; c < keys + churned.size(); ++c) {
            consistent = consistent && (!entries[c] || entries[c]->status == ReplicationStatus::Failed) &&
                         (!found[c] || *found[c] == ReplicationStatus::Failed);
        }
        consistent = consistent && !entries.back() && !found.back();
    }
    stop.store(true);
    for (std::thread& w : writers) w.join();
    CHECK(consistent);
    // The stampers moved on while the batches ran.
    CHECK(manager.lookup_entry(names[0].id())->generation > 1);
}
