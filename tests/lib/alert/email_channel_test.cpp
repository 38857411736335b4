// The email message as built for SMTP: headers, RFC 2047 subjects, the
// Date format, CRLF line ends, quoted-printable for long or non-ASCII
// bodies, and no header injection through alert texts.
#include "alert/email_channel.h"
#include "tests/lib/alert/sample_alert.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

// The shared sample with the error and link the expected texts below show.
alert::Alert SampleAlert() {
  alert::Alert a = alert::testing::SampleAlert();
  a.last_error = "HTTP 503 from api.openaq.org";
  a.runs_url = "https://jobsd.example.com/api/jobs/openaq/runs";
  return a;
}

config::EmailChannel Settings() {
  config::EmailChannel s;
  s.smtp_url = "smtp://mail.example.com:587";
  s.from = "jobsd <jobsd@example.com>";
  s.to = {"ops@example.com", "Oncall <oncall@example.com>"};
  return s;
}

std::chrono::system_clock::time_point When() {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          core::ParseRfc3339("2026-11-23T01:48:55Z")->time_since_epoch()));
}

struct Parsed {
  std::vector<std::string> header_lines;  // as sent, folded lines joined back
  std::map<std::string, std::string> headers;
  std::string body;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find("\r\n", start);
    REQUIRE(end != std::string::npos);  // every line ends in CRLF
    lines.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

Parsed Parse(const std::string& message) {
  // No bare LF or CR anywhere.
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') REQUIRE((i > 0 && message[i - 1] == '\r'));
    if (message[i] == '\r') REQUIRE((i + 1 < message.size() && message[i + 1] == '\n'));
  }
  Parsed out;
  const std::size_t split = message.find("\r\n\r\n");
  REQUIRE(split != std::string::npos);
  out.body = message.substr(split + 4);
  for (const std::string& line : Lines(message.substr(0, split + 2))) {
    CHECK(line.size() <= 998);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      REQUIRE_FALSE(out.header_lines.empty());
      out.header_lines.back() += line;  // unfold: drop the CRLF only
    } else {
      out.header_lines.push_back(line);
    }
  }
  for (const std::string& line : out.header_lines) {
    const std::size_t colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    out.headers[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

std::string Base64Decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto at = kAlphabet.find(c);
    REQUIRE(at != std::string::npos);
    buffer = buffer << 6 | static_cast<unsigned>(at);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(buffer >> bits & 0xff);
    }
  }
  return out;
}

// The text of a header value made of encoded-words (whitespace between
// words ignored, RFC 2047 section 6.2).
std::string DecodeWords(const std::string& value) {
  std::string out;
  std::size_t at = 0;
  while ((at = value.find("=?UTF-8?B?", at)) != std::string::npos) {
    const std::size_t end = value.find("?=", at + 10);
    REQUIRE(end != std::string::npos);
    CHECK(end + 2 - at <= 75);
    out += Base64Decode(value.substr(at + 10, end - at - 10));
    at = end + 2;
  }
  return out;
}

