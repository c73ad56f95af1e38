#pragma once

// Optional: AWS's ReplicationConfiguration as S3's REST API carries it (the
// body of PutBucketReplication and GetBucketReplication). Needs pugixml
// (Debian: libpugixml-dev; CMake: link s3repl::aws_xml), which is why it is
// not in the umbrella header.

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/detail/config_document.hpp"
#include "s3repl/detail/utf8.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/validate.hpp"

#include <pugixml.hpp>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// The namespace of S3's REST documents.
inline constexpr std::string_view s3_xml_namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

namespace detail {

inline bool is_xml_space(std::string_view text) noexcept {
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

inline bool is_namespace_declaration(std::string_view name) noexcept {
    return name == "xmlns" || name.substr(0, 6) == "xmlns:";
}

// DocumentReader's Node over a pugixml element.
struct XmlNode {
    static constexpr bool repeated_lists = true;
    pugi::xml_node node;

    bool members(std::vector<std::pair<std::string_view, XmlNode>>& out) const {
        for (const pugi::xml_attribute attribute : node.attributes())
            if (!is_namespace_declaration(attribute.name())) return false;
        for (const pugi::xml_node child : node.children()) {
            if (child.type() == pugi::node_element) {
                out.emplace_back(child.name(), XmlNode{child});
            } else if ((child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) &&
                       !is_xml_space(child.value())) {
                return false;
            }
        }
        return true;
    }
    bool items(std::vector<XmlNode>&) const { return false; }
    std::optional<std::string> text() const {
        if (node.first_attribute()) return std::nullopt;
        std::string text;
        for (const pugi::xml_node child : node.children()) {
            if (child.type() == pugi::node_element) return std::nullopt;
            if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) text += child.value();
        }
        return text;
    }
    std::optional<std::uint32_t> uint32() const {
        const std::optional<std::string> digits = text();
        if (!digits || digits->empty() || digits->size() > 10) return std::nullopt;
        std::uint64_t value = 0;
        for (const char c : *digits) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (value > UINT32_MAX) return std::nullopt;
        return static_cast<std::uint32_t>(value);
    }
};

// write_document's Out over a pugixml document.
class XmlOut {
  public:
    explicit XmlOut(pugi::xml_node root) : stack_{root} {}

    // An empty value stays an empty element (<Prefix/>), as a parse of one leaves it.
    void text(const char* name, std::string_view value) {
        pugi::xml_node node = stack_.back().append_child(name);
        if (!value.empty()) node.text().set(std::string(value).c_str());
    }
    void uint32(const char* name, std::uint32_t value) { text(name, std::to_string(value)); }
    void open(const char* name) { stack_.push_back(stack_.back().append_child(name)); }
    void close() { stack_.pop_back(); }
    void open_list(const char*) {}
    void close_list() {}
    void open_item(const char* name) { open(name); }
    void close_item() { close(); }

  private:
    std::vector<pugi::xml_node> stack_;
};

// pugixml leaves an undeclared entity reference ("&name;") or a bare '&' in
// the text as it stands; XML calls either not well-formed, and so does S3.
// With no DOCTYPE nothing can declare an entity, so outside comments, CDATA
// sections and processing instructions (whose '&' is text) every '&' must
// start one of XML's five references or a character reference. Returns
// what is wrong, or nullptr; a DOCTYPE is named as such (a billion laughs
// would otherwise be reported as its first undeclared reference).
inline const char* ill_formed_reference(std::string_view body) noexcept {
    constexpr const char* bare_ampersand = "an '&' that starts no XML reference (entities are not declared)";
    constexpr std::string_view verbatim[][2] = {{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}};
    std::size_t at = 0;
    while ((at = body.find_first_of("&<", at)) != std::string_view::npos) {
        if (body[at] == '<') {
            if (body.substr(at, 9) == "<!DOCTYPE") return "a DOCTYPE is not allowed";
            std::size_t next = at + 1;
            for (const auto& section : verbatim) {
                if (body.substr(at, section[0].size()) != section[0]) continue;
                const std::size_t close = body.find(section[1], at + section[0].size());
                if (close == std::string_view::npos) return nullptr; // unterminated: pugixml refuses it
                next = close + section[1].size();
                break;
            }
            at = next;
            continue;
        }
        const std::size_t end = body.find(';', at);
        if (end == std::string_view::npos) return bare_ampersand;
        const std::string_view name = body.substr(at + 1, end - at - 1);
        const bool predefined = name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos";
        const bool hex = name.size() > 2 && name[0] == '#' && name[1] == 'x' &&
                         name.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string_view::npos;
        const bool decimal =
            name.size() > 1 && name[0] == '#' && name.find_first_not_of("0123456789", 1) == std::string_view::npos;
        if (!predefined && !hex && !decimal) return bare_ampersand;
        at = end + 1;
    }
    return nullptr;
}

[[noreturn]] inline void malformed_document(const std::string& what) {
    config_fail(S3ErrorCode::MalformedXML, std::nullopt, "", what);
}

} // namespace detail

