// Design note: every call is one C++20 coroutine on the client's own
// io_context thread, so the retry / redirect / rate-limit logic reads as a
// plain loop and all connection state (the idle pool, the socket of the
// current attempt) is touched by that one thread only, without locks. The
// calling thread waits on a future and, while it waits, polls the caller's
// cancellation; to abort it posts to the io thread, which cancels whatever
// the coroutine is waiting on.
#include "http/client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <zlib.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "fs/atomic_file.h"

namespace http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr int kMaxRateLimitWaits = 20;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Steady::time_point ToSteady(core::TimePoint deadline) {
  const auto now = std::chrono::system_clock::now();
  const auto cap = std::chrono::hours(24 * 365);
  if (deadline == core::TimePoint::max() || deadline - now > cap) return Steady::now() + cap;
  if (deadline <= now) return Steady::now();
  return Steady::now() + std::chrono::duration_cast<Steady::duration>(deadline - now);
}

core::Error MakeError(core::ErrorKind kind, std::string message, bool retryable) {
  return core::Error{kind, std::move(message), retryable};
}

// Where a request body comes from as it is sent: the request's string, or a
// range of a file read in pieces. Open() starts over (each attempt sends the
// whole body); Next() gives the following piece, empty once all is sent.
// io thread only, like BodySink.
class RequestBody {
 public:
  explicit RequestBody(const ClientRequest& request) : request_(request) {}
  RequestBody(const RequestBody&) = delete;
  RequestBody& operator=(const RequestBody&) = delete;

  core::Result<void> Open() {
    sent_ = 0;
    if (!request_.body_file) {
      size_ = request_.body.size();
      return {};
    }
    const FileBody& body = *request_.body_file;
    file_.close();
    file_.clear();
    file_.open(body.path, std::ios::binary);
    std::error_code ec;
    const std::uint64_t file_size = std::filesystem::file_size(body.path, ec);
    if (!file_ || ec) return Fail("cannot open the request body " + body.path.string());
    if (body.offset > file_size || (body.length && *body.length > file_size - body.offset)) {
      return Fail("the request body range " + std::to_string(body.offset) + "+" +
                  std::to_string(body.length.value_or(0)) + " is past the end of " +
                  body.path.string() + " (" + std::to_string(file_size) + " bytes)");
    }
    size_ = body.length.value_or(file_size - body.offset);
    file_.seekg(static_cast<std::streamoff>(body.offset));
    if (!file_) return Fail("cannot seek in the request body " + body.path.string());
    return {};
  }

  std::uint64_t size() const { return size_; }

  core::Result<std::string_view> Next() {
    if (!request_.body_file) {
      const std::string_view all = sent_ == 0 ? std::string_view(request_.body) : "";
      sent_ = size_;
      return all;
    }
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, size_ - sent_));
    if (want == 0) return std::string_view();
    piece_.resize(kPiece);
    file_.read(piece_.data(), static_cast<std::streamsize>(want));
    if (static_cast<std::size_t>(file_.gcount()) != want) {
      return Fail("the request body " + request_.body_file->path.string() +
                  " ended early (it changed while being sent)");
    }
    sent_ += want;
    return std::string_view(piece_.data(), want);
  }

 private:
  static constexpr std::size_t kPiece = 64 * 1024;

  static core::Unexpected Fail(std::string message) {
    return core::Unexpected(MakeError(core::ErrorKind::kIo, std::move(message), false));
  }

  const ClientRequest& request_;
  std::ifstream file_;
  std::vector<char> piece_;
  std::uint64_t size_ = 0;
  std::uint64_t sent_ = 0;
};

// Where a response body goes as it arrives: into memory, or into a file
// written under a temporary name beside it and renamed once complete (so the
// file either holds a whole body or does not exist). gzip and deflate are
// decoded on the way; the cap applies to the decoded size. The temporary
// file is removed unless Finish() succeeded, whatever ends the attempt.
// io thread only (the file writes block that thread briefly, never the
// daemon's loop).
class BodySink {
 public:
  explicit BodySink(std::size_t cap) : cap_(cap) {}
  BodySink(const BodySink&) = delete;
  BodySink& operator=(const BodySink&) = delete;
  ~BodySink() {
    if (inflating_) inflateEnd(&z_);
  }

