#include "http_server/server.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "core/json_writer.h"
#include "crypto/hex.h"

namespace http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// How long accept() pauses when the process is out of file descriptors.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// The most written to a socket in one turn of the event loop (a /metrics
// answer for 1,000 jobs is over 1 MB, copying it in one go takes about a
// millisecond).
constexpr std::size_t kWriteChunk = 64 * 1024;

}  // namespace

std::string FormDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
      continue;
    }
    // A '%' not followed by two hex digits stays as it is.
    if (text[i] == '%' && i + 2 < text.size()) {
      if (const auto byte = crypto::FromHex(text.substr(i + 1, 2))) {
        out += *byte;
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

namespace {

const char* ReasonOf(int status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status)).data();
}

}  // namespace

std::string Request::QueryParam(std::string_view key) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (FormDecode(pair.substr(0, eq)) == key) {
      return eq == std::string_view::npos ? std::string() : FormDecode(pair.substr(eq + 1));
    }
  }
  return {};
}

Response JsonError(int status, std::string_view message) {
  core::JsonWriter json;
  json.Key("error").String(message);
  return Response{status, "application/json", json.Finish() + "\n", {}};
}

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& loop_in, ServerOptions options_in, Handler handler_in)
      : loop(loop_in),
        options(std::move(options_in)),
        handler(std::move(handler_in)),
        acceptor(loop_in),
        pause(loop_in) {}

  void Accept();
  void Reject(tcp::socket socket);
  bool EvictIdle();

  asio::io_context& loop;
  const ServerOptions options;
  const Handler handler;
  tcp::acceptor acceptor;
  asio::steady_timer pause;
  int port = 0;
  bool stopped = false;
  std::chrono::steady_clock::time_point last_fd_warning{};

  // Sessions may end on any thread at shutdown, hence the mutex.
  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::atomic<std::size_t> connection_count{0};
};

// One connection: reads requests one after another, hands each to the
// handler, writes the answer, and keeps the connection while both sides want it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket)),
        read_deadline_(stream_.get_executor()),
        server_(std::move(server)) {}

  ~Session() {
    std::lock_guard lock(server_->sessions_mutex);
    server_->sessions.erase(this);
    server_->connection_count.fetch_sub(1);
  }

  void Start() {
    {
      std::lock_guard lock(server_->sessions_mutex);
      server_->sessions.emplace(this, weak_from_this());
    }
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    WaitForRequest();
  }

  // Loop thread only: when the connection began waiting for a request, or
  // nullopt while it is reading or answering one.
  std::optional<std::chrono::steady_clock::time_point> idle_since() const { return idle_since_; }

  void Close() {
    idle_since_.reset();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  // Closing a socket that still has unread input makes the kernel send a
  // reset, and the client may lose our answer (a 408 or 413 above all). So
  // the sending side is shut first and what the client still sends is read
  // and dropped, for a short while, before the close.
  void LingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    Drain();
  }
  void Drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  // Waits for the first byte of the next request: an idle keep-alive
  // connection may wait `idle_timeout`; once a request begins, all of it
  // must arrive within `read_timeout` (ReadRequest).
  void WaitForRequest() {
    if (buffer_.size() > 0) {
      ReadRequest();
      return;
    }
    idle_since_ = std::chrono::steady_clock::now();
    stream_.expires_after(server_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->Close();
                              self->idle_since_.reset();
                              self->buffer_.commit(n);
                              self->ReadRequest();
                            });
  }

  // The read deadline is a timer of our own, not the stream's timeout: the
  // stream closes the socket when its timeout fires, and a 408 needs it open.
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.header_limit));
    parser_->body_limit(server_->options.body_limit);
    stream_.expires_never();
    timed_out_ = false;
    read_deadline_.expires_after(server_->options.read_timeout);
    read_deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->read_deadline_.cancel();
                        self->OnRead(ec);
                      });
  }

  void OnRead(beast::error_code ec) {
    if (timed_out_) {
      // A request that started and did not finish in time gets a 408.
      buffer_.clear();
      return Fail(408, "the request did not arrive in time");
    }
    if (ec == bhttp::error::end_of_stream) return Close();
    if (ec == bhttp::error::header_limit) return Fail(431, "request headers too large");
    if (ec == bhttp::error::body_limit) return Fail(413, "request body too large");
    if (ec && ec.category() == beast::error_code(bhttp::error::header_limit).category()) {
      return Fail(400, "malformed request: " + ec.message());
    }
    if (ec) return Close();  // the peer went away

    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    head_ = message.method() == bhttp::verb::head;
    Request request;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    if (target.empty() || target.front() != '/')
      return Fail(400, "the request target must be a path");
    const std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
      request.query = std::string(target.substr(question + 1));
    request.authorization = std::string(message[bhttp::field::authorization]);
    request.content_type = std::string(message[bhttp::field::content_type]);
    request.if_none_match = std::string(message[bhttp::field::if_none_match]);
    request.body = std::move(message.body());
    parser_.reset();

    auto executor = stream_.get_executor();
    Respond respond = [self = shared_from_this(), executor](Response response) {
      asio::post(executor, [self, response = std::move(response)]() mutable {
        self->Write(std::move(response), false);
      });
    };
    try {
      server_->handler(std::move(request), std::move(respond));
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed: {}", e.what());
      Write(JsonError(500, "internal error"), true);
    }
  }

  void Fail(int status, const std::string& why) {
    spdlog::debug("http: {} {}: {}", status, RemoteText(), why);
    keep_alive_ = false;
    head_ = false;
    Write(JsonError(status, why), true);
  }

  std::string RemoteText() {
    beast::error_code ec;
    const auto remote = stream_.socket().remote_endpoint(ec);
    return ec ? std::string("?")
              : remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  void Write(Response response, bool close) {
    if (server_->stopped) return Close();
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(response.status));
    response_.reason(ReasonOf(response.status));
    response_.set(bhttp::field::server, "jobsd");
    response_.set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) response_.set(name, value);
    response_.keep_alive(keep_alive_ && !close);
    body_owned_ = std::move(response.body);
    body_shared_ = std::move(response.shared_body);
    const std::string& bytes = body_shared_ ? *body_shared_ : body_owned_;
    if (response.status == 304) {
      // No body, and no length: a 304's would be that of the answer it
      // stands for.
    } else if (head_) {
      response_.content_length(bytes.size());
    } else {
      response_.body() = {bytes.data(), bytes.size()};
      response_.prepare_payload();
    }
    stream_.expires_after(server_->options.write_timeout);
    // A large answer goes out a chunk per turn of the loop, so that a timer
    // due meanwhile (a job's slot) waits for one chunk, not for every large
    // answer of every connection.
    serializer_.emplace(response_);
    serializer_->limit(kWriteChunk);
    bhttp::async_write(stream_, *serializer_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         self->serializer_.reset();
                         self->body_owned_.clear();
                         self->body_shared_.reset();
                         if (ec) return self->Close();
                         if (!self->response_.keep_alive()) return self->LingeringClose();
                         self->WaitForRequest();
                       });
  }

  beast::tcp_stream stream_;
  asio::steady_timer read_deadline_;
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // The answer being written: its bytes are owned here or shared (see
  // Response::shared_body); the message and serializer refer to them.
  std::string body_owned_;
  std::shared_ptr<const std::string> body_shared_;
  bhttp::response<bhttp::span_body<const char>> response_;
  std::optional<bhttp::response_serializer<bhttp::span_body<const char>>> serializer_;
  bool keep_alive_ = true;
  bool head_ = false;
  std::optional<std::chrono::steady_clock::time_point> idle_since_;
  const std::shared_ptr<Server::Impl> server_;
};

