// The Slack and webhook channels against the fake receiver (payloads field
// by field, signatures, how each answer is classified, hangs, cancellation,
// the secret URL kept out of results), the email channel's transport
// failures without a server, and MakeChannel.
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "alert/channel.h"
#include "alert/email_channel.h"
#include "alert/slack_channel.h"
#include "alert/webhook_channel.h"
#include "crypto/sha256.h"
#include "http/client.h"
#include "tests/fakes/fake_alert_receiver.h"
#include "tests/lib/alert/sample_alert.h"

namespace {

using namespace std::chrono_literals;
using Outcome = alert::DeliveryResult::Outcome;
namespace json = boost::json;

constexpr const char* kSlackPath = "/services/T0001/B0002/sEcReTtOkEn42";

using alert::testing::SampleAlert;

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string Str(const json::value& v) { return std::string(v.as_string().c_str()); }

// A port on 127.0.0.1 with nothing listening (bound, then closed).
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t length = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A socket that listens but never accepts or says a word: connections
// complete in the kernel and then hang.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t length = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

struct Harness {
  fakes::FakeAlertReceiver receiver;
  http::Client client;
  Harness() { receiver.Start(); }

  alert::DeliveryResult Slack(const alert::Alert& a, std::chrono::milliseconds timeout = 5s,
                              std::function<bool()> cancelled = {}) {
    alert::ChannelContext context{client, timeout};
    alert::SlackChannel channel(config::SlackChannel{receiver.base_url() + kSlackPath},
                                std::nullopt, context);
    return channel.Deliver(alert::Delivery{a, "d-1", 1, std::move(cancelled)});
  }

  alert::DeliveryResult Webhook(const alert::Alert& a, config::WebhookChannel settings,
                                std::string id = "d-7f3a") {
    alert::ChannelContext context{client, 5s};
    alert::WebhookChannel channel(std::move(settings), std::nullopt, context);
    return channel.Deliver(alert::Delivery{a, std::move(id), 2, {}});
  }
};

std::string IndependentHmac(const std::string& key, const std::string& body) {
  unsigned char out[64];
  size_t length = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                    reinterpret_cast<const unsigned char*>(body.data()), body.size(), out,
                    sizeof out, &length) != nullptr);
  std::string hex;
  char byte[3];
  for (size_t i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", out[i]);
    hex += byte;
  }
  return hex;
}

}  // namespace

TEST_CASE("slack: the payload, field by field", "[alert][slack]") {
  Harness h;
  const alert::DeliveryResult result = h.Slack(SampleAlert());
  CHECK(result.outcome == Outcome::kDelivered);
  CHECK(result.response == "HTTP 200 ok");
  CHECK_FALSE(result.retry_after);

  const auto requests = h.receiver.requests();
  REQUIRE(requests.size() == 1);
  const fakes::ReceivedRequest& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.path == kSlackPath);
  CHECK(r.Header("Content-Type").starts_with("application/json"));

  const json::object body = json::parse(r.body).as_object();
  CHECK(Str(body.at("text")) == "CRITICAL openaq: failed 3 times in a row");
  const json::array& blocks = body.at("blocks").as_array();
  REQUIRE(blocks.size() == 5);

  CHECK(Str(blocks[0].at("type")) == "header");
  CHECK(Str(blocks[0].at("text").at("type")) == "plain_text");
  CHECK(Str(blocks[0].at("text").at("text")) ==
        ":red_circle: CRITICAL openaq: failed 3 times in a row");

  CHECK(Str(blocks[1].at("type")) == "section");
  const json::array& fields = blocks[1].at("fields").as_array();
  const std::vector<std::string> expected = {"*Job*\nopenaq", "*Host*\nbox1",
                                             "*Severity*\ncritical", "*Rule*\nconsecutive_failures",
                                             "*Streak*\n3 consecutive failures"};
  REQUIRE(fields.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(Str(fields[i].at("type")) == "mrkdwn");
    CHECK(Str(fields[i].at("text")) == expected[i]);
  }

  // &, < and > escaped for mrkdwn; backticks cannot close the code block.
  CHECK(Str(blocks[2].at("text").at("text")) ==
        "*Last error*\n```HTTP 503 &lt;Service Unavailable&gt; &amp; '''more'''```");
  CHECK(Str(blocks[3].at("text").at("text")) ==
        "<https://jobsd.example.com/api/jobs/openaq/runs?limit=20|Runs of openaq>");
  CHECK(Str(blocks[4].at("type")) == "context");
  CHECK(Str(blocks[4].at("elements").at(0).at("text")) ==
        "Raised 2026-11-23T01:48:55.000000Z · delivery d-1");
}

