#pragma once

#include "s3repl/detail/byte_scan.hpp"
#include "s3repl/detail/entry_table.hpp"
#include "s3repl/detail/generation_counter.hpp"
#include "s3repl/detail/json_scanner.hpp"
#include "s3repl/detail/parallel_statuses.hpp"
#include "s3repl/detail/snapshot_writer.hpp"
#include "s3repl/detail/writer_entry.hpp"
#include "s3repl/error.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/restore_options.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"
#include "s3repl/validate.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Everything a snapshot holds, staged outside the manager so that a restore
// is all-or-nothing: the manager swaps it in only once the whole input parsed.
struct RestoredState {
    std::array<EntryTable, shard_count> tables;
    ConfigMap configs;
    std::uint64_t last_issued = 0; // the counter rule applied: the highest generation never to reissue
};

// Reads the snapshot format event by event (JsonScanner), straight into
// RestoredState: no DOM, so a 133 MB file needs little beyond the tables it
// fills. Strict where the Rust reader is strict (types, required fields,
// duplicate known fields, number ranges), lenient where it is lenient
// (unknown fields, nested to any depth, are skipped). Errors name the JSON
// pointer of the offending value.
class SnapshotReader {
  public:
    SnapshotReader(RestoredState& out, std::uint64_t seed, Timestamp now, const RestoreOptions& options)
        : out_(out), seed_(seed), now_(now), options_(options) {}

    // The threads could not split "statuses" (see ParallelStatuses): the
    // parse stopped, and the snapshot must be read again on one thread.
    bool fell_back() const noexcept { return fell_back_; }

    // The result of the parse; throws SnapshotError when it failed.
    void finish(bool parsed) {
        if (parsed) parsed = flush_pending();
        if (!error_.empty()) throw SnapshotError(error_);
        if (!parsed || !root_done_) throw SnapshotError("(root): the document ended early");
        // Never reissue a stored generation: max(next_generation, highest stored + 1, 1).
        // "Stored": after duplicates were replaced, so counted from the tables.
        std::uint64_t highest = 0;
        for (const EntryTable& table : out_.tables)
            table.for_each([&](std::string_view, const EntryName&, const StoredEntry& e) {
                if (e.generation > highest) highest = e.generation;
            });
        const std::uint64_t from_counter =
            exhausted_ ? GenerationCounter::exhausted_value : (next_generation_ == 0 ? 0 : next_generation_ - 1);
        out_.last_issued = highest > from_counter ? highest : from_counter; // highest 2^64-1: exhausted
    }