std::string QpDecode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out += text[i];
    } else if (text.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;  // soft line break
    } else {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("email: RFC 5322 dates in UTC", "[alert][email]") {
  CHECK(alert::FormatEmailDate(When()) == "Mon, 23 Nov 2026 01:48:55 +0000");
  CHECK(alert::FormatEmailDate(std::chrono::system_clock::time_point{}) ==
        "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(alert::FormatEmailDate(When() + 40 * 24h + 22h + 11min + 5s) ==
        "Sun, 03 Jan 2027 00:00:00 +0000");
}

TEST_CASE("email: the message's headers", "[alert][email]") {
  const std::string message =
      alert::FormatEmail(Settings(), SampleAlert(), "7d1c2e9a-0001", When());
  const Parsed p = Parse(message);
  CHECK(p.header_lines.front().starts_with("Date: "));
  CHECK(p.headers.at("Date") == "Mon, 23 Nov 2026 01:48:55 +0000");
  CHECK(p.headers.at("From") == "jobsd <jobsd@example.com>");
  CHECK(p.headers.at("To") == "ops@example.com, Oncall <oncall@example.com>");
  CHECK(p.headers.at("Subject") == "[jobsd] CRITICAL openaq: failed 3 times in a row");
  CHECK(p.headers.at("Message-ID") == "<7d1c2e9a-0001@jobsd.box1>");
  CHECK(p.headers.at("MIME-Version") == "1.0");
  CHECK(p.headers.at("Content-Type") == "text/plain; charset=utf-8");
  CHECK(p.headers.at("Content-Transfer-Encoding") == "7bit");
  CHECK(p.headers.at("X-Jobsd-Delivery") == "7d1c2e9a-0001");
  CHECK(p.headers.at("X-Jobsd-Event") == "firing");
  CHECK(p.headers.at("Auto-Submitted") == "auto-generated");

  // A retry of the same delivery is the same message-id; another is not.
  const Parsed again =
      Parse(alert::FormatEmail(Settings(), SampleAlert(), "7d1c2e9a-0001", When() + 10min));
  CHECK(again.headers.at("Message-ID") == p.headers.at("Message-ID"));
  const Parsed other = Parse(alert::FormatEmail(Settings(), SampleAlert(), "other", When()));
  CHECK(other.headers.at("Message-ID") == "<other@jobsd.box1>");

  alert::Alert recovered = SampleAlert();
  recovered.kind = alert::AlertKind::kRecovery;
  recovered.summary = "openaq succeeded again after 4 failures";
  CHECK(Parse(alert::FormatEmail(Settings(), recovered, "r", When())).headers.at("Subject") ==
        "[jobsd] RECOVERED openaq: succeeded again after 4 failures");
}

TEST_CASE("email: the plain-text body", "[alert][email]") {
  const Parsed p = Parse(alert::FormatEmail(Settings(), SampleAlert(), "d-1", When()));
  CHECK(p.body ==
        "CRITICAL openaq: failed 3 times in a row\r\n"
        "\r\n"
        "Job:      openaq\r\n"
        "Host:     box1\r\n"
        "Severity: critical\r\n"
        "Rule:     consecutive_failures\r\n"
        "Streak:   3 consecutive failures\r\n"
        "Raised:   2026-11-23T01:48:55.000000Z\r\n"
        "Run:      1234\r\n"
        "\r\n"
        "Last error:\r\n"
        "    HTTP 503 from api.openaq.org\r\n"
        "\r\n"
        "Runs: https://jobsd.example.com/api/jobs/openaq/runs\r\n"
        "\r\n"
        "-- \r\n"
        "jobsd on box1, delivery d-1\r\n");
}

TEST_CASE("email: a subject that is not ASCII becomes RFC 2047 encoded-words", "[alert][email]") {
  alert::Alert a = SampleAlert();
  a.summary =
      "openaq: Messstation M\xC3\xBCnchen-Landshuter Allee liefert seit drei L\xC3\xA4ufen "
      "keine Daten \xE2\x80\x94 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80";
  const std::string message = alert::FormatEmail(Settings(), a, "d", When());
  const Parsed p = Parse(message);
  const std::string subject = p.headers.at("Subject");
  CHECK(subject.starts_with("=?UTF-8?B?"));
  CHECK(DecodeWords(subject) == "[jobsd] CRITICAL openaq: " + a.summary.substr(8));
  for (const std::string& line : Lines(message.substr(0, message.find("\r\n\r\n") + 2))) {
    CHECK(line.size() <= 78);
  }
  // A long ASCII subject is folded at spaces.
  a.summary =
      "openaq " + std::string(30, 'w') + " " + std::string(30, 'x') + " " + std::string(30, 'y');
  const std::string folded = alert::FormatEmail(Settings(), a, "d", When());
  CHECK(folded.find("\r\n " + std::string(30, 'x')) != std::string::npos);
  CHECK(Parse(folded).headers.at("Subject") == "[jobsd] CRITICAL openaq: " + a.summary.substr(7));
}

TEST_CASE("email: long or non-ASCII bodies are quoted-printable", "[alert][email]") {
  alert::Alert a = SampleAlert();
  a.last_error = std::string(3000, 'e') + " = caf\xC3\xA9 \ttrailing \n\tsecond line ";
  const std::string message = alert::FormatEmail(Settings(), a, "d", When());
  const Parsed p = Parse(message);
  CHECK(p.headers.at("Content-Transfer-Encoding") == "quoted-printable");
  for (const std::string& line : Lines(p.body)) {
    CHECK(line.size() <= 76);
    CHECK_FALSE(line.ends_with(" "));
    CHECK_FALSE(line.ends_with("\t"));
  }
  const std::string decoded = QpDecode(p.body);
  CHECK(decoded.find("    " + std::string(3000, 'e') + " = caf\xC3\xA9 \ttrailing \r\n") !=
        std::string::npos);
  CHECK(decoded.find("    \tsecond line \r\n") != std::string::npos);

  CHECK(alert::QuotedPrintable("a=b\n") == "a=3Db\r\n");
  CHECK(alert::QuotedPrintable("end \n") == "end=20\r\n");
  CHECK(alert::QuotedPrintable(std::string(80, 'a') + "\n") ==
        std::string(75, 'a') + "=\r\n" + std::string(5, 'a') + "\r\n");
  CHECK(alert::QuotedPrintable(std::string(76, 'a') + "\n") == std::string(76, 'a') + "\r\n");
}

TEST_CASE("email: alert texts cannot add headers", "[alert][email]") {
  alert::Alert a = SampleAlert();
  a.summary = "openaq failed\r\nBcc: victim@example.com\r\n\r\nfake body";
  a.host = "box1\r\nX-Evil: 1";
  config::EmailChannel s = Settings();
  s.from = "jobsd@example.com\r\nCc: someone@example.com";
  const Parsed p = Parse(alert::FormatEmail(s, a, "d\r\nX-Evil: 2", When()));
  for (const std::string& line : p.header_lines) {
    CHECK_FALSE(line.starts_with("Bcc"));
    CHECK_FALSE(line.starts_with("Cc"));
    CHECK_FALSE(line.starts_with("X-Evil"));
  }
  CHECK(p.headers.at("Message-ID") == "<d--X-Evil--2@jobsd.box1--X-Evil--1>");
}

TEST_CASE("email: envelope addresses", "[alert][email]") {
  CHECK(alert::EnvelopeAddress("ops@example.com") == "<ops@example.com>");
  CHECK(alert::EnvelopeAddress("Ops Team <ops@example.com>") == "<ops@example.com>");
  CHECK(alert::EnvelopeAddress(" ops@example.com ") == "<ops@example.com>");
  CHECK(alert::EnvelopeAddress("\"A <b>\" <ops@example.com>") == "<ops@example.com>");
}