  // `file` set: the body goes there. `encoding`: the Content-Encoding.
  core::Result<void> Open(const std::optional<std::filesystem::path>& file,
                          std::string_view encoding) {
    if (EqualsIgnoreCase(encoding, "gzip") || EqualsIgnoreCase(encoding, "deflate")) {
      if (inflateInit2(&z_, 15 + 32) != Z_OK) {
        return core::Unexpected(MakeError(core::ErrorKind::kInternal, "zlib init failed", false));
      }
      inflating_ = true;
    }
    if (!file) return {};
    auto writer = files::AtomicFileWriter::Create(*file);
    if (!writer) return core::Unexpected(writer.error());
    file_.emplace(std::move(*writer));
    return {};
  }

  // Raw bytes as they come off the wire.
  core::Result<void> Write(const char* data, std::size_t size) {
    if (!inflating_) return Put(data, size);
    fed_ += size;
    if (stream_end_) return {};  // trailing bytes after the gzip stream
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z_.avail_in = static_cast<uInt>(size);
    char chunk[64 * 1024];
    while (z_.avail_in > 0 && !stream_end_) {
      z_.next_out = reinterpret_cast<Bytef*>(chunk);
      z_.avail_out = sizeof chunk;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return core::Unexpected(
            MakeError(core::ErrorKind::kUpstream, "response body is not valid gzip", true));
      }
      if (rc == Z_STREAM_END) stream_end_ = true;
      if (auto put = Put(chunk, sizeof chunk - z_.avail_out); !put) return put;
      if (rc == Z_BUF_ERROR && z_.avail_out != 0) break;  // needs more input
    }
    return {};
  }

  // The body is complete: checks the gzip stream ended, then (for a file)
  // flushes it to disk and moves it into place.
  core::Result<void> Finish() {
    // No body at all (HEAD, 204, 304) is no truncated gzip.
    if (inflating_ && !stream_end_ && fed_ > 0) {
      return core::Unexpected(
          MakeError(core::ErrorKind::kUpstream, "gzip response body is truncated", true));
    }
    if (!file_) return {};
    return file_->Commit();
  }

  // A hint from Content-Length, for a body kept in memory.
  void Reserve(std::uint64_t size) {
    // Only up to 16 MiB on the server's word; a longer body grows as it comes.
    if (!file_ && size <= cap_)
      memory_.reserve(std::size_t(std::min<std::uint64_t>(size, 16 << 20)));
  }
  std::string TakeMemory() { return std::move(memory_); }
  std::uint64_t size() const { return size_; }

 private:
  core::Result<void> Put(const char* data, std::size_t size) {
    size_ += size;
    if (size_ > cap_) {
      return core::Unexpected(MakeError(core::ErrorKind::kUpstream,
                                        "response body larger than " + std::to_string(cap_) +
                                            (inflating_ ? " bytes once decoded" : " bytes"),
                                        false));
    }
    if (!file_) {
      memory_.append(data, size);
      return {};
    }
    return file_->Write(data, size);
  }

  const std::size_t cap_;
  std::uint64_t size_ = 0;
  std::string memory_;
  z_stream z_{};
  bool inflating_ = false;
  std::uint64_t fed_ = 0;  // compressed bytes seen
  bool stream_end_ = false;
  std::optional<files::AtomicFileWriter> file_;  // set for a body written to a file
};