    // ---- JsonScanner events ---------------------------------------------
    bool null() {
        if (skipping()) return true;
        if (slot() == Slot::Skip) return value_done();
        switch (slot()) {
        case Slot::Prefix: rule_.filter.prefix.reset(); return value_done();
        case Slot::StorageClass: rule_.destination_storage_class.reset(); return value_done();
        default: return unexpected("null");
        }
    }
    bool boolean(bool value) {
        if (skipping()) return true;
        if (slot() == Slot::Skip) return value_done();
        switch (slot()) {
        case Slot::Enabled: rule_.status_enabled = value; break;
        case Slot::Exhausted: exhausted_ = value; break;
        case Slot::HasFilter: rule_.has_filter = value; break;
        case Slot::HasPriority: rule_.has_priority = value; break;
        case Slot::AndOperator: rule_.filter.and_operator = value; break;
        case Slot::DeleteMarker: rule_.delete_marker_replication = value; break;
        case Slot::ExistingObject: rule_.existing_object_replication = value; break;
        case Slot::SseKms: rule_.source_selection_criteria->sse_kms_encrypted_objects = value; break;
        case Slot::ReplicaMods: rule_.source_selection_criteria->replica_modifications = value; break;
        case Slot::TimeEnabled: rule_.replication_time->enabled = value; break;
        case Slot::MetricsEnabled: rule_.metrics->enabled = value; break;
        case Slot::EntryDeleteMarker: delete_marker_ = value; break;
        default: return unexpected(value ? "true" : "false");
        }
        return value_done();
    }
    bool other_number(OtherNumber kind) {
        if (skipping()) return true;
        if (slot() == Slot::Skip) return value_done();
        if (!is_number_slot(slot())) return unexpected("a number");
        switch (kind) {
        case OtherNumber::Negative: return fail(expected_number() + ", found a negative number");
        case OtherNumber::FractionOrExponent: return fail(expected_number() + ", found a fraction or an exponent");
        case OtherNumber::TooLarge: break;
        }
        return fail(expected_number() + ", found a number over 2^64-1");
    }
    bool number_unsigned(std::uint64_t value) {
        if (skipping()) return true;
        if (slot() == Slot::Skip) return value_done();
        switch (slot()) {
        case Slot::Priority:
        case Slot::TimeMinutes:
        case Slot::ThresholdMinutes: {
            if (value > std::numeric_limits<std::uint32_t>::max())
                return fail(expected_number() + ", found " + std::to_string(value));
            const auto small = static_cast<std::uint32_t>(value);
            if (slot() == Slot::Priority) rule_.priority = small;
            if (slot() == Slot::TimeMinutes) rule_.replication_time->minutes = small;
            if (slot() == Slot::ThresholdMinutes) rule_.metrics->event_threshold_minutes = small;
            return value_done();
        }
        case Slot::NextGeneration: next_generation_ = value; return value_done();
        case Slot::EntryGeneration: entry_.generation = value; return value_done();
        default: return unexpected("a number");
        }
    }
    bool string(std::string_view value) {
        if (skipping()) return true;
        if (slot() == Slot::Skip) return value_done();
        switch (slot()) {
        case Slot::Role: config_.role.assign(value); break;
        case Slot::RuleId: rule_.id.assign(value); break;
        case Slot::Destination: rule_.destination_bucket.assign(value); break;
        case Slot::StorageClass: rule_.destination_storage_class.emplace(value); break;
        case Slot::Prefix: rule_.filter.prefix.emplace(value); break;
        case Slot::RulePrefix: rule_.prefix.emplace(value); break;
        case Slot::Account: rule_.destination_account.emplace(value); break;
        case Slot::Owner: rule_.access_control_owner.emplace(value); break;
        case Slot::KmsKey: rule_.replica_kms_key_id.emplace(value); break;
        case Slot::TagKey: tag_.first.assign(value); break;
        case Slot::TagValue: tag_.second.assign(value); break;
        case Slot::KeyBucket: bucket_.assign(value); break;
        case Slot::KeyName: key_.assign(value); break;
        case Slot::KeyVersion: version_.assign(value); break;
        case Slot::EntryStatus:
            if (!parse_status(value, entry_.status)) return bad_status(value);
            break;
        case Slot::EntryValue: // the oldest format: a bare status word
            destinations_.clear();
            delete_marker_ = false;
            if (!parse_status(value, entry_.status)) return bad_status(value);
            entry_.generation = 0;
            entry_.recorded_at = now_;
            break;
        case Slot::RecordedAt:
            if (!parse_time(value, entry_.recorded_at)) return false;
            break;
        case Slot::DestBucket: destination_.bucket.assign(value); break;
        case Slot::DestStatus:
            if (!parse_status(value, destination_.status)) return bad_status(value);
            if (destination_.status == ReplicationStatus::Replica)
                return fail("expected \"Pending\", \"Completed\" or \"Failed\" (a destination is no replica), "
                            "found \"Replica\"");
            break;
        case Slot::DestRecordedAt:
            if (!parse_time(value, destination_.recorded_at)) return false;
            break;
        default: return unexpected("a string");
        }
        return value_done();
    }

