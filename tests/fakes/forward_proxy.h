// A minimal plain-HTTP forward proxy on 127.0.0.1 for the HTTP client's
// HTTP_PROXY tests: it takes absolute-form requests ("GET http://host:port/path
// HTTP/1.1"), remembers each target, and forwards the request (method,
// headers, body) to that origin on loopback with cpp-httplib's client. A
// request in origin form is answered 400, as a real proxy would.
// Serves on its own thread (LoopbackServer); thread-safe.
#pragma once

#include <httplib.h>

#include <mutex>
#include <string>
#include <vector>

#include "tests/fakes/loopback_server.h"

namespace fakes {

class ForwardProxy {
 public:
  ForwardProxy() {
    auto forward = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        targets_.push_back(req.target);
        last_host_ = req.get_header_value("Host");
      }
      // "http://127.0.0.1:PORT/path?query"
      const std::string prefix = "http://";
      if (req.target.rfind(prefix, 0) != 0) {
        res.status = 400;
        res.set_content("not an absolute-form request", "text/plain");
        return;
      }
      const auto slash = req.target.find('/', prefix.size());
      const std::string origin = req.target.substr(0, slash);
      const std::string path = slash == std::string::npos ? "/" : req.target.substr(slash);
      httplib::Client upstream(origin);
      httplib::Headers headers;
      for (const auto& [name, value] : req.headers) {
        if (name == "Host" || name == "Content-Length" || name == "REMOTE_ADDR" ||
            name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT") {
          continue;
        }
        headers.emplace(name, value);
      }
      httplib::Request out;
      out.method = req.method;
      out.path = path;
      out.headers = headers;
      out.body = req.body;
      auto answer = upstream.send(out);
      if (!answer) {
        res.status = 502;
        return;
      }
      res.status = answer->status;
      for (const auto& [name, value] : answer->headers) {
        if (name != "Content-Length" && name != "Transfer-Encoding" && name != "Connection" &&
            name != "Keep-Alive") {
          res.set_header(name, value);
        }
      }
      res.body = answer->body;
    };
    server_.http().Get(".*", forward);
    server_.http().Post(".*", forward);
    server_.Start();
  }

  int port() const { return server_.port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  // The request targets as received, in order.
  std::vector<std::string> targets() const {
    std::lock_guard lock(mutex_);
    return targets_;
  }
  // The Host header of the last request.
  std::string last_host() const {
    std::lock_guard lock(mutex_);
    return last_host_;
  }

 private:
  LoopbackServer server_;
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
  std::string last_host_;
};

}  // namespace fakes