TEST_CASE("slack: recovery and test messages are worded as such", "[alert][slack]") {
  alert::Alert recovered = SampleAlert();
  recovered.kind = alert::AlertKind::kRecovery;
  recovered.summary = "openaq succeeded again after 4 failures";
  recovered.last_error.clear();
  recovered.runs_url.clear();
  recovered.consecutive_failures = 0;
  json::object body = json::parse(alert::SlackPayload(recovered, "x")).as_object();
  CHECK(Str(body.at("text")) == "RECOVERED openaq: succeeded again after 4 failures");
  CHECK(Str(body.at("blocks").at(0).at("text").at("text")).starts_with(":white_check_mark: "));
  CHECK(body.at("blocks").as_array().size() == 3);  // header, fields, context

  alert::Alert test;
  test.kind = alert::AlertKind::kTest;
  test.rule = "test";
  test.severity = config::Severity::kInfo;
  test.summary = "Test alert from jobsd on box1";
  test.host = "box1";
  body = json::parse(alert::SlackPayload(test, "x")).as_object();
  CHECK(Str(body.at("text")) == "TEST jobsd: Test alert from jobsd on box1");
  CHECK(Str(body.at("blocks").at(1).at("fields").at(0).at("text")) == "*Job*\njobsd");
  CHECK(Str(body.at("blocks").at(1).at("fields").at(2).at("text")) == "*Severity*\ninfo");
}

TEST_CASE("slack: how each answer is classified", "[alert][slack]") {
  Harness h;
  SECTION("429 with Retry-After in seconds: retry then, and no retry of the client's own") {
    h.receiver.Script(kSlackPath, {{429, {{"Retry-After", "7"}}, "rate_limited"}});
    const auto result = h.Slack(SampleAlert());
    CHECK(result.outcome == Outcome::kRetry);
    CHECK(result.response == "HTTP 429 rate_limited");
    REQUIRE(result.retry_after);
    CHECK(*result.retry_after == 7s);
    CHECK(h.receiver.requests().size() == 1);
  }
  SECTION("429 with Retry-After: 0 is still sent once") {
    h.receiver.Script(kSlackPath, {{429, {{"Retry-After", "0"}}, "rate_limited"}});
    const auto result = h.Slack(SampleAlert());
    CHECK(result.outcome == Outcome::kRetry);
    CHECK(result.retry_after == core::Duration(0));
    CHECK(h.receiver.requests().size() == 1);
  }
  SECTION("429 with Retry-After as an HTTP date") {
    // An IMF-fixdate: the email Date format with GMT for +0000.
    std::string date = alert::FormatEmailDate(std::chrono::system_clock::now() + 60s);
    date.replace(date.size() - 5, 5, "GMT");
    h.receiver.Script(kSlackPath, {{429, {{"Retry-After", date}}, "slow down"}});
    const auto result = h.Slack(SampleAlert());
    CHECK(result.outcome == Outcome::kRetry);
    REQUIRE(result.retry_after);
    CHECK(*result.retry_after > 55s);
    CHECK(*result.retry_after <= 61s);
  }
  SECTION("500 and 408: retry, once") {
    h.receiver.Script(kSlackPath, {{500, {}, "oops"}, {408, {}, ""}});
    auto result = h.Slack(SampleAlert());
    CHECK(result.outcome == Outcome::kRetry);
    CHECK(result.response == "HTTP 500 oops");
    CHECK_FALSE(result.retry_after);
    result = h.Slack(SampleAlert());
    CHECK(result.outcome == Outcome::kRetry);
    CHECK(result.response == "HTTP 408");
    CHECK(h.receiver.requests().size() == 2);
  }
  SECTION("Slack's refusals are final") {
    const std::vector<std::pair<int, std::string>> refusals = {{400, "invalid_payload"},
                                                               {403, "action_prohibited"},
                                                               {404, "channel_not_found"},
                                                               {410, "channel_is_archived"}};
    for (const auto& [status, text] : refusals) {
      h.receiver.Script(kSlackPath, {{status, {}, text}});
      const auto result = h.Slack(SampleAlert());
      CHECK(result.outcome == Outcome::kRejected);
      CHECK(result.response == "HTTP " + std::to_string(status) + " " + text);
    }
  }
}

