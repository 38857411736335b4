// The keys every channel type takes besides its own: ca_file: and timeout:,
// and the email check that smtps:// cannot go without TLS.
#include <catch2/catch.hpp>
#include <chrono>

#include "tests/lib/config/config_test_support.h"

namespace {

using namespace std::chrono_literals;

constexpr const char* kJob = "jobs:\n  - {name: ok, type: sleep, with: {duration: 1s}}\n";

}  // namespace

TEST_CASE("channel config: ca_file and timeout on every type", "[alert][config]") {
  const config::LoadResult loaded = config::testing::Load(
      std::string(
          "alerts:\n  channels:\n"
          "    s: {type: slack, webhook_url: 'https://hooks.example/T/B/x', ca_file: ca.pem,"
          " timeout: 5s}\n"
          "    m: {type: email, smtp_url: 'smtps://mail.example:465', from: a@b, to: [c@d],"
          " ca_file: /etc/ssl/private-ca.pem}\n"
          "    w: {type: webhook, url: 'https://x.example/hook', timeout: 2m}\n") +
      kJob);
  REQUIRE(loaded.ok());
  const auto& channels = loaded.config->alerts.channels;
  CHECK(channels.at("s").ca_file == std::filesystem::path("/srv/jobsd/ca.pem"));
  CHECK(channels.at("s").timeout == std::chrono::microseconds(5s));
  CHECK(channels.at("m").ca_file == std::filesystem::path("/etc/ssl/private-ca.pem"));
  CHECK_FALSE(channels.at("m").timeout);
  CHECK_FALSE(channels.at("w").ca_file);
  CHECK(channels.at("w").timeout == std::chrono::microseconds(2min));
}

TEST_CASE("channel config: problems with the shared keys", "[alert][config]") {
  CHECK(config::testing::Problems(
            std::string("alerts:\n  channels:\n"
                        "    m: {type: email, smtp_url: 'smtps://mail:465', from: a@b, to: [c@d],"
                        " tls: none}\n"
                        "    w: {type: webhook, url: 'https://x', timeout: 0s, ca_file: ''}\n"
                        "    v: {type: webhook, url: 'https://x', timeout: 11m, timout: 1s}\n") +
            kJob) ==
        "cfg.yaml:3:79: alerts.channels.m.tls: smtps:// always uses TLS; use smtp:// for a "
        "server without TLS\n"
        "cfg.yaml:4:51: alerts.channels.w.timeout: expected a timeout from 1s to 10m, got 0s\n"
        "cfg.yaml:4:64: alerts.channels.w.ca_file: expected a path, got ''\n"
        "cfg.yaml:5:51: alerts.channels.v.timeout: expected a timeout from 1s to 10m, got 11m\n"
        "cfg.yaml:5:56: alerts.channels.v.timout: unknown key 'timout' (did you mean "
        "'timeout'?)\n");
}
