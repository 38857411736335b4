#include "alert/email_channel.h"

#include <dlfcn.h>

// The calls go through pointers from dlopen (CurlLibrary below), so the
// header's type-checking macros are not wanted.
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "alert/alert_text.h"
#include "core/utf8.h"

namespace alert {

// libcurl, loaded when the first email is sent rather than when jobsd
// starts: it brings some 25 shared libraries (GnuTLS, LDAP, SSH ...) that
// would cost every jobsd about 6 MiB of memory, email channel or not.
struct CurlLibrary {
  std::string error;  // why it cannot be used; empty when it can
  CURLcode (*global_init)(long) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_perform)(CURL*) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
  void (*slist_free_all)(curl_slist*) = nullptr;
};
const CurlLibrary& Curl();
namespace {

using Outcome = DeliveryResult::Outcome;

// RFC 5322 section 2.1.1: lines SHOULD stay within 78 characters.
constexpr std::size_t kFoldAt = 78;
// Raw bytes per RFC 2047 encoded-word: 39 bytes are 52 base64 characters,
// so "=?UTF-8?B?" + 52 + "?=" fits one folded line with room to spare.
constexpr std::size_t kEncodedWordBytes = 39;
constexpr std::size_t kQpLine = 76;
constexpr std::size_t kMaxLine = 998;

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

std::string Base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned n = static_cast<unsigned char>(data[i]) << 16 |
                       static_cast<unsigned char>(data[i + 1]) << 8 |
                       static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  if (i < data.size()) {
    unsigned n = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += i + 1 < data.size() ? kAlphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// Printable ASCII folded at spaces (the space moves to the next line).
std::string FoldAscii(std::string_view value, std::size_t name_length) {
  std::string out;
  std::size_t column = name_length;
  bool first = true;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(' ', start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view word = value.substr(start, end - start);
    if (first) {
      out += word;
      column += word.size();
      first = false;
    } else if (column + 1 + word.size() > kFoldAt && column > 1 && !word.empty()) {
      out += "\r\n ";
      out += word;
      column = 1 + word.size();
    } else {
      out += ' ';
      out += word;
      column += 1 + word.size();
    }
    start = end + 1;
  }
  return out;
}

// Characters that may stand in a Message-ID's left or right part as they are.
std::string IdPart(std::string_view text, std::string_view fallback) {
  std::string out;
  for (char c : text) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '+';
    out += ok ? c : '-';
  }
  return out.empty() ? std::string(fallback) : out;
}

bool NeedsQuotedPrintable(std::string_view body) {
  std::size_t line = 0;
  for (char c : body) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      line = 0;
      continue;
    }
    if (++line > kMaxLine) return true;
    if (u >= 0x80 || u == 0x7f || (u < 0x20 && c != '\t' && c != '\r')) return true;
  }
  return false;
}

// '\n' (or "\r\n") line ends as CRLF.
std::string Crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// --- libcurl callbacks; `userdata` is the Transfer of one Deliver call. ---

struct Transfer {
  std::string_view rest;   // the message still to upload
  std::string last_reply;  // the server's latest reply line
  const std::function<bool()>* cancelled = nullptr;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* userdata) {
  auto& transfer = *static_cast<Transfer*>(userdata);
  const size_t n = std::min(size * count, transfer.rest.size());
  std::copy_n(transfer.rest.data(), n, buffer);
  transfer.rest.remove_prefix(n);
  return n;
}