TEST_CASE("slack: a hanging receiver is a retry within the timeout; the URL stays secret",
          "[alert][slack]") {
  Harness h;
  h.receiver.Script(kSlackPath, {{0, {}, "", true}});
  const auto started = std::chrono::steady_clock::now();
  const auto result = h.Slack(SampleAlert(), 1s);
  CHECK(SecondsSince(started) < 3.0);
  CHECK(result.outcome == Outcome::kRetry);
  CHECK(result.response.find("sEcReTtOkEn42") == std::string::npos);
  CHECK(result.response.find("/services") == std::string::npos);
  CHECK_FALSE(result.response.empty());
}

TEST_CASE("slack: cancellation returns promptly", "[alert][slack]") {
  Harness h;
  h.receiver.Script(kSlackPath, {{0, {}, "", true}});
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  const auto started = std::chrono::steady_clock::now();
  const auto result = h.Slack(SampleAlert(), 30s, [&] { return cancel.load(); });
  const double took = SecondsSince(started);
  canceller.join();
  CHECK(took < 1.5);
  CHECK(result.outcome == Outcome::kRetry);
  CHECK(result.response.find("cancelled") != std::string::npos);
  CHECK(result.response.find("sEcReTtOkEn42") == std::string::npos);
}

TEST_CASE("slack: a refused connection is a retry, and the URL stays secret", "[alert][slack]") {
  http::Client client;
  alert::ChannelContext context{client, 5s};
  const std::string url =
      "http://127.0.0.1:" + std::to_string(ClosedPort()) + kSlackPath + "?token=abc";
  alert::SlackChannel channel(config::SlackChannel{url}, std::nullopt, context);
  const alert::Alert a = SampleAlert();
  const auto result = channel.Deliver(alert::Delivery{a, "d", 1, {}});
  CHECK(result.outcome == Outcome::kRetry);
  CHECK(result.response.find("127.0.0.1") != std::string::npos);
  CHECK(result.response.find("sEcReTtOkEn42") == std::string::npos);
  CHECK(result.response.find("/services") == std::string::npos);
}

