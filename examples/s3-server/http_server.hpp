#pragma once

#include "http_request.hpp"
#include "s3_error.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace s3server {

/// What the HTTP layer accepts before a handler sees a request.
struct HttpLimits {
    /// The request line and header fields together; S3's limit. Over it:
    /// 400 RequestHeaderSectionTooLarge.
    std::uint32_t header_bytes = 8 * 1024;
    /// A body, after HTTP chunked decoding. The server holds a body in
    /// memory (and a GET's answer), so this stays well under S3's 5 GiB for
    /// one PUT. Over it: 400 EntityTooLarge, known from Content-Length before
    /// any byte of the body is read.
    std::uint64_t body_bytes = std::uint64_t{1} << 30;
    /// From the end of one exchange (or the connection's start) until the
    /// next request's header is complete: an idle keep-alive connection or
    /// a client trickling its header is closed after it.
    std::chrono::seconds header_timeout{60};
    /// The longest a body read or a response write may stall without a
    /// single byte moving; a slow client that keeps moving is not cut.
    std::chrono::seconds stall_timeout{30};
};

/// An HTTP/1.1 server on Boost.Beast: keep-alive, pipelining, chunked
/// request bodies, `Expect: 100-continue`, HEAD (the GET's headers and
/// Content-Length, no body), the limits and timeouts of HttpLimits.
///
/// Threads: one io_context run by `threads` threads. Reads and writes are
/// asynchronous, so an idle or slow connection holds no thread; a handler
/// runs on the thread that read its request and may block (disk writes,
/// fsync), so `threads` is how many requests are handled at once. Each
/// connection's steps run in order on its own strand.
///
/// The socket is bound and listening once the constructor returns;
/// connections wait in the listen backlog until run(). A failure the HTTP
/// layer answers itself (a parse error, a limit) goes to `refuse`, which
/// makes the response; the connection is closed after it, because the rest
/// of its bytes cannot be trusted to start a request.
class HttpServer {
  public:
    using Handler = std::function<HttpResponse(const HttpRequest&)>;
    using Refusal = std::function<HttpResponse(const S3Error&)>;

    /// Throws std::runtime_error naming the address when it cannot listen.
    HttpServer(const std::string& address, unsigned short port, std::size_t threads, Handler handler, Refusal refuse,
               HttpLimits limits = {})
        : threads_(threads), io_(static_cast<int>(threads)), acceptor_(io_),
          shared_(std::make_shared<Shared>(Shared{std::move(handler), std::move(refuse), limits})) {
        boost::system::error_code error;
        boost::asio::ip::tcp::resolver resolver(io_);
        const auto endpoints = resolver.resolve(address, std::to_string(port), error);
        if (!error && endpoints.empty()) error = boost::asio::error::host_not_found;
        if (!error) {
            const boost::asio::ip::tcp::endpoint endpoint = *endpoints.begin();
            if (!acceptor_.open(endpoint.protocol(), error) &&
                !acceptor_.set_option(boost::asio::socket_base::reuse_address(true), error) &&
                !acceptor_.bind(endpoint, error))
                acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
        }
        if (error)
            throw std::runtime_error("cannot listen on " + address + ':' + std::to_string(port) + ": " +
                                     error.message());
    }

    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// The port listened on (the OS's pick when constructed with 0).
    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    /// Accepts and serves until stop(); returns once no handler runs.
    void run() {
        accept();
        std::vector<std::thread> helpers;
        for (std::size_t i = 1; i < threads_; ++i) helpers.emplace_back([this] { serve(); });
        serve();
        for (std::thread& helper : helpers) helper.join();
    }

    /// Makes run() return: handlers running finish, connections are
    /// dropped. Thread-safe; may come before run() (which then returns at once).
    void stop() { io_.stop(); }

  private:
    using Tcp = boost::asio::ip::tcp;

    struct Shared {
        Handler handler;
        Refusal refuse;
        HttpLimits limits;
    };

    class Connection : public std::enable_shared_from_this<Connection> {
      public:
        Connection(Tcp::socket socket, std::shared_ptr<const Shared> shared)
            : stream_(std::move(socket)), shared_(std::move(shared)) {}

        // The first step runs on the connection's strand, as all others do.
        void start() {
            boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
        }

      private:
        void read_header() {
            parser_.emplace();
            parser_->header_limit(shared_->limits.header_bytes);
            parser_->body_limit(shared_->limits.body_bytes);
            stream_.expires_after(shared_->limits.header_timeout);
            boost::beast::http::async_read_header(
                stream_, buffer_, *parser_, [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                    if (error) return self->fail(error);
                    self->continue_if_expected();
                });
        }

        // A client sending `Expect: 100-continue` waits for this before
        // sending the body (boto3 does on PUT).
        void continue_if_expected() {
            const auto expect = parser_->get()[boost::beast::http::field::expect];
            if (!boost::beast::iequals(expect, "100-continue") || parser_->is_done()) return read_body();
            static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
            stream_.expires_after(shared_->limits.stall_timeout);
            boost::asio::async_write(stream_, boost::asio::buffer(interim.data(), interim.size()),
                                     [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                                         if (error) return; // the client is gone
                                         self->read_body();
                                     });
        }

