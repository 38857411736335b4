// A small HTTP/1.1 server for the daemon's endpoints, on an io_context the
// caller runs (the daemon gives it a thread of its own; Boost.Beast
// underneath, and no Beast types leak out of this header).
//
// It is built to face a monitoring system and the occasional curl, and to
// survive whatever else reaches the port: keep-alive; a request's header
// and body must arrive within `read_timeout` of the server starting to read
// it (a slow or silent client is answered 408 or closed, so it cannot hold a
// connection); headers over `header_limit` get 431, bodies over
// `body_limit` 413, anything unparsable 400, and the connection is closed
// after each of those; at most `max_connections` are open at once (beyond
// that the connection idle the longest is closed to make room, and when none
// is idle the new one is answered 503 and closed); a client that does not
// read its answer within `write_timeout` is dropped. When accept() runs out
// of file descriptors the server pauses accepting briefly instead of
// spinning.
//
// Threads: Listen before the io_context runs, or on its thread; Stop on its
// thread (or once it has stopped); destroy after that. The handler is called
// on the io_context's thread; it answers through `Respond`, which any thread
// may call, once, now or later (e.g. after a query on another thread).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace boost::asio {
class io_context;
}

namespace http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query, percent-decoding not applied
  std::string query;   // after '?', or empty
  std::string authorization;
  std::string content_type;
  std::string if_none_match;  // for answers with an ETag
  std::string body;

  // The value of a query parameter (percent-decoded), or empty.
  std::string QueryParam(std::string_view key) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
  // When set, sent instead of `body`: one large answer shared by many
  // requests (a /metrics render) is then neither copied per request nor
  // per connection.
  std::shared_ptr<const std::string> shared_body = nullptr;
};

// Decodes %XX escapes and '+' as a space (query strings, S3 event keys).
std::string FormDecode(std::string_view text);

// A JSON error answer: {"error": message}.
Response JsonError(int status, std::string_view message);

using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request request, Respond respond)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 picks a free port (tests)
  std::size_t max_connections = 1000;
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 1024 * 1024;
  core::Duration read_timeout = std::chrono::seconds(10);
  core::Duration idle_timeout = std::chrono::seconds(60);
  core::Duration write_timeout = std::chrono::seconds(30);
};

class Server {
 public:
  // Binds and starts accepting. A port in use or a bad address is an Error
  // that names the address.
  static core::Result<std::unique_ptr<Server>> Listen(boost::asio::io_context& loop,
                                                      ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Stops accepting and closes every connection (answers in flight are dropped).
  void Stop();
  int port() const;
  std::size_t connections() const;

  struct Impl;

 private:
  explicit Server(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace http