struct Connection {
  std::string key;
  std::optional<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::optional<std::string_view> ClientResponse::Find(std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

// One call, shared by the waiting thread and the coroutine.
struct PendingResponse::State {
  ClientRequest request;
  CallOptions options;
  std::promise<core::Result<ClientResponse>> promise;
  std::future<core::Result<ClientResponse>> future;
  std::weak_ptr<Client::Impl> client;
  bool waited = false;

  // io thread only.
  bool aborted = false;
  std::function<void()> cancel_current;  // cancels what the coroutine waits on
};

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  explicit Impl(ClientOptions o) : options(std::move(o)) {
    thread = std::thread([this] { io.run(); });
  }

  // The TLS context trusting `ca_file` (the system store when unset), made
  // on first use. io thread only.
  core::Result<ssl::context*> TlsContext(const std::optional<std::filesystem::path>& ca_file) {
    const std::string key = ca_file ? ca_file->string() : std::string();
    auto it = tls_contexts.find(key);
    if (it == tls_contexts.end()) {
      auto made = std::make_unique<ssl::context>(ssl::context::tls_client);
      std::string error;
      try {
        made->set_verify_mode(ssl::verify_peer);
        if (ca_file) {
          made->load_verify_file(ca_file->string());
        } else {
          made->set_default_verify_paths();
        }
      } catch (const std::exception& e) {
        error = "TLS setup: cannot load the CA certificates";
        if (ca_file) error += " from " + ca_file->string();
        error += std::string(": ") + e.what();
        made.reset();
      }
      it = tls_contexts.emplace(key, TlsEntry{std::move(made), error}).first;
    }
    if (!it->second.context) {
      return core::Unexpected(
          MakeError(core::ErrorKind::kInvalidArgument, it->second.error, false));
    }
    return it->second.context.get();
  }

  void Stop() {
    work.reset();
    asio::post(io, [this] {
      idle.clear();
      io.stop();
    });
    if (thread.joinable()) thread.join();
  }

  using Op = PendingResponse::State;

  void Abort(const std::shared_ptr<Op>& op) {
    asio::post(io, [op] {
      op->aborted = true;
      if (op->cancel_current) op->cancel_current();
    });
  }

  std::shared_ptr<RateLimiter> LimiterFor(const std::string& upstream) {
    std::lock_guard lock(mutex);
    const auto it = upstreams.find(upstream);
    return it == upstreams.end() ? nullptr : it->second.limiter;
  }

  void Count(const std::string& host, int status, Steady::duration spent) {
    std::string cls = "error";
    if (status >= 100 && status < 600) cls = std::to_string(status / 100) + "xx";
    std::lock_guard lock(mutex);
    ++stats.requests[{host, cls}];
    stats.request_seconds_total += std::chrono::duration<double>(spent).count();
  }

  // Waits `d` unless aborted first; false when aborted.
  asio::awaitable<bool> Sleep(Op& op, Steady::duration d) {
    asio::steady_timer timer(io);
    timer.expires_after(d);
    op.cancel_current = [&timer] { timer.cancel(); };
    beast::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    op.cancel_current = nullptr;
    co_return !op.aborted;
  }

  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    return conn;
  }

  void PutIdle(std::unique_ptr<Connection> conn) {
    auto& list = idle[conn->key];
    if (list.size() >= options.max_idle_per_host) list.erase(list.begin());
    list.push_back(std::move(conn));
  }