    bool start_object() {
        if (skipping()) return skip_more();
        switch (slot()) {
        case Slot::Root: return push(Frame::Root);
        case Slot::ByBucket: return push(Frame::ByBucket);
        case Slot::Config: config_ = ReplicationConfig{}; return push(Frame::Config);
        case Slot::Rule: rule_ = ReplicationRule{}; return push(Frame::Rule);
        case Slot::Filter: return push(Frame::Filter);
        case Slot::Aws: return push(Frame::Aws);
        case Slot::Criteria: rule_.source_selection_criteria.emplace(); return push(Frame::Criteria);
        case Slot::Time: rule_.replication_time.emplace(); return push(Frame::Time);
        case Slot::Metrics: rule_.metrics.emplace(); return push(Frame::Metrics);
        case Slot::EntryValue:
            entry_ = ReplicationStatusEntry{ReplicationStatus::Pending, 0, now_};
            destinations_.clear();
            delete_marker_ = false;
            return push(Frame::Entry);
        case Slot::DestinationObject: destination_ = StagedDestination{}; return push(Frame::Destination);
        case Slot::Skip: return skip_more();
        default: return unexpected("an object");
        }
    }
    bool start_array() {
        if (skipping()) return skip_more();
        switch (slot()) {
        case Slot::Rules: return push(Frame::Rules);
        case Slot::Tags: return push(Frame::Tags);
        case Slot::TagPair: return push(Frame::TagPair);
        case Slot::Statuses: return push(Frame::Statuses);
        case Slot::StatusPair: return push(Frame::StatusPair);
        case Slot::StatusKey: return push(Frame::StatusKey);
        case Slot::Destinations: return push(Frame::Destinations);
        case Slot::Versions: return push(Frame::Versions);
        case Slot::VersionPair: return push(Frame::VersionPair);
        case Slot::VersionKey: return push(Frame::VersionKey);
        case Slot::Skip: return skip_more();
        default: return unexpected("an array");
        }
    }
    bool key(std::string_view name) {
        if (skipping()) return true;
        FrameState& top = frames_.back();
        if (top.kind == Frame::ByBucket) {
            bucket_name_.assign(name); // a bucket listed twice: the later wins
            return true;
        }
        const Shape& shape = shape_of(top.kind);
        top.field = 0;
        for (std::uint8_t i = 0; i < shape.fields.size() && !shape.fields[i].empty(); ++i)
            if (shape.fields[i] == name) top.field = static_cast<std::uint8_t>(i + 1);
        if (top.field == 0) {
            unknown_key_.assign(name);
            if (is_strict_frame(top.kind)) return fail("unknown field \"" + std::string(name) + "\"");
            return true;
        }
        const auto bit = static_cast<std::uint16_t>(1u << (top.field - 1));
        if (top.seen & bit) return fail("the field is given twice");
        top.seen |= bit;
        return true;
    }
    bool end_object() {
        if (skipping()) return skip_less();
        const FrameState top = frames_.back();
        const Shape& shape = shape_of(top.kind);
        if ((top.seen & shape.required) != shape.required) {
            for (std::uint8_t i = 0; i < shape.fields.size(); ++i)
                if ((shape.required & (1u << i)) && !(top.seen & (1u << i)))
                    return fail_in_container("missing required field \"" + std::string(shape.fields[i]) + "\"");
        }
        switch (top.kind) {
        case Frame::Root: root_done_ = true; break;
        case Frame::Config: out_.configs.insert_or_assign(bucket_name_, std::move(config_)); break;
        case Frame::Rule:
            // A rule without a Filter (V1) keeps its rule-level prefix in
            // "filter", where the Rust server matches on it.
            if (!rule_.has_filter) {
                if (rule_.prefix) return fail_in_container("\"aws\" holds a \"prefix\" for a rule without a filter");
                rule_.prefix = std::move(rule_.filter.prefix);
                rule_.filter.prefix.reset();
            }
            config_.rules.push_back(std::move(rule_));
            break;
        case Frame::Destination:
            if (destination_.bucket.empty()) return fail_in_container("the destination bucket is empty");
            // One rule per destination at most, so S3's rule limit bounds the list (and this check).
            if (destinations_.size() == max_rule_count)
                return fail_in_container("an entry has more than 1000 destinations");
            for (const StagedDestination& d : destinations_)
                if (d.bucket == destination_.bucket)
                    return fail_in_container("the destination \"" + d.bucket + "\" is listed twice");
            destinations_.push_back(std::move(destination_));
            break;
        case Frame::Entry:
            if (!destinations_.empty() && !agrees_with_destinations(top)) return false;
            break;
        default: break;
        }
        return pop();
    }
    bool end_array() {
        if (skipping()) return skip_less();
        if (!flush_pending()) return false;
        const FrameState& top = frames_.back();
        const bool is_pair = top.kind == Frame::TagPair || top.kind == Frame::StatusPair ||
                             top.kind == Frame::StatusKey || top.kind == Frame::VersionPair;
        if (is_pair && top.index != 2) return fail_in_container("expected an array of exactly 2 elements");
        if (top.kind == Frame::VersionKey && top.index != 3)
            return fail_in_container("expected an array of exactly 3 elements");
        if (top.kind == Frame::TagPair) rule_.filter.tags.push_back(tag_);
        if (top.kind == Frame::StatusPair && !store_entry(false)) return false;
        if (top.kind == Frame::VersionPair && !store_entry(true)) return false;
        if (top.kind == Frame::Destinations && destinations_.empty())
            return fail_in_container("expected at least one destination");
        return pop();
    }
    void syntax_error(std::size_t byte, const char* what) {
        if (flush_pending()) fail("invalid JSON at byte " + std::to_string(byte) + ": " + what);
    }
    // An element of "statuses" in the writer's layout is read here in one
    // go (see WriterEntryParser); any other element goes through the
    // events, after the entries read before it are stored. With threads,
    // the first element starts the parallel read of all it can.
    bool array_element(const char*& p, const char* end) {
        if (!options_.layout_fast_path || skipping() || frames_.empty() || frames_.back().kind != Frame::Statuses)
            return true;
        Pending& e = pending_[(pending_first_ + pending_count_) % pending_.size()];
        const char* next = parser_.parse(p, end, e.entry);
        if (next == nullptr) return flush_pending();
        if (options_.threads > 1 && frames_.back().index == 0 && end - p >= min_parallel_bytes) {
            const ParallelStatuses::Result read = ParallelStatuses(out_.tables, seed_).read(p, end, options_.threads);
            if (!read.ok) {
                fell_back_ = true;
                return false;
            }
            p = read.next;
            frames_.back().index += read.count;
            return true;
        }
        p = next;
        e.hashes = hash_key(e.entry.bucket, EntryName(e.entry.key), seed_);
        e.index = frames_.back().index;
        // The entry's index slot is a cache miss (the tables are larger than
        // the cache and hashed at random): started now, it overlaps the
        // parsing of the entries after it until the window is full.
        out_.tables[shard_of(e.hashes)].prefetch_for_insert(e.hashes);
        ++pending_count_;
        value_done();
        // A full window: the oldest entry's slot has had the longest to arrive.
        return pending_count_ != pending_.size() || store_pending(1);
    }