// For SMTP, libcurl hands every server reply line to the header callback.
size_t KeepReply(char* buffer, size_t size, size_t count, void* userdata) {
  auto& transfer = *static_cast<Transfer*>(userdata);
  std::string line(buffer, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (!line.empty()) transfer.last_reply = std::move(line);
  return size * count;
}

int CheckCancelled(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& transfer = *static_cast<Transfer*>(userdata);
  return transfer.cancelled && *transfer.cancelled && (*transfer.cancelled)() ? 1 : 0;
}

// The reply code at the start of a reply line ("535 5.7.8 ..." -> 535).
int ReplyCode(std::string_view line) {
  if (line.size() < 3 || !std::all_of(line.begin(), line.begin() + 3, [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return 0;
  }
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

}  // namespace

const CurlLibrary& Curl() {
  static const CurlLibrary library = [] {
    CurlLibrary loaded;
    void* handle = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      loaded.error = std::string("cannot load libcurl (install libcurl4): ") + ::dlerror();
      return loaded;
    }
    bool complete = true;
    auto find = [&](auto& pointer, const char* name) {
      pointer = reinterpret_cast<std::remove_reference_t<decltype(pointer)>>(::dlsym(handle, name));
      if (pointer == nullptr) complete = false;
    };
    find(loaded.global_init, "curl_global_init");
    find(loaded.easy_init, "curl_easy_init");
    find(loaded.easy_setopt, "curl_easy_setopt");
    find(loaded.easy_perform, "curl_easy_perform");
    find(loaded.easy_getinfo, "curl_easy_getinfo");
    find(loaded.easy_cleanup, "curl_easy_cleanup");
    find(loaded.easy_strerror, "curl_easy_strerror");
    find(loaded.slist_append, "curl_slist_append");
    find(loaded.slist_free_all, "curl_slist_free_all");
    if (!complete) {
      loaded.error = "libcurl.so.4 lacks a function jobsd needs";
      return loaded;
    }
    // Thread-safe in libcurl 7.84 and later (Debian 12 has 7.88).
    if (const CURLcode code = loaded.global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
      loaded.error = std::string("libcurl could not be initialised: ") + loaded.easy_strerror(code);
    }
    return loaded;
  }();
  return library;
}

core::Result<void> InitEmailTransport() {
  if (!Curl().error.empty()) {
    return core::Unexpected(core::Error{core::ErrorKind::kInternal, Curl().error, false});
  }
  return {};
}

std::string FormatEmailDate(std::chrono::system_clock::time_point t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string EncodeHeaderValue(std::string_view value, std::size_t name_length) {
  const std::string text = OneLine(value);
  if (IsPrintableAscii(text)) return FoldAscii(text, name_length);
  std::string out;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t take = std::min(kEncodedWordBytes, rest.size());
    // Never split a UTF-8 character between two words (RFC 2047 section 5).
    while (take < rest.size() && take > 0 &&
           (static_cast<unsigned char>(rest[take]) & 0xC0) == 0x80) {
      --take;
    }
    if (take == 0) take = std::min(kEncodedWordBytes, rest.size());
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64(rest.substr(0, take)) + "?=";
    rest.remove_prefix(take);
  }
  return out;
}

std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    std::size_t column = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const auto u = static_cast<unsigned char>(line[i]);
      const bool last = i + 1 == line.size();
      std::string token;
      if ((u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !last)) {
        token = static_cast<char>(u);
      } else {
        token = {'=', kHex[u >> 4], kHex[u & 15]};
      }
      // A soft break ("=" at the end) must fit within the line too.
      const std::size_t room = last ? kQpLine : kQpLine - 1;
      if (column + token.size() > room) {
        out += "=\r\n";
        column = 0;
      }
      out += token;
      column += token.size();
    }
    out += "\r\n";
    start = end + 1;
  }
  return out;
}

std::string EnvelopeAddress(std::string_view mailbox) {
  const std::size_t open = mailbox.rfind('<');
  const std::size_t close = mailbox.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    mailbox = mailbox.substr(open + 1, close - open - 1);
  }
  std::string address;
  for (char c : mailbox) {
    if (!std::isspace(static_cast<unsigned char>(c))) address += c;
  }
  return "<" + address + ">";
}

