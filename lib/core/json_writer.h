// Writes one flat-or-nested JSON object as text, for the CLI's --json lines,
// run metrics, API answers, alert bodies and JSON logs: every JSON text
// jobsd writes goes through here, so it is always valid UTF-8 whatever a job
// printed. Keys and strings are escaped per RFC 8259 and taken as untrusted
// bytes: ill-formed UTF-8 becomes U+FFFD (core/utf8.h), control characters
// (C0, DEL, C1) become \u00XX, well-formed text is kept as is. Non-finite
// numbers become null (JSON has no NaN).
//
//   JsonWriter w;
//   w.Key("id").Int(42).Key("job").String("backup").Key("next").BeginArray() ...
//
// Single thread. The caller keeps objects and arrays balanced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace core {

class JsonWriter {
 public:
  JsonWriter() { BeginObject(); }

  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(std::int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Already-serialized JSON (e.g. a stored metrics object); bytes in it that
  // are not UTF-8 become U+FFFD.
  JsonWriter& Raw(std::string_view json);
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();

  // Closes the outer object and returns the text.
  std::string Finish();

 private:
  void Separate();
  std::string out_;
  bool need_comma_ = false;
};

// `text` as a quoted, escaped JSON string, as String() writes it.
std::string JsonQuote(std::string_view text);

}  // namespace core