  private:
    // clang-format off
    enum class Frame : std::uint8_t { Root, ByBucket, Config, Rules, Rule, Filter, Tags, TagPair, Statuses, StatusPair, StatusKey, Entry, Aws, Criteria, Time, Metrics, Destinations, Destination, Versions, VersionPair, VersionKey };
    // What the next value is, from the innermost container and its field or position.
    enum class Slot : std::uint8_t {
        Root, Skip, TooMany, Wrong,
        ByBucket, Statuses, NextGeneration, Exhausted,
        Config, Role, Rules, Rule, RuleId, Priority, Enabled, Filter, Destination, StorageClass, Prefix, Tags,
        TagPair, TagKey, TagValue,
        StatusPair, StatusKey, EntryValue, KeyBucket, KeyName, EntryStatus, EntryGeneration, RecordedAt,
        Aws, HasFilter, HasPriority, RulePrefix, AndOperator, DeleteMarker, ExistingObject, Criteria, Account, Owner,
        KmsKey, Time, Metrics, SseKms, ReplicaMods, TimeEnabled, TimeMinutes, MetricsEnabled, ThresholdMinutes,
        Destinations, DestinationObject, DestBucket, DestStatus, DestRecordedAt,
        Versions, VersionPair, VersionKey, KeyVersion, TooManyInKey, EntryDeleteMarker,
    };
    // clang-format on
    struct Shape {
        std::array<std::string_view, 12> fields; // field id = index + 1; 0 = unknown
        std::uint16_t required;                  // bit i: fields[i] must be given
    };
    struct FrameState {
        Frame kind;
        std::uint8_t field = 0; // objects: the field whose value comes next
        std::uint16_t seen = 0; // objects: fields given so far
        std::size_t index = 0;  // arrays: elements completed so far
    };

