// The `email` channel: one plain-text message per delivery, sent over SMTP
// with libcurl's easy interface (blocking, on the caller's thread).
//
// Transport: smtp:// upgrades with STARTTLS and refuses to go on without it
// (unless `tls: none`); smtps:// is TLS from the first byte. The server's
// certificate and name are verified against the system CA store or
// `ca_file`. AUTH (whatever the server offers of PLAIN, LOGIN, ...) when
// `username` is set. The path of smtp_url, if any, is the EHLO name
// (smtp://mail.example.com:587/jobsd.example.com); else the alert's host.
// SMTP never goes through a proxy.
//
// The message (FormatEmail) is RFC 5322 with CRLF line endings; its
// Message-ID is <delivery-id@jobsd.HOST>, so every retry of one delivery
// carries the same id and a mail client can spot a repeat.
//
// Outcome: the server's final "250 ..." is kDelivered; a 5xx reply (535
// authentication failed, 550 mailbox unavailable) is kRejected; 4xx replies,
// connection and TLS failures and timeouts are kRetry. The password never
// appears in a result.
//
// Blocking: the outbox's channel thread (or `jobsd alert-test`). Cancellation
// is noticed within about a second (libcurl's progress callback).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "alert/channel.h"
#include "core/result.h"

namespace alert {

// Loads and sets up libcurl for the email channel, once: the first email
// does it (libcurl is not loaded at start, so jobsd without an email
// channel does not pay for it). Thread-safe (libcurl 7.84 and later); later
// calls only report how the first went.
core::Result<void> InitEmailTransport();

// The whole message as sent, headers and body, CRLF line endings.
// `date` becomes the Date header.
std::string FormatEmail(const config::EmailChannel& settings, const Alert& alert,
                        std::string_view delivery_id, std::chrono::system_clock::time_point date);

// "Mon, 23 Nov 2026 01:48:55 +0000" (RFC 5322 section 3.3, in UTC).
std::string FormatEmailDate(std::chrono::system_clock::time_point t);

// A header value: as is when printable ASCII, else RFC 2047 encoded-words
// (=?UTF-8?B?...?=, at most 75 characters each, split between characters).
// Either way folded so no line passes 78 characters where that is possible.
// `name_length` is the length of "Name: " before the value.
std::string EncodeHeaderValue(std::string_view value, std::size_t name_length);

// Quoted-printable (RFC 2045 section 6.7) of text whose lines end in '\n';
// the output lines end in CRLF and are at most 76 characters.
std::string QuotedPrintable(std::string_view text);

// The address alone, for the SMTP envelope: "Ops <ops@x.org>" -> "<ops@x.org>",
// "ops@x.org" -> "<ops@x.org>".
std::string EnvelopeAddress(std::string_view mailbox);

class EmailChannel final : public Channel {
 public:
  EmailChannel(config::EmailChannel settings, std::optional<std::filesystem::path> ca_file,
               core::Duration timeout);

  DeliveryResult Deliver(const Delivery& delivery) override;

 private:
  // Set once in the constructor.
  const config::EmailChannel settings_;
  const std::optional<std::filesystem::path> ca_file_;
  const core::Duration timeout_;
};

}  // namespace alert