  // A new connection to `target` (through `proxy` when set), TLS included.
  asio::awaitable<core::Result<std::unique_ptr<Connection>>> Connect(
      Op& op, const Url& target, const std::optional<Url>& proxy, const std::string& key,
      Steady::time_point deadline) {
    auto conn = std::make_unique<Connection>();
    conn->key = key;
    // Beast reads at most the buffer's free capacity at a time; without this
    // a large body comes in hundreds of 512-byte reads.
    conn->buffer.reserve(64 * 1024);
    const Url& hop = proxy ? *proxy : target;
    beast::error_code ec;

    tcp::resolver resolver(io);
    op.cancel_current = [&resolver] { resolver.cancel(); };
    const auto endpoints = co_await resolver.async_resolve(
        hop.host, std::to_string(hop.port), asio::redirect_error(asio::use_awaitable, ec));
    op.cancel_current = nullptr;
    if (op.aborted)
      co_return core::Unexpected(MakeError(core::ErrorKind::kCancelled, "cancelled", false));
    if (ec) {
      co_return core::Unexpected(MakeError(
          core::ErrorKind::kIo, "cannot resolve " + hop.host + ": " + ec.message(), true));
    }

    conn->plain.emplace(io);
    beast::tcp_stream& stream = *conn->plain;
    stream.expires_at(std::min(deadline, Steady::now() + options.connect_timeout));
    op.cancel_current = [&stream] { stream.cancel(); };
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    op.cancel_current = nullptr;
    if (op.aborted)
      co_return core::Unexpected(MakeError(core::ErrorKind::kCancelled, "cancelled", false));
    if (ec == beast::error::timeout) {
      co_return core::Unexpected(MakeError(core::ErrorKind::kTimeout,
                                           "connect to " + hop.Authority() + " timed out", true));
    }
    if (ec) {
      co_return core::Unexpected(MakeError(
          core::ErrorKind::kIo, "connect to " + hop.Authority() + ": " + ec.message(), true));
    }
    {
      std::lock_guard lock(mutex);
      ++stats.connections_opened;
    }
    stream.socket().set_option(tcp::no_delay(true), ec);

    if (proxy && target.https()) {
      bhttp::request<bhttp::empty_body> connect{bhttp::verb::connect, target.Authority(), 11};
      connect.set(bhttp::field::host, target.Authority());
      connect.set(bhttp::field::user_agent, options.user_agent);
      op.cancel_current = [&stream] { stream.cancel(); };
      co_await bhttp::async_write(stream, connect, asio::redirect_error(asio::use_awaitable, ec));
      bhttp::response_parser<bhttp::empty_body> answer;
      answer.skip(true);
      if (!ec) {
        co_await bhttp::async_read(stream, conn->buffer, answer,
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      op.cancel_current = nullptr;
      if (op.aborted)
        co_return core::Unexpected(MakeError(core::ErrorKind::kCancelled, "cancelled", false));
      if (ec) {
        co_return core::Unexpected(MakeError(
            core::ErrorKind::kIo, "proxy " + proxy->Authority() + ": " + ec.message(), true));
      }
      if (answer.get().result_int() != 200) {
        co_return core::Unexpected(MakeError(core::ErrorKind::kUpstream,
                                             "proxy " + proxy->Authority() +
                                                 " refused CONNECT with HTTP " +
                                                 std::to_string(answer.get().result_int()),
                                             false));
      }
    }

    if (target.https()) {
      auto context = TlsContext(op.options.ca_file ? op.options.ca_file : options.ca_file);
      if (!context) co_return core::Unexpected(context.error());
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*conn->plain),
                                                                         **context);
      conn->plain.reset();
      auto& tls_stream = *conn->tls;
      beast::error_code addr_ec;
      asio::ip::make_address(target.host, addr_ec);
      if (addr_ec) SSL_set_tlsext_host_name(tls_stream.native_handle(), target.host.c_str());
      tls_stream.set_verify_callback(ssl::host_name_verification(target.host));
      op.cancel_current = [&conn] { conn->Lowest().cancel(); };
      co_await tls_stream.async_handshake(ssl::stream_base::client,
                                          asio::redirect_error(asio::use_awaitable, ec));
      op.cancel_current = nullptr;
      if (op.aborted)
        co_return core::Unexpected(MakeError(core::ErrorKind::kCancelled, "cancelled", false));
      if (ec == beast::error::timeout) {
        co_return core::Unexpected(
            MakeError(core::ErrorKind::kTimeout,
                      "TLS handshake with " + target.Authority() + " timed out", true));
      }
      if (ec) {
        // A certificate problem will not go away by retrying.
        co_return core::Unexpected(
            MakeError(core::ErrorKind::kIo,
                      "TLS handshake with " + target.Authority() + ": " + ec.message(), false));
      }
    }
    co_return conn;
  }

  // What became of one exchange: a transport error, or the sink refused
  // the body (too large, not gzip, the file not writable), or the request
  // body could not be read (`sink_error` too: either ends the call).
  struct ExchangeEnd {
    beast::error_code ec;
    std::optional<core::Error> sink_error;
  };

