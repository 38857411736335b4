#include "http_server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

namespace {

using namespace std::chrono_literals;

// A server on a loop thread of its own, answering with what it was asked.
class TestServer {
 public:
  explicit TestServer(http::ServerOptions options = {}, http::Handler handler = Echo()) {
    options.port = 0;
    auto server = http::Server::Listen(loop_, options, std::move(handler));
    REQUIRE(server);
    server_ = std::move(*server);
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~TestServer() {
    std::promise<void> stopped;
    boost::asio::post(loop_, [&] {
      server_->Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    loop_.stop();
    thread_.join();
    server_.reset();
  }
  int port() const { return server_->port(); }

  static http::Handler Echo() {
    return [](http::Request request, http::Respond respond) {
      http::Response response;
      response.content_type = "text/plain";
      response.body = request.method + " " + request.path + " q=" + request.QueryParam("q") +
                      " body=" + request.body;
      respond(std::move(response));
    };
  }

 private:
  boost::asio::io_context loop_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

// A plain blocking TCP client, so the tests control every byte.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { ::close(fd_); }

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close before we finish (limits)
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Reads one answer (headers plus Content-Length bytes of body), or what
  // arrived before the connection closed or `wait` passed.
  std::string ReadResponse(std::chrono::milliseconds wait = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      const auto end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        const auto at = buffer_.find("Content-Length: ");
        if (at != std::string::npos && at < end) length = std::stoul(buffer_.substr(at + 16));
        const bool head = buffer_.rfind("HTTP/1.1", 0) == 0 && head_;
        const std::size_t total = end + 4 + (head ? 0 : length);
        if (buffer_.size() >= total) {
          std::string response = buffer_.substr(0, total);
          buffer_.erase(0, total);
          return response;
        }
      }
      if (!Fill(deadline)) {
        std::string rest;
        rest.swap(buffer_);
        return rest;
      }
    }
  }
  // Whether the server closed the connection within `wait`.
  bool ClosedWithin(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (Fill(deadline)) {
    }
    return closed_;
  }
  void ExpectHeadAnswer() { head_ = true; }

 private:
  // Reads what is there; false on close or timeout.
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
  bool head_ = false;
};

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}
std::string Body(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace

TEST_CASE("server: form decoding of query strings, bad escapes kept as written", "[http][server]") {
  CHECK(http::FormDecode("a+b%20c%2Fd%2f") == "a b c/d/");
  CHECK(http::FormDecode("%e2%82%AC") == "\xe2\x82\xac");
  CHECK(http::FormDecode("100%") == "100%");
  CHECK(http::FormDecode("%4") == "%4");
  CHECK(http::FormDecode("%zz%4g%") == "%zz%4g%");
  CHECK(http::FormDecode("%%41") == "%A");
  CHECK(http::FormDecode("") == "");
}

TEST_CASE("server: keep-alive answers several requests on one connection", "[http][server]") {
  TestServer server;
  Client client(server.port());
  client.Send("GET /a?q=x%20y+z HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string first = client.ReadResponse();
  CHECK(StatusLine(first) == "HTTP/1.1 200 OK");
  CHECK(Body(first) == "GET /a q=x y z body=");
  client.Send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(Body(client.ReadResponse()) == "POST /b q= body=hello");
  // Two pipelined requests in one write.
  client.Send("GET /c HTTP/1.1\r\nHost: t\r\n\r\nGET /d HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(Body(client.ReadResponse()) == "GET /c q= body=");
  CHECK(Body(client.ReadResponse()) == "GET /d q= body=");
}

TEST_CASE("server: Connection: close and HTTP/1.0 close after the answer", "[http][server]") {
  TestServer server;
  {
    Client client(server.port());
    client.Send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECK(StatusLine(client.ReadResponse()) == "HTTP/1.1 200 OK");
    CHECK(client.ClosedWithin(2000ms));
  }
  Client old(server.port());
  old.Send("GET / HTTP/1.0\r\n\r\n");
  CHECK(StatusLine(old.ReadResponse()) == "HTTP/1.1 200 OK");
  CHECK(old.ClosedWithin(2000ms));
}

TEST_CASE("server: HEAD gets the length but no body", "[http][server]") {
  TestServer server;
  Client client(server.port());
  client.ExpectHeadAnswer();
  client.Send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string response = client.ReadResponse();
  CHECK(StatusLine(response) == "HTTP/1.1 200 OK");
  CHECK(response.find("Content-Length: 16\r\n") != std::string::npos);
  CHECK(Body(response).empty());
}

TEST_CASE("server: malformed requests get 400 and the connection is closed", "[http][server]") {
  TestServer server;
  for (const char* bad :
       {"BLAH\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET\x01/ HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n", "GET http://other/ HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    CAPTURE(bad);
    Client client(server.port());
    client.Send(bad);
    const std::string response = client.ReadResponse();
    CHECK(StatusLine(response) == "HTTP/1.1 400 Bad Request");
    CHECK(Body(response).find("\"error\"") != std::string::npos);
    CHECK(client.ClosedWithin(2000ms));
  }
}

TEST_CASE("server: oversized headers get 431, oversized bodies 413", "[http][server]") {
  http::ServerOptions options;
  options.header_limit = 1024;
  options.body_limit = 100;
  TestServer server(options);
  {
    Client client(server.port());
    client.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(5000, 'a') + "\r\n\r\n");
    CHECK(StatusLine(client.ReadResponse()) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(client.ClosedWithin(2000ms));
  }
  {
    Client client(server.port());
    client.Send("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n" + std::string(101, 'b'));
    CHECK(StatusLine(client.ReadResponse()) == "HTTP/1.1 413 Payload Too Large");
    CHECK(client.ClosedWithin(2000ms));
  }
  {
    // Declared small, sent chunked and large.
    Client client(server.port());
    client.Send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n" +
                std::string(512, 'c') + "\r\n0\r\n\r\n");
    CHECK(StatusLine(client.ReadResponse()) == "HTTP/1.1 413 Payload Too Large");
  }
}

TEST_CASE("server: a request that trickles in is cut off with 408 (slowloris)", "[http][server]") {
  http::ServerOptions options;
  options.read_timeout = 300ms;
  TestServer server(options);
  Client client(server.port());
  const auto start = std::chrono::steady_clock::now();
  client.Send("GET / HTTP/1.1\r\n");
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(50ms);
    client.Send("X-A: b\r\n");  // a header line now and then, never the end
  }
  const std::string response = client.ReadResponse(3000ms);
  CHECK(StatusLine(response) == "HTTP/1.1 408 Request Timeout");
  CHECK(client.ClosedWithin(2000ms));
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // generous: a loaded machine
}

TEST_CASE("server: an idle connection is closed after idle_timeout", "[http][server]") {
  http::ServerOptions options;
  options.idle_timeout = 200ms;
  TestServer server(options);
  Client client(server.port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(StatusLine(client.ReadResponse()) == "HTTP/1.1 200 OK");
  CHECK(client.ClosedWithin(3000ms));
}

TEST_CASE("server: a half-closed client still gets its answer", "[http][server]") {
  TestServer server;
  Client client(server.port());
  client.Send("GET /h HTTP/1.1\r\nHost: t\r\n\r\n");
  client.ShutdownWrite();
  CHECK(Body(client.ReadResponse()) == "GET /h q= body=");
  CHECK(client.ClosedWithin(2000ms));
}

TEST_CASE("server: at max_connections the longest-idle connection makes room", "[http][server]") {
  http::ServerOptions options;
  options.max_connections = 2;
  TestServer server(options);
  Client a(server.port());
  Client b(server.port());
  a.Send("GET /a HTTP/1.1\r\n\r\n");
  CHECK(StatusLine(a.ReadResponse()) == "HTTP/1.1 200 OK");
  b.Send("GET /b HTTP/1.1\r\n\r\n");
  CHECK(StatusLine(b.ReadResponse()) == "HTTP/1.1 200 OK");
  // Both now wait idle for their next request; a has waited longer.
  Client c(server.port());
  c.Send("GET /c HTTP/1.1\r\n\r\n");
  CHECK(Body(c.ReadResponse()) == "GET /c q= body=");
  CHECK(a.ClosedWithin(2000ms));
  b.Send("GET /b2 HTTP/1.1\r\n\r\n");
  CHECK(Body(b.ReadResponse()) == "GET /b2 q= body=");
}

TEST_CASE("server: at max_connections with none idle, a new one gets 503", "[http][server]") {
  http::ServerOptions options;
  options.max_connections = 2;
  TestServer server(options);
  // Two requests in progress (headers not finished): not idle.
  Client a(server.port());
  Client b(server.port());
  a.Send("GET / HTTP/1.1\r\n");
  b.Send("GET / HTTP/1.1\r\n");
  std::this_thread::sleep_for(100ms);
  Client c(server.port());
  CHECK(StatusLine(c.ReadResponse()) == "HTTP/1.1 503 Service Unavailable");
  CHECK(c.ClosedWithin(2000ms));
  a.Send("\r\n");
  CHECK(StatusLine(a.ReadResponse()) == "HTTP/1.1 200 OK");
}

TEST_CASE("server: answers may come later, from another thread", "[http][server]") {
  std::vector<std::thread> workers;
  std::mutex mutex;
  TestServer server({}, [&](http::Request request, http::Respond respond) {
    std::lock_guard lock(mutex);
    workers.emplace_back([request = std::move(request), respond = std::move(respond)] {
      std::this_thread::sleep_for(50ms);
      respond(http::Response{202, "application/json", "{\"later\":\"" + request.path + "\"}", {}});
    });
  });
  Client client(server.port());
  client.Send("GET /slow HTTP/1.1\r\n\r\n");
  const std::string response = client.ReadResponse();
  CHECK(StatusLine(response) == "HTTP/1.1 202 Accepted");
  CHECK(Body(response) == "{\"later\":\"/slow\"}");
  for (auto& w : workers) w.join();
}

TEST_CASE("server: a port in use is an error naming the address", "[http][server]") {
  TestServer first;
  boost::asio::io_context loop;
  http::ServerOptions options;
  options.port = first.port();
  auto second = http::Server::Listen(loop, options, TestServer::Echo());
  REQUIRE_FALSE(second);
  CHECK(second.error().message.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())) ==
        0);
  CHECK(second.error().message.find("in use") != std::string::npos);
}
