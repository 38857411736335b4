// A fake receiver for the HTTP alert channels (Slack incoming webhooks and
// plain webhooks), in process for the unit tests and as a program
// (fake_alert_receiver_main.cpp) for the integration tests.
//
// Accepts a POST on any path and records it: path, headers, body, time and
// the status it answered, in memory and, when a log file is given, as one
// JSON line per request. What it answers is scripted per path (Script, or
// POST /_control {"path": "/slack", "responses": [{"status": 429, "headers":
// {"Retry-After": "1"}, "body": "rate_limited"}, {"hang": true}]}): each
// request takes the next scripted answer; once they are used up, 200 "ok".
// A `hang` answer keeps the request open without a word until the receiver
// stops.
//
// Thread-safe; cpp-httplib serves on its own threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tests/fakes/loopback_server.h"

namespace fakes {

struct ScriptedAnswer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body = "ok";
  bool hang = false;
};

struct ReceivedRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> headers;  // names in lower case
  std::string body;
  double time = 0;  // epoch seconds
  int status = 0;   // what it answered; 0 for a hang

  // The first header of that name (any letter case), or "".
  std::string Header(const std::string& name) const;
};

class FakeAlertReceiver {
 public:
  struct Options {
    std::string cert_file, key_file;  // HTTPS when both are set
    std::string log_file;             // JSON lines, appended; none when empty
  };

  explicit FakeAlertReceiver(Options options = {});
  ~FakeAlertReceiver();
  FakeAlertReceiver(const FakeAlertReceiver&) = delete;
  FakeAlertReceiver& operator=(const FakeAlertReceiver&) = delete;

  void Start();
  // Releases hanging requests and stops serving. Idempotent.
  void Stop();

  std::string base_url() const { return server_->base_url(); }
  int port() const { return server_->port(); }

  // Replaces the answers queued for `path`.
  void Script(const std::string& path, std::vector<ScriptedAnswer> answers);

  std::vector<ReceivedRequest> requests() const;
  // Waits until at least `count` requests have arrived; false on timeout.
  bool WaitForRequests(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  void Install();
  void Record(const ReceivedRequest& request);

  Options options_;
  std::unique_ptr<LoopbackServer> server_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  // Guarded by mutex_.
  std::map<std::string, std::deque<ScriptedAnswer>> scripts_;
  std::vector<ReceivedRequest> requests_;
  std::ofstream log_;
  bool stopping_ = false;
};

}  // namespace fakes