    static const Shape& shape_of(Frame kind) noexcept {
        static const Shape root{{"by_bucket", "statuses", "next_generation", "generations_exhausted", "versions"},
                                0b0011};
        static const Shape config{{"role", "rules"}, 0b11};
        static const Shape rule{
            {"id", "priority", "status_enabled", "filter", "destination_bucket", "destination_storage_class", "aws"},
            0b011111};
        static const Shape aws{{"has_filter", "has_priority", "prefix", "and_operator", "delete_marker_replication",
                                "existing_object_replication", "source_selection_criteria", "destination_account",
                                "access_control_owner", "replica_kms_key_id", "replication_time", "metrics"},
                               0};
        static const Shape criteria{{"sse_kms_encrypted_objects", "replica_modifications"}, 0};
        static const Shape time{{"enabled", "minutes"}, 0b11};
        static const Shape metrics{{"enabled", "event_threshold_minutes"}, 0b01};
        static const Shape filter{{"prefix", "tags"}, 0b10};
        static const Shape entry{{"status", "generation", "recorded_at", "destinations", "delete_marker"}, 0b0011};
        static const Shape destination{{"bucket", "status", "recorded_at"}, 0b111};
        static const Shape none{{}, 0};
        switch (kind) {
        case Frame::Root: return root;
        case Frame::Config: return config;
        case Frame::Rule: return rule;
        case Frame::Filter: return filter;
        case Frame::Entry: return entry;
        case Frame::Aws: return aws;
        case Frame::Criteria: return criteria;
        case Frame::Time: return time;
        case Frame::Metrics: return metrics;
        case Frame::Destination: return destination;
        default: return none;
        }
    }

    Slot slot() const noexcept {
        if (frames_.empty()) return root_done_ ? Slot::Wrong : Slot::Root;
        const FrameState& top = frames_.back();
        auto field = [&](std::initializer_list<Slot> by_field) {
            return top.field == 0 ? Slot::Skip : by_field.begin()[top.field - 1];
        };
        auto pair = [&](Slot first, Slot second) {
            return top.index == 0 ? first : top.index == 1 ? second : Slot::TooMany;
        };
        switch (top.kind) {
        case Frame::Root:
            return field({Slot::ByBucket, Slot::Statuses, Slot::NextGeneration, Slot::Exhausted, Slot::Versions});
        case Frame::ByBucket: return Slot::Config;
        case Frame::Config: return field({Slot::Role, Slot::Rules});
        case Frame::Rules: return Slot::Rule;
        case Frame::Rule:
            return field({Slot::RuleId, Slot::Priority, Slot::Enabled, Slot::Filter, Slot::Destination,
                          Slot::StorageClass, Slot::Aws});
        case Frame::Aws:
            return field({Slot::HasFilter, Slot::HasPriority, Slot::RulePrefix, Slot::AndOperator, Slot::DeleteMarker,
                          Slot::ExistingObject, Slot::Criteria, Slot::Account, Slot::Owner, Slot::KmsKey, Slot::Time,
                          Slot::Metrics});
        case Frame::Criteria: return field({Slot::SseKms, Slot::ReplicaMods});
        case Frame::Time: return field({Slot::TimeEnabled, Slot::TimeMinutes});
        case Frame::Metrics: return field({Slot::MetricsEnabled, Slot::ThresholdMinutes});
        case Frame::Filter: return field({Slot::Prefix, Slot::Tags});
        case Frame::Tags: return Slot::TagPair;
        case Frame::TagPair: return pair(Slot::TagKey, Slot::TagValue);
        case Frame::Statuses: return Slot::StatusPair;
        case Frame::StatusPair: return pair(Slot::StatusKey, Slot::EntryValue);
        case Frame::StatusKey: return pair(Slot::KeyBucket, Slot::KeyName);
        case Frame::Entry:
            return field({Slot::EntryStatus, Slot::EntryGeneration, Slot::RecordedAt, Slot::Destinations,
                          Slot::EntryDeleteMarker});
        case Frame::Versions: return Slot::VersionPair;
        case Frame::VersionPair: return pair(Slot::VersionKey, Slot::EntryValue);
        case Frame::VersionKey:
            return top.index == 0   ? Slot::KeyBucket
                   : top.index == 1 ? Slot::KeyName
                   : top.index == 2 ? Slot::KeyVersion
                                    : Slot::TooManyInKey;
        case Frame::Destinations: return Slot::DestinationObject;
        case Frame::Destination: return field({Slot::DestBucket, Slot::DestStatus, Slot::DestRecordedAt});
        }
        return Slot::Wrong;
    }