std::string FormatEmail(const config::EmailChannel& settings, const Alert& alert,
                        std::string_view delivery_id, std::chrono::system_clock::time_point date) {
  std::string to;
  for (const std::string& address : settings.to) {
    if (!to.empty()) to += ", ";
    to += OneLine(address);
  }
  const std::string host = IdPart(alert.host, "localhost");
  std::string out;
  auto header = [&](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  header("Date", FormatEmailDate(date));
  header("From", OneLine(settings.from));
  header("To", IsPrintableAscii(to) ? FoldAscii(to, 4) : to);
  // The message says UTF-8; a job's output may not be.
  header("Subject", EncodeHeaderValue(core::ToValidUtf8("[jobsd] " + Title(alert)), 9));
  header("Message-ID", "<" + IdPart(delivery_id, "0") + "@jobsd." + host + ">");
  header("MIME-Version", "1.0");
  header("Content-Type", "text/plain; charset=utf-8");
  const std::string body = core::ToValidUtf8(PlainTextBody(alert, delivery_id));
  const bool qp = NeedsQuotedPrintable(body);
  header("Content-Transfer-Encoding", qp ? "quoted-printable" : "7bit");
  // RFC 3834: an automatic message; vacation responders stay quiet.
  header("Auto-Submitted", "auto-generated");
  header("X-Jobsd-Delivery", OneLine(delivery_id));
  header("X-Jobsd-Event", ToString(alert.kind));
  header("X-Jobsd-Severity", ToString(alert.severity));
  out += "\r\n";
  out += qp ? QuotedPrintable(body) : Crlf(body);
  return out;
}

EmailChannel::EmailChannel(config::EmailChannel settings,
                           std::optional<std::filesystem::path> ca_file, core::Duration timeout)
    : settings_(std::move(settings)), ca_file_(std::move(ca_file)), timeout_(timeout) {}

DeliveryResult EmailChannel::Deliver(const Delivery& delivery) {
  const std::string message =
      FormatEmail(settings_, delivery.alert, delivery.id, std::chrono::system_clock::now());
  DeliveryResult result;
  result.outcome = Outcome::kRetry;
  if (auto ready = InitEmailTransport(); !ready) {
    result.response = ready.error().message;
    return result;
  }

  // Declared before the handle: curl_easy_cleanup may still talk to the
  // server (QUIT) and call back into it.
  Transfer transfer{message, {}, &delivery.cancelled};
  std::unique_ptr<curl_slist, decltype(Curl().slist_free_all)> recipients(nullptr,
                                                                          Curl().slist_free_all);
  for (const std::string& to : settings_.to) {
    curl_slist* grown = Curl().slist_append(recipients.get(), EnvelopeAddress(to).c_str());
    if (grown == nullptr) {
      result.response = "out of memory building the recipient list";
      return result;
    }
    recipients.release();
    recipients.reset(grown);
  }
  std::unique_ptr<CURL, decltype(Curl().easy_cleanup)> handle(Curl().easy_init(),
                                                              Curl().easy_cleanup);
  if (!handle) {
    result.response = "libcurl could not make a handle";
    return result;
  }
  CURL* curl = handle.get();

  // The EHLO name comes from the URL's path; give it this host's name
  // unless the URL names one.
  std::string url = settings_.smtp_url;
  const std::size_t authority = url.find("://");
  const std::size_t path =
      authority == std::string::npos ? std::string::npos : url.find('/', authority + 3);
  if (!delivery.alert.host.empty() && (path == std::string::npos || path + 1 == url.size())) {
    if (path == std::string::npos) url += '/';
    url += IdPart(delivery.alert.host, "localhost");
  }
  const std::string from = EnvelopeAddress(settings_.from);
  const std::string ca_file = ca_file_ ? ca_file_->string() : std::string();
  const auto timeout_ms = std::max<long>(
      1,
      static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout_).count()));
  char error[CURL_ERROR_SIZE] = {};

  Curl().easy_setopt(curl, CURLOPT_URL, url.c_str());
  Curl().easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  Curl().easy_setopt(curl, CURLOPT_PROXY, "");
  Curl().easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  Curl().easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  Curl().easy_setopt(curl, CURLOPT_USE_SSL,
                     settings_.tls == config::SmtpTls::kNone ? static_cast<long>(CURLUSESSL_NONE)
                                                             : static_cast<long>(CURLUSESSL_ALL));
  Curl().easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  Curl().easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file.empty()) Curl().easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  if (settings_.username) Curl().easy_setopt(curl, CURLOPT_USERNAME, settings_.username->c_str());
  if (settings_.password) Curl().easy_setopt(curl, CURLOPT_PASSWORD, settings_.password->c_str());
  Curl().easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  Curl().easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients.get());
  Curl().easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  Curl().easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  Curl().easy_setopt(curl, CURLOPT_READFUNCTION, ReadMessage);
  Curl().easy_setopt(curl, CURLOPT_READDATA, &transfer);
  Curl().easy_setopt(curl, CURLOPT_HEADERFUNCTION, KeepReply);
  Curl().easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  Curl().easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  Curl().easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, CheckCancelled);
  Curl().easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  Curl().easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 10'000L));
  Curl().easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);

  const CURLcode code = Curl().easy_perform(curl);
  long reply = 0;
  Curl().easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
  const std::string what = error[0] != '\0' ? std::string(error) : Curl().easy_strerror(code);

  if (code == CURLE_OK) {
    result.outcome = Outcome::kDelivered;
    result.response = transfer.last_reply.empty() ? std::to_string(reply) : transfer.last_reply;
  } else if (code == CURLE_ABORTED_BY_CALLBACK) {
    result.response = "cancelled";
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    result.response = "timed out: " + what;
  } else if (reply >= 400 && ReplyCode(transfer.last_reply) == reply) {
    // The server said no; 5xx is for good (RFC 5321 section 4.2.1).
    result.outcome = reply >= 500 ? Outcome::kRejected : Outcome::kRetry;
    result.response = transfer.last_reply + " (" + what + ")";
  } else {
    result.response = what;
  }
  if (settings_.password && settings_.password->size() >= 3) {
    for (std::size_t at = result.response.find(*settings_.password); at != std::string::npos;
         at = result.response.find(*settings_.password, at)) {
      result.response.replace(at, settings_.password->size(), "***");
    }
  }
  result.response = CutUtf8(OneLine(result.response), 500);
  return result;
}

}  // namespace alert
