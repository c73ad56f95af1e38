#pragma once

// Optional: AWS's ReplicationConfiguration in the JSON shape of the AWS CLI
// and SDKs (`aws s3api put-bucket-replication --replication-configuration`,
// `aws s3api get-bucket-replication`). Uses nlohmann/json.

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/detail/config_document.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/validate.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// DocumentReader's Node over a nlohmann value.
struct JsonNode {
    static constexpr bool repeated_lists = false;
    const nlohmann::json* value;

    bool members(std::vector<std::pair<std::string_view, JsonNode>>& out) const {
        if (!value->is_object()) return false;
        for (auto it = value->begin(); it != value->end(); ++it) out.emplace_back(it.key(), JsonNode{&*it});
        return true;
    }
    bool items(std::vector<JsonNode>& out) const {
        if (!value->is_array()) return false;
        for (const nlohmann::json& item : *value) out.push_back(JsonNode{&item});
        return true;
    }
    std::optional<std::string> text() const {
        if (!value->is_string()) return std::nullopt;
        return value->get<std::string>();
    }
    std::optional<std::uint32_t> uint32() const {
        if (!value->is_number_unsigned() && !(value->is_number_integer() && value->get<std::int64_t>() >= 0))
            return std::nullopt;
        const auto number = value->get<std::uint64_t>();
        if (number > UINT32_MAX) return std::nullopt;
        return static_cast<std::uint32_t>(number);
    }
};

// write_document's Out over a nlohmann value, members in S3's order.
class JsonOut {
  public:
    explicit JsonOut(nlohmann::ordered_json& root) : stack_{&root} {}

    void text(const char* name, std::string_view value) { (*stack_.back())[name] = std::string(value); }
    void uint32(const char* name, std::uint32_t value) { (*stack_.back())[name] = value; }
    void open(const char* name) { push((*stack_.back())[name] = nlohmann::ordered_json::object()); }
    void close() { stack_.pop_back(); }
    void open_list(const char* name) { push((*stack_.back())[name] = nlohmann::ordered_json::array()); }
    void close_list() { stack_.pop_back(); }
    void open_item(const char*) {
        stack_.back()->push_back(nlohmann::ordered_json::object());
        push(stack_.back()->back());
    }
    void close_item() { stack_.pop_back(); }

  private:
    // Only the chain of open containers is held: a sibling is added after
    // its predecessor closed, so no pointer outlives a reallocation.
    void push(nlohmann::ordered_json& value) { stack_.push_back(&value); }

    std::vector<nlohmann::ordered_json*> stack_;
};

} // namespace detail

/// Reads the AWS CLI's JSON form of a replication configuration: what
/// `--replication-configuration` takes (`{"Role": ..., "Rules": [...]}`) or
/// what `aws s3api get-bucket-replication` prints (the same inside
/// `{"ReplicationConfiguration": ...}`). Members as the CLI names them;
/// "Rules" and a conjunction's "Tags" are arrays, numbers are JSON numbers.
///
/// Throws ConfigError with the codes of parse_replication_xml (MalformedXML
/// for what is not the schema: invalid JSON, a duplicate member, a wrong
/// type, an unknown member; the code S3 would answer once the CLI has turned
/// the JSON into its XML body). Cost: linear in the text, at most 2 MB.
///
///     s3repl::ReplicationConfig config = s3repl::parse_replication_json(cli_output);
inline ReplicationConfig parse_replication_json(std::string_view text) {
    using nlohmann::json;
    if (text.size() > detail::max_config_document_size)
        detail::config_fail(S3ErrorCode::MalformedXML, std::nullopt, "", "the document is larger than 2 MB");
    // nlohmann keeps the last of duplicate keys; S3's XML has no such
    // reading, so duplicates are refused while parsing.
    std::vector<std::set<std::string, std::less<>>> open_objects;
    bool duplicate = false;
    const json::parser_callback_t watch = [&](int, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        if (event == json::parse_event_t::object_end) open_objects.pop_back();
        if (event == json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second)
            duplicate = true;
        return true;
    };
    json document;
    try {
        document = json::parse(text.begin(), text.end(), watch);
    } catch (const json::exception& error) {
        detail::config_fail(S3ErrorCode::MalformedXML, std::nullopt, "", std::string("invalid JSON: ") + error.what());
    }
    if (duplicate) detail::config_fail(S3ErrorCode::MalformedXML, std::nullopt, "", "a member is given twice");
    const json* root = &document;
    if (root->is_object() && root->size() == 1 && root->contains("ReplicationConfiguration"))
        root = &root->at("ReplicationConfiguration");
    return detail::DocumentReader<detail::JsonNode>().read(detail::JsonNode{root});
}

/// The configuration as the AWS CLI takes it for `--replication-configuration`
/// (no outer "ReplicationConfiguration"), members in S3's order, indented by
/// `indent` spaces (-1: compact). parse_replication_json reads it back equal.
inline std::string to_replication_json(const ReplicationConfig& config, int indent = 2) {
    nlohmann::ordered_json root = nlohmann::ordered_json::object();
    detail::JsonOut out(root);
    detail::write_document(out, config);
    return root.dump(indent);
}

} // namespace v0
} // namespace s3repl