TEST_CASE("webhook: body, headers and an independently checked signature", "[alert][webhook]") {
  Harness h;
  config::WebhookChannel settings;
  settings.url = h.receiver.base_url() + "/hook";
  settings.headers = {{"Authorization", "Bearer tok-123"}, {"X-Jobsd-Event", "spoofed"}};
  settings.secret = "s3cret-key";
  const alert::Alert a = SampleAlert();
  const auto result = h.Webhook(a, settings);
  CHECK(result.outcome == Outcome::kDelivered);
  CHECK(result.response == "HTTP 200 ok");

  const auto requests = h.receiver.requests();
  REQUIRE(requests.size() == 1);
  const fakes::ReceivedRequest& r = requests[0];
  CHECK(r.path == "/hook");
  CHECK(r.Header("Content-Type") == "application/json");
  CHECK(r.Header("X-Jobsd-Delivery") == "d-7f3a");
  CHECK(r.Header("X-Jobsd-Event") == "firing");
  CHECK(r.headers.count("x-jobsd-event") == 1);
  CHECK(r.Header("Authorization") == "Bearer tok-123");
  CHECK(r.body == alert::AlertJson(a, "d-7f3a"));
  CHECK(r.Header("X-Jobsd-Signature") == "sha256=" + IndependentHmac("s3cret-key", r.body));

  const json::object body = json::parse(r.body).as_object();
  CHECK(Str(body.at("delivery_id")) == "d-7f3a");
  CHECK(Str(body.at("kind")) == "firing");
  CHECK(Str(body.at("job")) == "openaq");
  CHECK(Str(body.at("severity")) == "critical");
  CHECK(body.at("consecutive_failures").as_int64() == 3);
  CHECK(body.at("run_id").as_int64() == 1234);
}

