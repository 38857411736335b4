#include "tests/fakes/fake_alert_receiver.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

#include "core/utf8.h"

namespace fakes {
namespace {

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string ReceivedRequest::Header(const std::string& name) const {
  const auto found = headers.find(Lower(name));
  return found == headers.end() ? std::string() : found->second;
}

FakeAlertReceiver::FakeAlertReceiver(Options options) : options_(std::move(options)) {
  server_ = options_.cert_file.empty()
                ? std::make_unique<LoopbackServer>()
                : std::make_unique<LoopbackServer>(options_.cert_file, options_.key_file);
  if (!options_.log_file.empty()) log_.open(options_.log_file, std::ios::app);
  Install();
}

FakeAlertReceiver::~FakeAlertReceiver() { Stop(); }

void FakeAlertReceiver::Start() { server_->Start(); }

void FakeAlertReceiver::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  server_->Stop();
}

void FakeAlertReceiver::Script(const std::string& path, std::vector<ScriptedAnswer> answers) {
  std::lock_guard lock(mutex_);
  scripts_[path] = std::deque<ScriptedAnswer>(answers.begin(), answers.end());
}

std::vector<ReceivedRequest> FakeAlertReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool FakeAlertReceiver::WaitForRequests(std::size_t count,
                                        std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

void FakeAlertReceiver::Record(const ReceivedRequest& request) {
  std::lock_guard lock(mutex_);
  requests_.push_back(request);
  if (log_.is_open()) {
    boost::json::object headers;
    // Logged as JSON strings, which must be valid UTF-8; body_utf8 says
    // whether the body as sent was (Slack refuses one that is not).
    for (const auto& [name, value] : request.headers) headers[name] = core::ToValidUtf8(value);
    boost::json::object line{{"time", request.time},
                             {"method", request.method},
                             {"path", request.path},
                             {"headers", std::move(headers)},
                             {"body", core::ToValidUtf8(request.body)},
                             {"body_utf8", core::IsValidUtf8(request.body)},
                             {"status", request.status}};
    log_ << boost::json::serialize(line) << '\n' << std::flush;
  }
  changed_.notify_all();
}

void FakeAlertReceiver::Install() {
  httplib::Server& http = server_->http();
  http.Post("/_control", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      const boost::json::object control = boost::json::parse(req.body).as_object();
      std::vector<ScriptedAnswer> answers;
      for (const boost::json::value& item : control.at("responses").as_array()) {
        const boost::json::object& spec = item.as_object();
        ScriptedAnswer answer;
        if (const auto* status = spec.if_contains("status")) {
          answer.status = static_cast<int>(status->to_number<std::int64_t>());
        }
        if (const auto* body = spec.if_contains("body")) answer.body = body->as_string().c_str();
        if (const auto* hang = spec.if_contains("hang")) answer.hang = hang->as_bool();
        if (const auto* headers = spec.if_contains("headers")) {
          for (const auto& [name, value] : headers->as_object()) {
            answer.headers.emplace_back(std::string(name), value.as_string().c_str());
          }
        }
        answers.push_back(std::move(answer));
      }
      Script(control.at("path").as_string().c_str(), std::move(answers));
      res.set_content("scripted\n", "text/plain");
    } catch (const std::exception& e) {
      res.status = 400;
      res.set_content(std::string("bad control request: ") + e.what() + "\n", "text/plain");
    }
  });
  http.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    ReceivedRequest request;
    request.method = req.method;
    request.path = req.path;
    for (const auto& [name, value] : req.headers) request.headers.emplace(Lower(name), value);
    request.body = req.body;
    request.time =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    ScriptedAnswer answer;
    {
      std::lock_guard lock(mutex_);
      auto& queue = scripts_[req.path];
      if (!queue.empty()) {
        answer = std::move(queue.front());
        queue.pop_front();
      }
    }
    request.status = answer.hang ? 0 : answer.status;
    Record(request);
    if (answer.hang) {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stopping_; });
      res.status = 503;
      return;
    }
    res.status = answer.status;
    for (const auto& [name, value] : answer.headers) res.set_header(name, value);
    res.set_content(answer.body, "text/plain");
  });
}

}  // namespace fakes