  // Writes the request: the header, then the body piece by piece.
  template <class Stream>
  asio::awaitable<void> WriteRequest(Stream& stream, bhttp::request<bhttp::buffer_body>& req,
                                     RequestBody& body, ExchangeEnd& end) {
    bhttp::request_serializer<bhttp::buffer_body> serializer(req);
    beast::error_code& ec = end.ec;
    co_await bhttp::async_write_header(stream, serializer,
                                       asio::redirect_error(asio::use_awaitable, ec));
    while (!ec && !serializer.is_done()) {
      auto piece = body.Next();
      if (!piece) {
        end.sink_error = piece.error();
        co_return;
      }
      req.body().data = const_cast<char*>(piece->data());
      req.body().size = piece->size();
      req.body().more = !piece->empty();
      co_await bhttp::async_write(stream, serializer,
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
    }
  }

  // Sends the request and reads the answer, its body chunk by chunk into
  // `sink`: a 2xx body into `body_file` when the call names one, any other
  // into memory (an error's detail, a redirect's note).
  template <class Stream>
  asio::awaitable<ExchangeEnd> Exchange(Op& op, Stream& stream, Connection& conn,
                                        bhttp::request<bhttp::buffer_body>& req, RequestBody& body,
                                        bhttp::response_parser<bhttp::buffer_body>& parser,
                                        BodySink& sink, bool& wrote) {
    ExchangeEnd end;
    beast::error_code& ec = end.ec;
    op.cancel_current = [&conn] { conn.Lowest().cancel(); };
    if (auto opened = body.Open(); !opened) {
      end.sink_error = opened.error();
      co_return end;
    }
    req.content_length(body.size());
    // As Beast's prepare_payload does: an empty GET, HEAD or OPTIONS says
    // nothing about a body; any other method says Content-Length: 0.
    const bhttp::verb verb = req.method();
    if (body.size() == 0 &&
        (verb == bhttp::verb::get || verb == bhttp::verb::head || verb == bhttp::verb::options)) {
      req.content_length(boost::none);
    }
    co_await WriteRequest(stream, req, body, end);
    if (end.sink_error) {
      op.cancel_current = nullptr;
      co_return end;
    }
    if (!ec) {
      wrote = true;
      co_await bhttp::async_read_header(stream, conn.buffer, parser,
                                        asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec) {
      const auto& head = parser.get();
      const int status = head.result_int();
      const bool to_file = op.options.body_file && status >= 200 && status < 300;
      const auto encoding = head[bhttp::field::content_encoding];
      if (auto opened = sink.Open(to_file ? op.options.body_file : std::nullopt,
                                  std::string_view(encoding.data(), encoding.size()));
          !opened) {
        end.sink_error = opened.error();
      } else if (const auto length = parser.content_length()) {
        sink.Reserve(*length);
      }
    }
    std::vector<char> chunk;
    if (!ec && !end.sink_error && !parser.is_done()) chunk.resize(64 * 1024);
    while (!ec && !end.sink_error && !parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      co_await bhttp::async_read(stream, conn.buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) break;
      if (auto put = sink.Write(chunk.data(), chunk.size() - parser.get().body().size); !put) {
        end.sink_error = put.error();
      }
    }
    op.cancel_current = nullptr;
    co_return end;
  }

  // One request and its response (no retries, no redirects).
  asio::awaitable<core::Result<ClientResponse>> Attempt(Op& op, const ClientRequest& request,
                                                        const Url& target,
                                                        Steady::time_point deadline) {
    const std::optional<Url> proxy = options.proxy.For(target);
    std::string key = target.scheme + "://" + target.Authority();
    if (target.https() && op.options.ca_file) key += " ca=" + op.options.ca_file->string();
    if (proxy) key = "via " + proxy->Authority() + " " + key;
    const bool absolute_form = proxy && !target.https();

    bhttp::request<bhttp::buffer_body> req;
    req.method_string(request.method);
    req.target(absolute_form ? target.ToString() : target.target);
    req.version(11);
    req.set(bhttp::field::host,
            (target.port == 80 && !target.https()) || (target.port == 443 && target.https())
                ? target.host
                : target.Authority());
    req.set(bhttp::field::user_agent, options.user_agent);
    bool has_encoding = false;
    for (const Header& h : request.headers) {
      if (EqualsIgnoreCase(h.name, "accept-encoding")) has_encoding = true;
      req.set(h.name, h.value);
    }
    if (!has_encoding) req.set(bhttp::field::accept_encoding, "gzip");
    RequestBody body(request);

    // A pooled connection the server has closed meanwhile fails before any
    // answer; that is no failure of the request, so it gets one more try on
    // a new connection (not the next pooled one: the server likely closed
    // those too, all idle as long).
    for (int fresh_try = 0; fresh_try < 2; ++fresh_try) {
      std::unique_ptr<Connection> conn = fresh_try == 0 ? TakeIdle(key) : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto made = co_await Connect(op, target, proxy, key, deadline);
        if (!made) co_return core::Unexpected(made.error());
        conn = std::move(*made);
      }
      conn->Lowest().expires_at(std::min(deadline, Steady::now() + options.attempt_timeout));
      bhttp::response_parser<bhttp::buffer_body> parser;
      parser.body_limit(boost::none);  // the sink applies the cap, to the decoded size
      parser.header_limit(64 * 1024);
      // An answer to HEAD announces a length but carries no body.
      if (request.method == "HEAD") parser.skip(true);
      BodySink sink(op.options.max_body_bytes);
      bool wrote = false;
      // Not `?:` around the two co_awaits: GCC 12 destroys the result of such
      // a conditional twice once it owns memory.
      ExchangeEnd end;
      if (conn->tls) {
        end = co_await Exchange(op, *conn->tls, *conn, req, body, parser, sink, wrote);
      } else {
        end = co_await Exchange(op, *conn->plain, *conn, req, body, parser, sink, wrote);
      }
      const beast::error_code& ec = end.ec;
      if (op.aborted) {
        co_return core::Unexpected(MakeError(core::ErrorKind::kCancelled, "cancelled", false));
      }
      if (end.sink_error) co_return core::Unexpected(*end.sink_error);
      if (ec) {
        const bool nothing_read = !parser.got_some();
        if (reused && nothing_read && ec != beast::error::timeout) continue;
        if (ec == beast::error::timeout) {
          co_return core::Unexpected(
              MakeError(core::ErrorKind::kTimeout, "no complete answer in time", true));
        }
        if (parser.got_some()) {
          co_return core::Unexpected(MakeError(
              core::ErrorKind::kUpstream,
              "connection closed before the response was complete (" + ec.message() + ")", true));
        }
        co_return core::Unexpected(
            MakeError(core::ErrorKind::kIo, "connection error: " + ec.message(), true));
      }
      if (auto finished = sink.Finish(); !finished) co_return core::Unexpected(finished.error());
      const auto& message = parser.get();
      ClientResponse response;
      response.status = message.result_int();
      for (const auto& field : message) {
        response.headers.push_back(
            Header{std::string(field.name_string()), std::string(field.value())});
      }
      response.body = sink.TakeMemory();
      response.body_bytes = sink.size();
      const int status = response.status;
      if (op.options.body_file && status >= 200 && status < 300) {
        response.body_file = op.options.body_file;
      }
      if (message.keep_alive() && !op.aborted) PutIdle(std::move(conn));
      co_return response;
    }
    co_return core::Unexpected(
        MakeError(core::ErrorKind::kIo, "connection closed by the server", true));
  }

  // The whole call: rate limits, attempts, retries, redirects.
  asio::awaitable<core::Result<ClientResponse>> Execute(Op& op) {
    ClientRequest request = op.request;
    auto parsed = ParseUrl(request.url);
    if (!parsed) {
      co_return core::Unexpected(MakeError(parsed.error().kind,
                                           request_prefix(op) + parsed.error().message,
                                           parsed.error().retryable));
    }
    Url target = *parsed;
    const RetryPolicy policy = op.options.retry.value_or(options.retry);
    const Steady::time_point deadline = ToSteady(op.options.deadline);
    auto describe = [&] { return request.method + " " + RedactUrl(target.ToString()) + ": "; };
    auto fail = [&](core::ErrorKind kind, const std::string& what, bool retryable) {
      return core::Unexpected(MakeError(kind, describe() + what, retryable));
    };

    int attempts = 0, retries = 0, redirects = 0, waits = 0, server_waits = 0;
    for (;;) {
      if (op.aborted) co_return fail(core::ErrorKind::kCancelled, "cancelled", false);
      const std::string upstream = request.upstream.empty() ? target.host : request.upstream;
      if (auto limiter = LimiterFor(upstream)) {
        for (;;) {
          const auto wait = limiter->TryAcquire();
          if (wait <= Steady::duration::zero()) break;
          if (Steady::now() + wait > deadline) {
            co_return fail(
                core::ErrorKind::kTimeout,
                "the rate limit of " + upstream + " allows no request before the deadline", false);
          }
          ++waits;
          {
            std::lock_guard lock(mutex);
            ++stats.rate_limit_waits;
            stats.rate_limit_wait_seconds_total += std::chrono::duration<double>(wait).count();
          }
          if (!co_await Sleep(op, wait))
            co_return fail(core::ErrorKind::kCancelled, "cancelled", false);
        }
      }

      const auto started = Steady::now();
      if (started >= deadline) co_return fail(core::ErrorKind::kTimeout, "deadline passed", false);
      ++attempts;
      auto outcome = co_await Attempt(op, request, target, deadline);
      Count(target.host, outcome ? outcome->status : 0, Steady::now() - started);
      if (op.aborted) co_return fail(core::ErrorKind::kCancelled, "cancelled", false);

      std::optional<std::chrono::milliseconds> wait;
      if (!outcome) {
        const core::Error& error = outcome.error();
        const bool past_deadline = Steady::now() >= deadline;
        if (!error.retryable || retries >= policy.max_retries || past_deadline) {
          std::string what = error.message;
          if (attempts > 1) what += " (after " + std::to_string(attempts) + " attempts)";
          co_return fail(past_deadline ? core::ErrorKind::kTimeout : error.kind, what,
                         error.retryable);
        }
        wait = Backoff(policy, retries, rng);
        ++retries;
      } else {
        ClientResponse& response = *outcome;
        response.attempts = attempts;
        response.rate_limit_waits = waits;
        response.url = RedactUrl(target.ToString());
        const auto location = response.Find("location");
        const int max_redirects = op.options.max_redirects.value_or(options.max_redirects);
        if (IsRedirect(response.status) && location && max_redirects > 0) {
          if (++redirects > max_redirects) {
            co_return fail(core::ErrorKind::kUpstream,
                           "more than " + std::to_string(max_redirects) + " redirects", false);
          }
          auto next = ResolveLocation(target, *location);
          if (!next) co_return fail(core::ErrorKind::kUpstream, next.error().message, false);
          if (!target.SameOrigin(*next)) {
            std::erase_if(request.headers,
                          [](const Header& h) { return IsCredentialHeader(h.name); });
          }
          if (response.status == 303 ||
              ((response.status == 301 || response.status == 302) && request.method == "POST")) {
            request.method = "GET";
            request.body.clear();
            request.body_file.reset();
          }
          target = *next;
          continue;
        }
        if (!IsRetryableStatus(response.status)) co_return std::move(response);

        const auto server_wait = ServerRequestedWait(response.status, response.Find("retry-after"),
                                                     response.Find("x-ratelimit-reset")
                                                         ? response.Find("x-ratelimit-reset")
                                                         : response.Find("ratelimit-reset"),
                                                     std::chrono::system_clock::now());
        if (response.status == 429 && server_wait) {
          // The upstream's own word on its window; every caller waits, and it
          // does not use up the retries meant for failures.
          if (server_waits >= kMaxRateLimitWaits) co_return std::move(response);
          ++server_waits;
          ++waits;
          if (auto limiter = LimiterFor(upstream))
            limiter->PauseUntil(Steady::now() + *server_wait);
          std::lock_guard lock(mutex);
          ++stats.rate_limit_waits;
          stats.rate_limit_wait_seconds_total +=
              std::chrono::duration<double>(*server_wait).count();
        } else {
          if (retries >= policy.max_retries) co_return std::move(response);
          ++retries;
        }
        wait = server_wait ? *server_wait : Backoff(policy, retries - 1, rng);
        if (*wait > policy.max_server_wait || Steady::now() + *wait > deadline) {
          co_return std::move(response);
        }
      }
      {
        std::lock_guard lock(mutex);
        ++stats.retries;
      }
      if (Steady::now() + *wait > deadline) {
        co_return fail(
            core::ErrorKind::kTimeout,
            outcome ? "HTTP " + std::to_string(outcome->status) + " and no time left to retry"
                    : outcome.error().message + " and no time left to retry",
            false);
      }
      if (!co_await Sleep(op, *wait))
        co_return fail(core::ErrorKind::kCancelled, "cancelled", false);
    }
  }

  asio::awaitable<void> Run(std::shared_ptr<Op> op) {
    core::Result<ClientResponse> result = core::Unexpected(
        MakeError(core::ErrorKind::kInternal, "HTTP call ended without a result", false));
    try {
      result = co_await Execute(*op);
    } catch (const std::exception& e) {
      result = core::Unexpected(
          MakeError(core::ErrorKind::kInternal,
                    request_prefix(*op) + std::string("unexpected error: ") + e.what(), false));
    }
    op->promise.set_value(std::move(result));
  }

  static std::string request_prefix(const Op& op) {
    return op.request.method + " " + RedactUrl(op.request.url) + ": ";
  }

  struct TlsEntry {
    std::unique_ptr<ssl::context> context;  // null when it could not be set up
    std::string error;
  };

  // Set once in the constructor.
  const ClientOptions options;

  // io thread only; declared before `io` so that connections (destroyed
  // with the io_context) never outlive their TLS context.
  std::map<std::string, TlsEntry> tls_contexts;

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;

  // io thread only.
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::mt19937_64 rng{std::random_device{}()};

  // Guarded by mutex.
  mutable std::mutex mutex;
  // One per upstream that any caller set a limit for.
  struct Upstream {
    std::shared_ptr<RateLimiter> limiter;  // null while the limit is "none"
    RateLimit in_force;
    bool asked = false;      // SetRateLimit was called for it
    bool disagreed = false;  // two callers asked for different limits
  };
  std::map<std::string, Upstream> upstreams;
  ClientStats stats;
};

PendingResponse::PendingResponse(std::shared_ptr<State> state) : state_(std::move(state)) {}
PendingResponse::PendingResponse(PendingResponse&&) noexcept = default;
PendingResponse& PendingResponse::operator=(PendingResponse&&) noexcept = default;

PendingResponse::~PendingResponse() {
  if (!state_ || state_->waited) return;
  if (auto client = state_->client.lock()) client->Abort(state_);
  state_->future.wait();
}

core::Result<ClientResponse> PendingResponse::Wait() {
  State& s = *state_;
  s.waited = true;
  bool abort_sent = false;
  const auto deadline = s.options.deadline;
  while (s.future.wait_for(kPollInterval) != std::future_status::ready) {
    if (abort_sent) continue;
    const bool cancelled = s.options.cancelled && s.options.cancelled();
    // The io thread enforces the deadline on sockets and timers too; this
    // catches what it cannot see (a resolver stuck in getaddrinfo).
    const bool late = deadline != core::TimePoint::max() &&
                      std::chrono::system_clock::now() > deadline + std::chrono::seconds(1);
    if (cancelled || late) {
      if (auto client = s.client.lock()) client->Abort(state_);
      abort_sent = true;
    }
  }
  try {
    return s.future.get();
  } catch (const std::future_error&) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kCancelled,
        s.request.method + " " + RedactUrl(s.request.url) + ": the HTTP client was shut down",
        false});
  }
}