    static bool is_number_slot(Slot s) noexcept {
        return is_u32_slot(s) || s == Slot::NextGeneration || s == Slot::EntryGeneration;
    }
    static bool is_u32_slot(Slot s) noexcept {
        return s == Slot::Priority || s == Slot::TimeMinutes || s == Slot::ThresholdMinutes;
    }
    // The objects s3repl added are its own: no other writer has more members in them.
    static bool is_strict_frame(Frame kind) noexcept {
        return kind == Frame::Aws || kind == Frame::Criteria || kind == Frame::Time || kind == Frame::Metrics ||
               kind == Frame::Destination;
    }
    std::string expected_number() const {
        return is_u32_slot(slot()) ? "expected an unsigned 32-bit integer" : "expected an unsigned 64-bit integer";
    }

    static bool parse_status(std::string_view word, ReplicationStatus& status) noexcept {
        return parse_status_word(word, status);
    }
    bool parse_time(std::string_view text, Timestamp& out) {
        const std::optional<Timestamp> parsed = parse_rfc3339(text);
        if (!parsed)
            return fail("expected an RFC 3339 date-time with an offset, between 1677-09-21 and 2262-04-11, found \"" +
                        std::string(text) + "\"");
        out = *parsed;
        return true;
    }
    bool bad_status(std::string_view word) {
        return fail("expected one of \"Pending\", \"Completed\", \"Failed\", \"Replica\", found \"" +
                    std::string(word) + "\"");
    }

    // Describes what the slot wanted when the input holds something else.
    bool unexpected(const char* found) {
        // clang-format off
        static constexpr const char* wanted[] = {
            "an object (the snapshot)", "", "nothing (the array has 2 elements)", "the end of the document",
            "an object of bucket configurations", "an array of statuses", "an unsigned 64-bit integer",
            "true or false", "a configuration object", "a string", "an array of rules", "a rule object", "a string",
            "an unsigned 32-bit integer", "true or false", "a filter object", "a string", "a string or null",
            "a string or null", "an array of tags", "a [key, value] array", "a string", "a string",
            "a [[bucket, key], entry] array", "a [bucket, key] array", "an entry object or a status string",
            "a string", "a string", "a status string", "an unsigned 64-bit integer", "an RFC 3339 date-time string",
            "an object of AWS rule members", "true or false", "true or false", "a string", "true or false",
            "true or false", "true or false", "a source selection criteria object", "a string", "a string",
            "a string", "a replication time object", "a metrics object", "true or false", "true or false",
            "true or false", "an unsigned 32-bit integer", "true or false", "an unsigned 32-bit integer",
            "an array of destination statuses", "a destination status object", "a string", "a status string",
            "an RFC 3339 date-time string", "an array of versions", "a [[bucket, key, version], entry] array",
            "a [bucket, key, version] array", "a string", "nothing (the array has 3 elements)", "true or false",
        };
        // clang-format on
        static_assert(sizeof wanted / sizeof wanted[0] == static_cast<std::size_t>(Slot::EntryDeleteMarker) + 1,
                      "one description per Slot");
        return fail(std::string("expected ") + wanted[static_cast<std::size_t>(slot())] + ", found " + found);
    }

    bool push(Frame kind) {
        frames_.push_back(FrameState{kind});
        return true;
    }
    bool pop() {
        frames_.pop_back();
        return value_done();
    }
    bool value_done() {
        if (!frames_.empty()) ++frames_.back().index;
        return true;
    }

    bool skipping() const noexcept { return skip_depth_ != 0; }
    bool skip_more() {
        ++skip_depth_;
        return true;
    }
    bool skip_less() {
        if (--skip_depth_ == 0) return value_done();
        return true;
    }

