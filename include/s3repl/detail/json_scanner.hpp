#pragma once

#include "s3repl/detail/byte_scan.hpp"
#include "s3repl/detail/utf8.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Why a number was not an unsigned 64-bit integer.
enum class OtherNumber { Negative, FractionOrExponent, TooLarge };

// A strict RFC 8259 push parser for the snapshot reader. nlohmann's SAX
// lexer was the first choice, but it copies every byte twice (the token and
// the error context) and cost more than the whole rest of a restore; this
// one hands out string_views into the input when a string has no escapes.
//
// Handler events (each returns false to stop): null(), boolean(bool),
// number_unsigned(uint64_t), other_number(OtherNumber), string(string_view),
// key(string_view), start_object(), end_object(), start_array(),
// end_array(), syntax_error(size_t byte, const char* what). Before each
// element of an array, array_element(const char*& p, const char* end) may
// read the whole element itself, moving p past it (the handler's fast path
// for the layout it knows best; it must accept only what the events
// would), or leave p for the scanner to read it.
//
// Iterative, so nesting depth costs one byte of stack per level, not a frame.
// Rejects: a byte-order mark, invalid UTF-8, raw control characters in
// strings, lone surrogate escapes, leading zeros, and trailing content.
template <class Handler>
class JsonScanner {
  public:
    JsonScanner(std::string_view text, Handler& handler)
        : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), handler_(handler) {}

    // True when the whole text was one valid JSON value the handler accepted.
    bool run() {
        bool want_value = true; // else: after a value, want ',' or a closing bracket
        for (;;) {
            skip_whitespace();
            if (want_value) {
                if (!containers_.empty() && containers_.back() == '[') {
                    const char* before = p_;
                    if (!handler_.array_element(p_, end_)) return false;
                    if (p_ != before) {
                        want_value = false;
                        continue;
                    }
                }
                if (!value(want_value)) return false;
                continue;
            }
            if (containers_.empty()) return p_ == end_ || error("unexpected content after the end of the document");
            const char open = containers_.back();
            if (p_ == end_) return error(open == '{' ? "unterminated object" : "unterminated array");
            const char c = *p_++;
            if (c == ',') {
                if (open == '{' && !member_key()) return false;
                want_value = true;
            } else if (c == (open == '{' ? '}' : ']')) {
                containers_.pop_back();
                if (!(open == '{' ? handler_.end_object() : handler_.end_array())) return false;
            } else {
                --p_;
                return error(open == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    }

  private:
    // Reads a scalar, or opens a container (its first member's key read);
    // sets want_value when a member value must follow.
    bool value(bool& want_value) {
        if (p_ == end_) return error("expected a value");
        want_value = false;
        switch (*p_) {
        case '{':
        case '[': {
            const char open = *p_++;
            const char close = open == '{' ? '}' : ']';
            containers_.push_back(open);
            if (!(open == '{' ? handler_.start_object() : handler_.start_array())) return false;
            skip_whitespace();
            if (p_ != end_ && *p_ == close) {
                ++p_;
                containers_.pop_back();
                return open == '{' ? handler_.end_object() : handler_.end_array();
            }
            want_value = true;
            return open == '[' || member_key();
        }
        case '"': {
            std::string_view text;
            return string(text) && handler_.string(text);
        }
        case 't': return literal("true") && handler_.boolean(true);
        case 'f': return literal("false") && handler_.boolean(false);
        case 'n': return literal("null") && handler_.null();
        default: return number();
        }
    }

    // `"name" :` inside an object.
    bool member_key() {
        skip_whitespace();
        if (p_ == end_ || *p_ != '"') return error("expected a string key");
        std::string_view name;
        if (!string(name)) return false;
        skip_whitespace();
        if (p_ == end_ || *p_ != ':') return error("expected ':'");
        ++p_;
        return handler_.key(name);
    }

    void skip_whitespace() noexcept {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }

    bool literal(std::string_view word) {
        if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
            return error("invalid literal");
        p_ += word.size();
        return true;
    }

    bool number() {
        const char* start = p_;
        const bool negative = *p_ == '-';
        if (negative) ++p_;
        if (p_ == end_ || *p_ < '0' || *p_ > '9') return error("invalid number");
        std::uint64_t value = 0;
        bool too_large = false;
        if (*p_ == '0') {
            ++p_;
        } else {
            for (; p_ != end_ && *p_ >= '0' && *p_ <= '9'; ++p_) {
                const auto digit = static_cast<std::uint64_t>(*p_ - '0');
                if (value > (UINT64_MAX - digit) / 10) too_large = true;
                value = value * 10 + digit;
            }
        }
        bool fraction_or_exponent = false;
        if (p_ != end_ && *p_ == '.') {
            ++p_;
            if (!digits()) return error("expected digits after the decimal point");
            fraction_or_exponent = true;
        }
        if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (!digits()) return error("expected digits in the exponent");
            fraction_or_exponent = true;
        }
        if (p_ != end_ && *p_ >= '0' && *p_ <= '9') { // "01"
            p_ = start;
            return error("invalid number (leading zero)");
        }
        if (negative) return handler_.other_number(OtherNumber::Negative);
        if (fraction_or_exponent) return handler_.other_number(OtherNumber::FractionOrExponent);
        if (too_large) return handler_.other_number(OtherNumber::TooLarge);
        return handler_.number_unsigned(value);
    }
    bool digits() noexcept {
        const char* start = p_;
        while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
        return p_ != start;
    }

    // Reads a string at p_ (on its opening quote). `out` views the input when
    // the string has no escapes, else the decoded copy in buffer_.
    bool string(std::string_view& out) {
        const char* start = ++p_;
        // Fast path: plain printable ASCII up to the closing quote.
        if (const char* quote = plain_string_end(p_, end_)) {
            out = std::string_view(start, static_cast<std::size_t>(quote - start));
            p_ = quote + 1;
            return true;
        }
        while (p_ != end_) {
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '\\' || c < 0x20 || c >= 0x80 || c == '"') break;
            ++p_;
        }
        buffer_.assign(start, p_);
        return string_slow(out);
    }

    bool string_slow(std::string_view& out) {
        while (p_ != end_) {
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                ++p_;
                out = buffer_;
                return true;
            }
            if (c < 0x20) return error("control character in a string (must be escaped)");
            if (c == '\\') {
                if (!escape()) return false;
                continue;
            }
            const char* run = p_;
            while (p_ != end_ && static_cast<unsigned char>(*p_) >= 0x20 && *p_ != '"' && *p_ != '\\') ++p_;
            const std::string_view raw(run, static_cast<std::size_t>(p_ - run));
            if (!is_valid_utf8(raw)) {
                p_ = run;
                return error("invalid UTF-8 in a string");
            }
            buffer_.append(raw);
        }
        return error("unterminated string");
    }

    bool escape() {
        ++p_; // the backslash
        if (p_ == end_) return error("unterminated string");
        const char c = *p_++;
        switch (c) {
        case '"': buffer_ += '"'; return true;
        case '\\': buffer_ += '\\'; return true;
        case '/': buffer_ += '/'; return true;
        case 'b': buffer_ += '\b'; return true;
        case 'f': buffer_ += '\f'; return true;
        case 'n': buffer_ += '\n'; return true;
        case 'r': buffer_ += '\r'; return true;
        case 't': buffer_ += '\t'; return true;
        case 'u': break;
        default: p_ -= 2; return error("invalid escape in a string");
        }
        std::uint32_t code = 0;
        if (!hex4(code)) return false;
        if (code >= 0xDC00 && code <= 0xDFFF) return error("lone low surrogate escape in a string");
        if (code >= 0xD800 && code <= 0xDBFF) {
            std::uint32_t low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return error("lone high surrogate escape in a string");
            p_ += 2;
            if (!hex4(low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return error("lone high surrogate escape in a string");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(code);
        return true;
    }
    bool hex4(std::uint32_t& code) {
        if (end_ - p_ < 4) return error("incomplete \\u escape");
        code = 0;
        for (int i = 0; i < 4; ++i, ++p_) {
            const char h = *p_;
            const int digit = h >= '0' && h <= '9'   ? h - '0'
                              : h >= 'a' && h <= 'f' ? h - 'a' + 10
                              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                     : -1;
            if (digit < 0) return error("invalid \\u escape");
            code = code << 4 | static_cast<std::uint32_t>(digit);
        }
        return true;
    }
    void append_utf8(std::uint32_t code) {
        if (code < 0x80) {
            buffer_ += static_cast<char>(code);
        } else if (code < 0x800) {
            buffer_ += static_cast<char>(0xC0 | code >> 6);
            buffer_ += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            buffer_ += static_cast<char>(0xE0 | code >> 12);
            buffer_ += static_cast<char>(0x80 | (code >> 6 & 0x3F));
            buffer_ += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            buffer_ += static_cast<char>(0xF0 | code >> 18);
            buffer_ += static_cast<char>(0x80 | (code >> 12 & 0x3F));
            buffer_ += static_cast<char>(0x80 | (code >> 6 & 0x3F));
            buffer_ += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    bool error(const char* what) {
        handler_.syntax_error(static_cast<std::size_t>(p_ - begin_), what);
        return false;
    }

    const char* const begin_;
    const char* p_;
    const char* const end_;
    Handler& handler_;
    std::vector<char> containers_; // '{' or '[' per open container
    std::string buffer_;           // decoded strings with escapes or non-ASCII
};

} // namespace detail
} // namespace v0
} // namespace s3repl
