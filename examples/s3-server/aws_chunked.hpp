#pragma once

#include "s3_error.hpp"
#include "sigv4_crypto.hpp"

#include <algorithm>
#include <string>
#include <string_view>

namespace s3server {

/// True when the PUT body is in AWS's own chunked framing (SigV4 streaming):
/// newer AWS SDKs and CLIs send it by default, over and above any HTTP
/// transfer encoding, which Beast's parser has already removed.
inline bool is_aws_chunked(std::string_view content_sha256, std::string_view content_encoding) {
    return content_sha256.substr(0, 10) == "STREAMING-" ||
           content_encoding.find("aws-chunked") != std::string_view::npos;
}

/// Checks the trailing headers after an aws-chunked body's final chunk,
/// `name:value\r\n` lines ending with `x-amz-trailer-signature:<hex>\r\n`
/// (then an empty line), against the chain. Throws IncompleteBody on broken
/// framing, SignatureDoesNotMatch on a missing or wrong signature.
inline void verify_signed_trailer(std::string_view trailer, sigv4::ChunkSignatureChain& signatures) {
    constexpr std::string_view signature_name = "x-amz-trailer-signature:";
    std::string headers; // what the trailer signature signs: each header line ending in LF
    for (;;) {
        const std::size_t line_end = trailer.find("\r\n");
        if (line_end == std::string_view::npos)
            throw S3Error("IncompleteBody", 400, "aws-chunked body: a trailing header has no CRLF");
        const std::string_view line = trailer.substr(0, line_end);
        trailer.remove_prefix(line_end + 2);
        if (line.empty()) throw sigv4::signature_does_not_match(); // the trailer ended unsigned
        if (line.substr(0, signature_name.size()) == signature_name)
            return signatures.verify_trailer(line.substr(signature_name.size()), headers);
        headers.append(line.data(), line.size());
        headers += '\n';
    }
}

/// Decodes `<hex-size>[;chunk-signature=...]\r\n<bytes>\r\n ... 0...\r\n[trailers]\r\n`.
/// With `signatures` (a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload), every
/// chunk must carry its `chunk-signature`, verified in order, and a signed
/// trailer its x-amz-trailer-signature: a missing or wrong one throws
/// SignatureDoesNotMatch (403) before any byte is returned. Without, chunk
/// extensions are ignored (unsigned framing, e.g.
/// STREAMING-UNSIGNED-PAYLOAD-TRAILER, is unsigned by design). Trailing
/// checksums are not verified. Throws IncompleteBody on broken framing.
inline std::string decode_aws_chunked(std::string_view framed, sigv4::ChunkSignatureChain* signatures = nullptr) {
    const auto broken = [](const char* why) {
        return S3Error("IncompleteBody", 400, std::string("aws-chunked body: ") + why);
    };
    std::string body;
    for (;;) {
        const std::size_t line_end = framed.find("\r\n");
        if (line_end == std::string_view::npos) throw broken("a chunk header has no CRLF");
        const std::size_t extension = framed.substr(0, line_end).find(';');
        const std::string_view size_text = framed.substr(0, std::min(extension, line_end));
        constexpr std::string_view signature_prefix = ";chunk-signature=";
        const std::string_view signature =
            extension == std::string_view::npos ? std::string_view() : framed.substr(extension, line_end - extension);
        if (signatures != nullptr && signature.substr(0, signature_prefix.size()) != signature_prefix)
            throw sigv4::signature_does_not_match();
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
        if (size > 0 && (framed.size() < size || framed.size() - size < 2 || framed.substr(size, 2) != "\r\n"))
            throw broken("a chunk is shorter than its size");
        if (signatures != nullptr)
            signatures->verify_chunk(signature.substr(signature_prefix.size()), framed.substr(0, size));
        if (size == 0) break; // what follows are trailers (checksums) and the final CRLF
        body.append(framed.data(), size);
        framed.remove_prefix(size + 2);
    }
    if (signatures != nullptr && signatures->has_signed_trailer()) verify_signed_trailer(framed, *signatures);
    return body;
}

} // namespace s3server