    bool store_entry(bool versioned) {
        if (versioned && version_.empty())
            return fail_in_container("a version ID in \"versions\" is empty (the unversioned object is in "
                                     "\"statuses\")");
        if (version_.size() > max_version_id_bytes) return fail_in_container("a version ID is longer than 1024 bytes");
        if (!versioned && delete_marker_) return fail_in_container("an unversioned entry cannot be a delete marker");
        try {
            const EntryName name(key_, versioned ? std::string_view(version_) : std::string_view());
            const KeyHashes h = hash_key(bucket_, name, seed_);
            EntryTable& table = out_.tables[shard_of(h)];
            StoredEntry& stored = table.put(bucket_, name, h, entry_);
            EntryTable::set_delete_marker(stored, delete_marker_);
            if (!destinations_.empty()) {
                std::vector<DestinationStamp> stamps;
                stamps.reserve(destinations_.size());
                for (const StagedDestination& d : destinations_)
                    stamps.push_back(
                        {{d.bucket, hash_bytes(d.bucket, seed_)}, d.status, d.recorded_at.time_since_epoch().count()});
                table.set_destinations(stored, entry_.generation, stamps.data(), stamps.size());
            }
        } catch (const InvalidArgument& error) {
            return fail(error.what());
        }
        return true;
    }

    // Stores the staged entries in document order, as the events would have
    // one by one; false (the parse stops) with the events' message for an
    // entry the table refuses.
    bool flush_pending() { return store_pending(pending_count_); }
    // The same for the oldest `count` of them.
    bool store_pending(std::size_t count) {
        for (; count != 0; --count) {
            const Pending& e = pending_[pending_first_];
            pending_first_ = (pending_first_ + 1) % pending_.size();
            --pending_count_;
            try {
                EntryTable::set_delete_marker(out_.tables[shard_of(e.hashes)].put(
                                                  e.entry.bucket, EntryName(e.entry.key), e.hashes, e.entry.value),
                                              false);
            } catch (const InvalidArgument& error) {
                // Where the events report it: at the end of the [key, entry] pair.
                return fail_at_path(pointer(frames_.size() - 1) + "/" + std::to_string(e.index) + "/2", error.what());
            }
        }
        return true;
    }

    // An entry's status and time are its destinations' aggregate and newest
    // stamp (the Rust reader sees only the former: the two must tell one
    // story). An entry without recorded_at takes the newest.
    bool agrees_with_destinations(const FrameState& entry) {
        AggregateStatus aggregate;
        Timestamp newest = Timestamp::min();
        for (const StagedDestination& d : destinations_) {
            aggregate.add(d.status);
            if (d.recorded_at > newest) newest = d.recorded_at;
        }
        if (aggregate.value() != entry_.status)
            return fail_in_container(
                "the status is \"" + std::string(snapshot_status_words[static_cast<std::size_t>(entry_.status)]) +
                "\" but its destinations aggregate to \"" +
                std::string(snapshot_status_words[static_cast<std::size_t>(aggregate.value())]) + "\"");
        constexpr std::uint16_t recorded_at_field = 1u << 2;
        if ((entry.seen & recorded_at_field) && entry_.recorded_at != newest)
            return fail_in_container("the recorded_at is not the newest of its destinations' (" +
                                     format_rfc3339(newest) + ")");
        entry_.recorded_at = newest;
        return true;
    }

    // Returns false (which stops the parse) after recording the message with
    // the JSON pointer of the current value.
    bool fail(const std::string& what) { return fail_at(frames_.size(), what); }
    // For a fault of the innermost container as a whole (a missing field).
    bool fail_in_container(const std::string& what) { return fail_at(frames_.size() - 1, what); }
    bool fail_at(std::size_t depth, const std::string& what) {
        if (error_.empty()) error_ = pointer(depth) + ": " + what;
        return false;
    }
    bool fail_at_path(const std::string& path, const std::string& what) {
        if (error_.empty()) error_ = path + ": " + what;
        return false;
    }
    // The JSON pointer of the value being read, through `depth` containers.
    std::string pointer(std::size_t depth) const {
        std::string path;
        for (std::size_t d = 0; d < depth; ++d) {
            const FrameState& frame = frames_[d];
            path += '/';
            const Shape& shape = shape_of(frame.kind);
            if (frame.kind == Frame::ByBucket) {
                path += escape_pointer(bucket_name_);
            } else if (!shape.fields[0].empty()) {
                path += frame.field == 0 ? escape_pointer(unknown_key_) : std::string(shape.fields[frame.field - 1]);
            } else {
                path += std::to_string(frame.index);
            }
        }
        return path.empty() ? "(root)" : path;
    }
    static std::string escape_pointer(const std::string& token) { // RFC 6901
        std::string out;
        for (const char c : token) {
            if (c == '~')
                out += "~0";
            else if (c == '/')
                out += "~1";
            else
                out += c;
        }
        return out;
    }

