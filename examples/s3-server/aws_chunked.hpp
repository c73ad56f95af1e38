#pragma once

#include "s3_error.hpp"

#include <string>
#include <string_view>

namespace s3server {

/// True when the PUT body is in AWS's own chunked framing (SigV4 streaming):
/// newer AWS SDKs and CLIs send it by default, over and above any HTTP
/// transfer encoding, which cpp-httplib has already removed.
inline bool is_aws_chunked(std::string_view content_sha256, std::string_view content_encoding) {
    return content_sha256.substr(0, 10) == "STREAMING-" ||
           content_encoding.find("aws-chunked") != std::string_view::npos;
}

/// Decodes `<hex-size>[;chunk-signature=...]\r\n<bytes>\r\n ... 0...\r\n[trailers]\r\n`.
/// Chunk signatures and trailing checksums are not verified (this demo does
/// not check signatures at all). Throws IncompleteBody on broken framing.
inline std::string decode_aws_chunked(std::string_view framed) {
    const auto broken = [](const char* why) {
        return S3Error("IncompleteBody", 400, std::string("aws-chunked body: ") + why);
    };
    std::string body;
    for (;;) {
        const std::size_t line_end = framed.find("\r\n");
        if (line_end == std::string_view::npos) throw broken("a chunk header has no CRLF");
        const std::string_view size_text = framed.substr(0, framed.find_first_of(";\r"));
        if (size_text.empty() || size_text.size() > 15) throw broken("a chunk size is missing or too long");
        std::size_t size = 0;
        for (const char c : size_text) {
            const int digit = (c >= '0' && c <= '9')   ? c - '0'
                              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                       : -1;
            if (digit < 0) throw broken("a chunk size is not hexadecimal");
            size = size * 16 + static_cast<std::size_t>(digit);
        }
        framed.remove_prefix(line_end + 2);
        if (size == 0) return body; // what follows are trailers (checksums) and the final CRLF
        if (framed.size() < size + 2 || framed.substr(size, 2) != "\r\n")
            throw broken("a chunk is shorter than its size");
        body.append(framed.data(), size);
        framed.remove_prefix(size + 2);
    }
}

} // namespace s3server