/// Reads a PutBucketReplication body into the model, every element of AWS's
/// schema kept (a V1 rule's rule-level Prefix apart from a Filter); pair with
/// validate() before storing it.
///
/// Throws ConfigError, whose problem() names the S3 code, rule index and
/// element: MalformedXML for a body that is not the schema (not well-formed,
/// over 2 MB, not UTF-8, a DOCTYPE, unknown or repeated elements, a Filter
/// with two of Prefix/Tag/And, a Priority that is not an integer, a Status
/// that is neither Enabled nor Disabled, a required element missing);
/// InvalidArgument for a Destination/Bucket that is not a bucket ARN.
/// pugixml expands no entities but the five XML ones and character
/// references, a DOCTYPE is refused and so is any other reference ("&name;",
/// which nothing can declare), so no entity can grow the input.
/// Cost: time and memory linear in the body, which is at most 2 MB.
///
///     s3repl::ReplicationConfig config = s3repl::parse_replication_xml(body);
///     if (const auto problems = s3repl::validate(config); !problems.empty()) answer(problems.front());
///     manager.put_config(bucket, std::move(config));
inline ReplicationConfig parse_replication_xml(std::string_view body) {
    if (body.size() > detail::max_config_document_size) detail::malformed_document("the document is larger than 2 MB");
    if (!detail::is_valid_utf8(body)) detail::malformed_document("the document is not valid UTF-8");
    if (const char* wrong = detail::ill_formed_reference(body)) detail::malformed_document(wrong);
    pugi::xml_document doc;
    const pugi::xml_parse_result parsed =
        doc.load_buffer(body.data(), body.size(),
                        pugi::parse_default | pugi::parse_ws_pcdata_single | pugi::parse_doctype, pugi::encoding_utf8);
    if (!parsed)
        detail::malformed_document(std::string(parsed.description()) + " at byte " + std::to_string(parsed.offset));
    pugi::xml_node root;
    for (const pugi::xml_node node : doc.children()) {
        if (node.type() == pugi::node_doctype) detail::malformed_document("a DOCTYPE is not allowed");
        if (node.type() == pugi::node_pcdata && !detail::is_xml_space(node.value()))
            detail::malformed_document("text outside the root element");
        if (node.type() != pugi::node_element) continue;
        if (root) detail::malformed_document("more than one root element");
        root = node;
    }
    if (!root || std::string_view(root.name()) != "ReplicationConfiguration")
        detail::malformed_document("the root element must be ReplicationConfiguration");
    return detail::DocumentReader<detail::XmlNode>().read(detail::XmlNode{root});
}

/// The GetBucketReplication body: an XML declaration and a
/// ReplicationConfiguration in S3's namespace, compact. parse_replication_xml
/// reads it back equal (for text XML can hold: no control characters but tab
/// and line feed).
inline std::string to_replication_xml(const ReplicationConfig& config) {
    pugi::xml_document doc;
    pugi::xml_node declaration = doc.append_child(pugi::node_declaration);
    declaration.append_attribute("version") = "1.0";
    declaration.append_attribute("encoding") = "UTF-8";
    pugi::xml_node root = doc.append_child("ReplicationConfiguration");
    root.append_attribute("xmlns") = std::string(s3_xml_namespace).c_str();
    detail::XmlOut out(root);
    detail::write_document(out, config);
    std::ostringstream text;
    doc.save(text, "", pugi::format_raw, pugi::encoding_utf8);
    return text.str();
}

} // namespace v0
} // namespace s3repl