    RestoredState& out_;
    const std::uint64_t seed_;
    const Timestamp now_;
    const RestoreOptions options_;
    WriterEntryParser parser_;
    bool fell_back_ = false;
    // Below this, threads cost more than they save.
    static constexpr std::ptrdiff_t min_parallel_bytes = 1 << 20;
    // Entries of "statuses" read by parser_, not yet stored: a ring of
    // pending_count_ from pending_first_, so that each entry's index slot is
    // prefetched a window of entries before it is stored.
    struct Pending {
        WriterEntry entry;
        KeyHashes hashes;
        std::size_t index; // in "statuses"
    };
    std::array<Pending, 16> pending_;
    std::size_t pending_first_ = 0, pending_count_ = 0;
    std::vector<FrameState> frames_;
    std::size_t skip_depth_ = 0; // > 0 while inside an unknown field's value
    bool root_done_ = false;
    std::string error_;
    std::string unknown_key_, bucket_name_;
    ReplicationConfig config_;
    ReplicationRule rule_;
    std::pair<std::string, std::string> tag_;
    std::string bucket_, key_, version_;
    ReplicationStatusEntry entry_;
    bool delete_marker_ = false;
    struct StagedDestination {
        std::string bucket;
        ReplicationStatus status = ReplicationStatus::Pending;
        Timestamp recorded_at{};
    };
    StagedDestination destination_;
    std::vector<StagedDestination> destinations_; // of entry_
    std::uint64_t next_generation_ = 1;           // absent: 1
    bool exhausted_ = false;                      // s3repl's own member: 2^64-1 was handed out too
};

// Reserves each table for its share of the entries `json` holds, so that
// none grows while it is filled (growing copies the entries and rebuilds the
// index, twice the work, and leaves the array up to twice too large). The
// count is estimated by one SSE2 pass over the text: each entry opens two
// arrays, "[[" (a key holding '[' only makes the estimate high), and takes
// at least min_entry_bytes, which caps what any text can make it reserve.
inline void reserve_tables(std::string_view json, RestoredState& out) {
    constexpr std::size_t min_entry_bytes = 45; // [["",""],{"status":"Failed","generation":0}],
    const std::size_t opened = count_byte(json.data(), json.data() + json.size(), '[') / 2;
    const std::size_t entries = opened < json.size() / min_entry_bytes ? opened : json.size() / min_entry_bytes;
    // The hash spreads the entries evenly: a share, and room for well over
    // ten standard deviations of it.
    const std::size_t share = entries / shard_count;
    for (EntryTable& table : out.tables) table.reserve(share + share / 16 + 16);
}

// Parses `json` into `out`; throws SnapshotError.
inline void read_snapshot(std::string_view json, RestoredState& out, std::uint64_t seed, Timestamp now,
                          const RestoreOptions& options = RestoreOptions{}) {
    // JSON text (RFC 8259) has no byte-order mark, and neither do Rust snapshots.
    if (json.substr(0, 3) == "\xEF\xBB\xBF") throw SnapshotError("(root): a byte-order mark is not allowed");
    const auto parse = [&](const RestoreOptions& with) {
        reserve_tables(json, out);
        SnapshotReader reader(out, seed, now, with);
        JsonScanner<SnapshotReader> scanner(json, reader);
        const bool parsed = scanner.run();
        if (reader.fell_back()) return false;
        reader.finish(parsed);
        return true;
    };
    if (parse(options)) return;
    // What the threads could not split is read on one thread, from the start.
    out = RestoredState{};
    RestoreOptions one = options;
    one.threads = 1;
    parse(one);
}

} // namespace detail
} // namespace v0
} // namespace s3repl
