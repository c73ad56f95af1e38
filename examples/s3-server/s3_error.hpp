#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace s3server {

/// An S3 error response: the XML `<Code>`, the HTTP status, a message for
/// people. Handlers throw it; the router turns it into the XML body.
class S3Error : public std::runtime_error {
  public:
    S3Error(std::string code, int http_status, const std::string& message)
        : std::runtime_error(message), code_(std::move(code)), http_status_(http_status) {}

    /// Adds an element the error's XML body carries after `<Message>`, as S3
    /// does for some codes (InvalidRange's RangeRequested, ...).
    S3Error&& with(std::string element, std::string text) && {
        details_.emplace_back(std::move(element), std::move(text));
        return std::move(*this);
    }

    const std::string& code() const noexcept { return code_; }
    int http_status() const noexcept { return http_status_; }
    const std::vector<std::pair<std::string, std::string>>& details() const noexcept { return details_; }

  private:
    std::string code_;
    int http_status_;
    std::vector<std::pair<std::string, std::string>> details_;
};

// The errors this server answers with, named as S3 names them.
inline S3Error malformed_xml(const std::string& why) {
    return S3Error("MalformedXML", 400,
                   "The XML you provided was not well-formed or did not validate against our published schema: " + why);
}
inline S3Error invalid_argument(const std::string& why) { return S3Error("InvalidArgument", 400, why); }
inline S3Error invalid_request(const std::string& why) { return S3Error("InvalidRequest", 400, why); }
inline S3Error no_such_bucket() { return S3Error("NoSuchBucket", 404, "The specified bucket does not exist"); }
inline S3Error no_such_key() { return S3Error("NoSuchKey", 404, "The specified key does not exist."); }
inline S3Error precondition_failed() {
    return S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold");
}
inline S3Error method_not_allowed() {
    return S3Error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.");
}
inline S3Error not_implemented(const std::string& what) {
    return S3Error("NotImplemented", 501, what + " is not implemented by this demo server");
}

} // namespace s3server