Client::Client(ClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}

Client::~Client() { impl_->Stop(); }

Client::SharedRateLimit Client::SetRateLimit(const std::string& upstream, RateLimit limit) {
  std::lock_guard lock(impl_->mutex);
  Impl::Upstream& u = impl_->upstreams[upstream];
  SharedRateLimit out;
  if (!u.asked) {
    u.asked = true;
    u.in_force = limit;
  } else if (limit != u.in_force) {
    out.first_disagreement = !u.disagreed;
    u.disagreed = true;
    u.in_force = Strictest(u.in_force, limit);
  }
  if (!u.in_force.unlimited()) {
    if (!u.limiter) {
      u.limiter = std::make_shared<RateLimiter>(u.in_force);
    } else {
      u.limiter->Tighten(u.in_force);
    }
  }
  out.in_force = u.in_force;
  return out;
}

PendingResponse Client::Start(ClientRequest request, CallOptions options) {
  auto state = std::make_shared<PendingResponse::State>();
  state->request = std::move(request);
  state->options = std::move(options);
  state->future = state->promise.get_future();
  state->client = impl_;
  asio::co_spawn(impl_->io, impl_->Run(state), asio::detached);
  return PendingResponse(state);
}

core::Result<ClientResponse> Client::Send(ClientRequest request, CallOptions options) {
  return Start(std::move(request), std::move(options)).Wait();
}

ClientStats Client::Stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace http
