// A cpp-httplib server on 127.0.0.1 and a free port, serving on a thread of
// its own for the lifetime of the object: the base of every fake upstream.
#pragma once

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace fakes {

class LoopbackServer {
 public:
  // Plain HTTP.
  LoopbackServer() : server_(std::make_unique<httplib::Server>()) {}
  // HTTPS with this certificate and key (see test_tls.h).
  LoopbackServer(const std::string& cert_file, const std::string& key_file)
      : server_(std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str())),
        tls_(true) {
    if (!server_->is_valid()) throw std::runtime_error("fake server: bad TLS certificate or key");
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer() { Stop(); }

  // Register handlers on this before Start().
  httplib::Server& http() { return *server_; }

  void Start() {
    // TCP_NODELAY: cpp-httplib writes headers and body separately, and Nagle
    // plus delayed ACKs would add 40 ms to every keep-alive answer.
    server_->set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake server: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // The socket already listens (connections queue); this only waits for
    // the accept loop.
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void Stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" (https, and "localhost" so the name matches the
  // test certificate, when serving TLS).
  std::string base_url() const {
    return tls_ ? "https://localhost:" + std::to_string(port_)
                : "http://127.0.0.1:" + std::to_string(port_);
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace fakes
