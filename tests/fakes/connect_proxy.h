// A minimal HTTP CONNECT proxy on 127.0.0.1 for the HTTP client's proxy
// tests: it tunnels to loopback ports only and counts the tunnels it opened.
// One thread per connection; the destructor closes everything and joins.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fakes {

class ConnectProxy {
 public:
  ConnectProxy() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("connect proxy: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ConnectProxy(const ConnectProxy&) = delete;
  ConnectProxy& operator=(const ConnectProxy&) = delete;
  ~ConnectProxy() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    for (int fd : fds_) ::close(fd);
  }

  int port() const { return port_; }
  int tunnels() const { return tunnels_; }
  std::string last_target() const {
    std::lock_guard lock(mutex_);
    return last_target_;
  }

 private:
  void Accept() {
    while (!stopping_) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int client) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) return Close(client, -1);
      head.append(buf, std::size_t(n));
    }
    // "CONNECT host:port HTTP/1.1"
    const auto sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
    if (head.rfind("CONNECT ", 0) != 0 || sp2 == std::string::npos) return Close(client, -1);
    const std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    {
      std::lock_guard lock(mutex_);
      last_target_ = target;
    }
    const int port = std::stoi(target.substr(target.rfind(':') + 1));
    const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(std::uint16_t(port));
    if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const char refuse[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
      ::send(client, refuse, sizeof refuse - 1, MSG_NOSIGNAL);
      return Close(client, upstream);
    }
    {
      std::lock_guard lock(mutex_);
      fds_.push_back(upstream);
    }
    ++tunnels_;
    const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    ::send(client, ok, sizeof ok - 1, MSG_NOSIGNAL);
    pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    while (::poll(p, 2, 200) >= 0 && !stopping_) {
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0 || ::send(p[1 - i].fd, buf, std::size_t(n), MSG_NOSIGNAL) != n) {
          return Close(client, upstream);
        }
      }
    }
    Close(client, upstream);
  }

  void Close(int a, int b) {
    ::shutdown(a, SHUT_RDWR);
    if (b >= 0) ::shutdown(b, SHUT_RDWR);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> tunnels_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<int> fds_;  // closed by the destructor after the workers end
  std::vector<std::thread> workers_;
  std::string last_target_;
};

}  // namespace fakes