TEST_CASE("webhook: no secret, no signature; a body that is not ASCII is signed as sent",
          "[alert][webhook]") {
  Harness h;
  config::WebhookChannel settings;
  settings.url = h.receiver.base_url() + "/plain";
  alert::Alert a = SampleAlert();
  a.kind = alert::AlertKind::kRecovery;
  CHECK(h.Webhook(a, settings).outcome == Outcome::kDelivered);
  settings.secret = "k\xC3\xBC";
  a.summary = "Messstation M\xC3\xBCnchen: \"quoted\"\n";
  CHECK(h.Webhook(a, settings).outcome == Outcome::kDelivered);
  const auto requests = h.receiver.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].Header("X-Jobsd-Signature").empty());
  CHECK(requests[0].Header("X-Jobsd-Event") == "recovery");
  CHECK(requests[1].Header("X-Jobsd-Signature") ==
        "sha256=" + IndependentHmac("k\xC3\xBC", requests[1].body));
  CHECK(crypto::HmacSha256Hex("key", "The quick brown fox jumps over the lazy dog") ==
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST_CASE("webhook: statuses classified; the response shows 200 bytes of the body",
          "[alert][webhook]") {
  Harness h;
  config::WebhookChannel settings;
  settings.url = h.receiver.base_url() + "/s";
  const std::vector<std::pair<int, Outcome>> table = {
      {200, Outcome::kDelivered}, {201, Outcome::kDelivered}, {204, Outcome::kDelivered},
      {408, Outcome::kRetry},     {429, Outcome::kRetry},     {500, Outcome::kRetry},
      {502, Outcome::kRetry},     {503, Outcome::kRetry},     {400, Outcome::kRejected},
      {401, Outcome::kRejected},  {404, Outcome::kRejected},  {422, Outcome::kRejected}};
  for (const auto& [status, outcome] : table) {
    h.receiver.Script("/s", {{status, {}, status == 204 ? "" : "answer"}});
    const auto result = h.Webhook(SampleAlert(), settings);
    INFO(status);
    CHECK(result.outcome == outcome);
    CHECK(result.response.starts_with("HTTP " + std::to_string(status)));
  }
  CHECK(h.receiver.requests().size() == table.size());

  h.receiver.Script("/s", {{503, {{"Retry-After", "2"}}, std::string(1000, 'x') + "\nend"}});
  const auto result = h.Webhook(SampleAlert(), settings);
  CHECK(result.response.starts_with("HTTP 503 xxxx"));
  CHECK(result.response.size() < 220);
  CHECK(result.retry_after == std::chrono::microseconds(2s));

  // A redirect would turn the POST into a GET: it is not followed, and says why.
  const std::size_t before = h.receiver.requests().size();
  h.receiver.Script("/s", {{301, {{"Location", h.receiver.base_url() + "/elsewhere"}}, ""}});
  const auto moved = h.Webhook(SampleAlert(), settings);
  CHECK(moved.outcome == Outcome::kRejected);
  CHECK(moved.response.find("HTTP 301") == 0);
  CHECK(moved.response.find("do not follow redirects") != std::string::npos);
  CHECK(h.receiver.requests().size() == before + 1);  // nothing sent to /elsewhere
}

TEST_CASE("email: transport failures are retries, within the timeout and on cancel",
          "[alert][email]") {
  REQUIRE(alert::InitEmailTransport());
  config::EmailChannel settings;
  settings.from = "jobsd@example.com";
  settings.to = {"ops@example.com"};
  settings.username = "jobsd";
  settings.password = "pa55word";
  const alert::Alert a = SampleAlert();

  SECTION("connection refused") {
    settings.smtp_url = "smtp://127.0.0.1:" + std::to_string(ClosedPort());
    alert::EmailChannel channel(settings, std::nullopt, 5s);
    const auto result = channel.Deliver(alert::Delivery{a, "d", 1, {}});
    CHECK(result.outcome == Outcome::kRetry);
    CHECK_FALSE(result.response.empty());
    CHECK(result.response.find("pa55word") == std::string::npos);
  }
  SECTION("a server that never greets: timed out") {
    SilentListener silent;
    settings.smtp_url = "smtp://127.0.0.1:" + std::to_string(silent.port());
    alert::EmailChannel channel(settings, std::nullopt, 1s);
    const auto started = std::chrono::steady_clock::now();
    const auto result = channel.Deliver(alert::Delivery{a, "d", 1, {}});
    CHECK(SecondsSince(started) < 3.0);
    CHECK(result.outcome == Outcome::kRetry);
    CHECK(result.response.starts_with("timed out"));
  }
  SECTION("cancelled while waiting") {
    SilentListener silent;
    settings.smtp_url = "smtps://127.0.0.1:" + std::to_string(silent.port());
    alert::EmailChannel channel(settings, std::nullopt, 30s);
    std::atomic<bool> cancel{false};
    std::thread canceller([&] {
      std::this_thread::sleep_for(200ms);
      cancel = true;
    });
    const auto started = std::chrono::steady_clock::now();
    const auto result = channel.Deliver(alert::Delivery{a, "d", 1, [&] { return cancel.load(); }});
    const double took = SecondsSince(started);
    canceller.join();
    CHECK(took < 2.5);
    CHECK(result.outcome == Outcome::kRetry);
    CHECK(result.response == "cancelled");
  }
}

TEST_CASE("MakeChannel: the type from the config, and the channel's own timeout",
          "[alert][channel]") {
  Harness h;
  h.receiver.Script("/slow", {{0, {}, "", true}});
  config::ChannelConfig channel;
  channel.name = "hook";
  channel.settings = config::WebhookChannel{h.receiver.base_url() + "/slow", {}, std::nullopt};
  channel.timeout = 1s;
  alert::ChannelContext context{h.client, 30s};
  auto made = alert::MakeChannel(channel, context);
  REQUIRE(dynamic_cast<alert::WebhookChannel*>(made.get()) != nullptr);
  const alert::Alert a = SampleAlert();
  const auto started = std::chrono::steady_clock::now();
  CHECK(made->Deliver(alert::Delivery{a, "d", 1, {}}).outcome == Outcome::kRetry);
  CHECK(SecondsSince(started) < 3.0);

  channel.settings = config::SlackChannel{h.receiver.base_url() + "/s"};
  CHECK(dynamic_cast<alert::SlackChannel*>(alert::MakeChannel(channel, context).get()) != nullptr);
  channel.settings = config::EmailChannel{"smtp://127.0.0.1:25", "a@b", {"c@d"}, {}, {}, {}};
  CHECK(dynamic_cast<alert::EmailChannel*>(alert::MakeChannel(channel, context).get()) != nullptr);
}