        void read_body() {
            if (parser_->is_done()) return respond();
            stream_.expires_after(shared_->limits.stall_timeout);
            boost::beast::http::async_read_some(
                stream_, buffer_, *parser_, [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                    if (error) return self->fail(error);
                    self->read_body();
                });
        }

        void respond() {
            const HttpRequest request = parser_->release();
            HttpResponse response;
            try {
                response = shared_->handler(request);
            } catch (const std::exception& error) {
                // Handlers answer their own errors; this is a last resort
                // that keeps the thread (and the server) alive.
                std::cerr << "HTTP handler: " << error.what() << '\n';
                return;
            }
            response.version(request.version());
            response.keep_alive(request.keep_alive() && response.keep_alive());
            send(std::move(response), request.method() == boost::beast::http::verb::head);
        }

        // Answers what the HTTP layer cannot pass to a handler. A client
        // gone (or silent past a timeout) gets nothing.
        void fail(boost::system::error_code error) {
            namespace http = boost::beast::http;
            if (error == http::error::end_of_stream || error == boost::beast::error::timeout ||
                error == boost::asio::error::operation_aborted || error == boost::asio::error::connection_reset)
                return;
            std::optional<S3Error> refusal;
            if (error == http::error::header_limit)
                refusal.emplace("RequestHeaderSectionTooLarge", 400,
                                "Your request header section exceeds the maximum allowed size.");
            else if (error == http::error::body_limit)
                refusal.emplace("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size");
            else if (error == http::error::partial_message)
                refusal.emplace("IncompleteBody", 400,
                                "You did not provide the number of bytes specified by the Content-Length HTTP "
                                "header");
            else
                refusal.emplace("BadRequest", 400, "An error occurred when parsing the HTTP request.");
            HttpResponse response = shared_->refuse(*refusal);
            response.keep_alive(false);
            send(std::move(response), false);
        }

        void send(HttpResponse response, bool head) {
            response.prepare_payload();
            if (head) {
                const std::size_t length = response.body().size();
                response.body().clear();
                if (length > 0) response.content_length(length);
            }
            response_.emplace(std::move(response));
            serializer_.emplace(*response_);
            write_some();
        }

        void write_some() {
            stream_.expires_after(shared_->limits.stall_timeout);
            boost::beast::http::async_write_some(
                stream_, *serializer_, [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                    if (error) return;
                    if (!self->serializer_->is_done()) return self->write_some();
                    const bool keep_alive = self->response_->keep_alive();
                    self->serializer_.reset();
                    self->response_.reset();
                    if (keep_alive) return self->read_header();
                    self->linger();
                });
        }

        // Closing a socket with unread bytes in it sends a reset, which can
        // destroy the answer just written before the client reads it. So
        // the sending side is shut first and what the client still sends is
        // read and dropped, for a short while, before the socket closes.
        void linger() {
            boost::system::error_code ignored;
            stream_.socket().shutdown(Tcp::socket::shutdown_send, ignored);
            stream_.expires_after(std::chrono::seconds(2));
            drain();
        }

        void drain() {
            stream_.async_read_some(boost::asio::buffer(drained_),
                                    [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                                        if (!error) self->drain();
                                    });
        }

        boost::beast::tcp_stream stream_;
        std::shared_ptr<const Shared> shared_;
        boost::beast::flat_buffer buffer_;
        std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
        std::optional<HttpResponse> response_;
        std::optional<boost::beast::http::response_serializer<boost::beast::http::string_body>> serializer_;
        std::array<char, 4096> drained_{};
    };

    void accept() {
        acceptor_.async_accept(boost::asio::make_strand(io_),
                               [this](boost::system::error_code error, Tcp::socket socket) {
                                   if (error == boost::asio::error::operation_aborted) return;
                                   if (!error) {
                                       std::make_shared<Connection>(std::move(socket), shared_)->start();
                                       return accept();
                                   }
                                   // Out of descriptors, say: connections wait in the backlog
                                   // while open ones finish, and no thread sleeps meanwhile.
                                   std::cerr << "accept: " << error.message() << '\n';
                                   retry_.expires_after(std::chrono::milliseconds(50));
                                   retry_.async_wait([this](boost::system::error_code) { accept(); });
                               });
    }

    // An exception out of a completion handler (Beast's bad_alloc, say)
    // ends that handler's connection, not the thread.
    void serve() {
        for (;;) {
            try {
                io_.run();
                return;
            } catch (const std::exception& error) {
                std::cerr << "HTTP: " << error.what() << '\n';
            }
        }
    }

    std::size_t threads_;
    boost::asio::io_context io_;
    Tcp::acceptor acceptor_;
    boost::asio::steady_timer retry_{io_};
    std::shared_ptr<const Shared> shared_;
};

} // namespace s3server