void Server::Impl::Accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE ||
          ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
        const auto now = std::chrono::steady_clock::now();
        if (now - self->last_fd_warning > std::chrono::seconds(10)) {
          self->last_fd_warning = now;
          spdlog::warn("http: cannot accept connections: {} ({} open); pausing accept",
                       ec.message(), self->connection_count.load());
        }
        self->pause.expires_after(kAcceptPause);
        self->pause.async_wait([self](beast::error_code wait_ec) {
          if (!wait_ec) self->Accept();
        });
        return;
      }
      self->Accept();
      return;
    }
    if (self->connection_count.load() >= self->options.max_connections && !self->EvictIdle()) {
      self->Reject(std::move(socket));
    } else {
      self->connection_count.fetch_add(1);
      std::make_shared<Session>(std::move(socket), self)->Start();
    }
    self->Accept();
  });
}

// At the connection cap, the connection that has waited longest for a
// request makes room, so that idle connections (thousands, opened and left)
// cannot lock out a health check. False when none is idle.
bool Server::Impl::EvictIdle() {
  std::shared_ptr<Session> oldest;
  std::chrono::steady_clock::time_point oldest_since{};
  {
    std::lock_guard lock(sessions_mutex);
    for (auto& [raw, weak] : sessions) {
      auto session = weak.lock();
      if (!session) continue;
      const auto since = session->idle_since();
      if (since && (!oldest || *since < oldest_since)) {
        oldest = std::move(session);
        oldest_since = *since;
      }
    }
  }
  if (!oldest) return false;
  oldest->Close();
  return true;
}

// Over the connection cap: a short 503 written without waiting (it fits in
// the socket buffer), then the connection is closed.
void Server::Impl::Reject(tcp::socket socket) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Content-Length: 33\r\nConnection: close\r\n\r\n{\"error\":\"too many connections\"}\n";
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

core::Result<std::unique_ptr<Server>> Server::Listen(asio::io_context& loop, ServerOptions options,
                                                     Handler handler) {
  const std::string where = options.host + ":" + std::to_string(options.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) {
    // A host name ("localhost"): resolved once, at start.
    tcp::resolver resolver(loop);
    const auto found = resolver.resolve(options.host, "", ec);
    if (ec || found.empty()) {
      return core::Unexpected(
          core::InvalidArgument("cannot listen on " + where + ": unknown host: " + ec.message()));
    }
    address = found.begin()->endpoint().address();
  }
  auto impl = std::make_shared<Impl>(loop, std::move(options), std::move(handler));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl->options.port));
  auto fail = [&](std::string_view step) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo,
        "cannot listen on " + where + ": " + std::string(step) + ": " + ec.message(), false});
  };
  impl->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  impl->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->port = impl->acceptor.local_endpoint(ec).port();
  impl->Accept();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

void Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->pause.cancel();
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->sessions_mutex);
    for (auto& [raw, weak] : impl_->sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (auto& session : open) session->Close();
}

int Server::port() const { return impl_->port; }

std::size_t Server::connections() const { return impl_->connection_count.load(); }

}  // namespace http
