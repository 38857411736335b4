#include "jobs/openaq/openaq_api.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "core/utf8.h"
#include "json/json_fields.h"

namespace jobs::openaq {
namespace {

core::Error Unreadable(std::string what) {
  return core::Error{core::ErrorKind::kUpstream,
                     "unexpected answer from OpenAQ: " + std::move(what), true};
}

std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool Digits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > text.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

// An answer's problem as the run reports it; `problem` names the field
// ("results[0].sensors[2].id: missing").
core::Error Unreadable(const core::Error& problem) { return Unreadable(problem.message); }

// The answer's `results` array.
core::Result<std::vector<::json::Field>> Results(const boost::json::value& root) {
  auto results = ::json::Field(root).Required<::json::Field>("results");
  if (!results) return core::Unexpected(Unreadable(results.error()));
  auto elements = results->Elements();
  if (!elements) return core::Unexpected(Unreadable(elements.error()));
  return elements;
}

// A `{"utc": "...", "local": "..."}` member as epoch seconds; absent or null: nullopt.
core::Result<std::optional<std::int64_t>> UtcOf(const ::json::Field& object, std::string_view key) {
  auto when = object.Optional<::json::Field>(key);
  if (!when) return core::Unexpected(when.error());
  if (!*when) return std::optional<std::int64_t>();
  auto utc = (*when)->Required<::json::Field>("utc");
  if (!utc) return core::Unexpected(utc.error());
  auto text = utc->As<std::string_view>();
  if (!text) return core::Unexpected(text.error());
  const auto seconds = ParseUtcSeconds(*text);
  if (!seconds) return core::Unexpected(utc->Problem("not an ISO 8601 time with offset"));
  return std::optional<std::int64_t>(*seconds);
}

core::Result<SensorInfo> ReadSensor(const ::json::Field& s, std::int64_t location_id) {
  SensorInfo out;
  out.location_id = location_id;
  auto id = s.Required<std::int64_t>("id");
  if (!id) return core::Unexpected(id.error());
  out.id = *id;
  auto parameter = s.Required<::json::Field>("parameter");
  if (!parameter) return core::Unexpected(parameter.error());
  auto name = parameter->Required<std::string>("name");
  if (!name) return core::Unexpected(name.error());
  out.parameter = std::move(*name);
  auto units = parameter->Optional<std::string>("units");
  if (!units) return core::Unexpected(units.error());
  out.units = units->value_or("");
  auto first = UtcOf(s, "datetimeFirst");
  if (!first) return core::Unexpected(first.error());
  out.datetime_first = *first;
  return out;
}

}  // namespace

std::optional<std::int64_t> ParseUtcSeconds(std::string_view t) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (t.size() < 19 || !Digits(t, 0, 4, y) || t[4] != '-' || !Digits(t, 5, 2, mo) || t[7] != '-' ||
      !Digits(t, 8, 2, d) || (t[10] != 'T' && t[10] != ' ') || !Digits(t, 11, 2, h) ||
      t[13] != ':' || !Digits(t, 14, 2, mi) || t[16] != ':' || !Digits(t, 17, 2, s)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::size_t pos = 19;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
  }
  std::int64_t offset = 0;
  const std::string_view zone = t.substr(pos);
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh = 0, om = 0;
    if (!Digits(zone, 1, 2, oh) || !Digits(zone, 4, 2, om)) return std::nullopt;
    offset = (oh * 3600 + om * 60) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;  // no offset: local time of who knows where
  }
  return DaysFromCivil(y, unsigned(mo), unsigned(d)) * 86400 + h * 3600 + mi * 60 + s - offset;
}

std::string FormatUtcSeconds(std::int64_t t) {
  std::int64_t days = t / 86400, secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = std::int64_t(yoe) + era * 400 + (m <= 2);
  char out[48];
  std::snprintf(out, sizeof out, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m,
                d, int(secs / 3600), int(secs / 60 % 60), int(secs % 60));
  return out;
}

std::string MeasurementsTarget(std::int64_t sensor_id, Resolution resolution, std::int64_t from,
                               std::int64_t to, int limit) {
  // Keyset paging: always page 1, the window moves instead.
  return "/v3/sensors/" + std::to_string(sensor_id) +
         (resolution == Resolution::kHours ? "/hours" : "/measurements") +
         "?datetime_from=" + FormatUtcSeconds(from) + "&datetime_to=" + FormatUtcSeconds(to) +
         "&limit=" + std::to_string(limit) + "&page=1";
}

core::Result<LocationInfo> ParseLocation(std::string_view body) {
  auto root = ::json::Parse(body);
  if (!root) return core::Unexpected(Unreadable(root.error()));
  auto results = Results(*root);
  if (!results) return core::Unexpected(results.error());
  if (results->empty()) {
    return core::Unexpected(core::Error{core::ErrorKind::kNotFound, "location not found", false});
  }
  const ::json::Field& l = results->front();
  LocationInfo out;
  auto id = l.Required<std::int64_t>("id");
  auto name = l.Optional<std::string>("name");
  auto timezone = l.Optional<std::string>("timezone");
  auto sensors = l.Required<::json::Field>("sensors");
  if (!id) return core::Unexpected(Unreadable(id.error()));
  if (!name) return core::Unexpected(Unreadable(name.error()));
  if (!timezone) return core::Unexpected(Unreadable(timezone.error()));
  if (!sensors) return core::Unexpected(Unreadable(sensors.error()));
  out.id = *id;
  out.name = name->value_or("");
  out.timezone = timezone->value_or("");
  auto elements = sensors->Elements();
  if (!elements) return core::Unexpected(Unreadable(elements.error()));
  for (const ::json::Field& s : *elements) {
    auto sensor = ReadSensor(s, out.id);
    if (!sensor) return core::Unexpected(Unreadable(sensor.error()));
    out.sensors.push_back(std::move(*sensor));
  }
  return out;
}

core::Result<std::vector<SensorInfo>> ParseSensors(std::string_view body) {
  auto root = ::json::Parse(body);
  if (!root) return core::Unexpected(Unreadable(root.error()));
  auto results = Results(*root);
  if (!results) return core::Unexpected(results.error());
  std::vector<SensorInfo> out;
  for (const ::json::Field& s : *results) {
    auto sensor = ReadSensor(s, 0);
    if (!sensor) return core::Unexpected(Unreadable(sensor.error()));
    out.push_back(std::move(*sensor));
  }
  return out;
}

namespace {

// Reads a measurements page without building a DOM: a page is up to a
// megabyte of JSON of which the job needs five fields per record, and the DOM
// was most of a run's CPU time. Tracks the path of the current value with a
// small stack.
class PageHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  Page page;
  bool saw_results = false;
  bool root_is_object = false;

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_array_begin(boost::json::error_code&) {
    if (stack_.size() == 1 && stack_[0].key == "results") saw_results = true;
    Scalar();  // an array where a scalar field was expected: leaves it unset
    stack_.push_back(Frame{false, {}});
    return true;
  }
  bool on_array_end(std::size_t, boost::json::error_code&) {
    stack_.pop_back();
    return true;
  }
  bool on_object_begin(boost::json::error_code&) {
    if (stack_.empty()) root_is_object = true;
    if (InResultsArray()) page.records.emplace_back();
    if (AtRecordField("value")) page.records.back().has_value = false;
    stack_.push_back(Frame{true, {}});
    return true;
  }
  bool on_object_end(std::size_t, boost::json::error_code&) {
    stack_.pop_back();
    return true;
  }
  bool on_key_part(boost::json::string_view part, std::size_t, boost::json::error_code&) {
    part_.append(part.data(), part.size());
    return true;
  }
  bool on_key(boost::json::string_view key, std::size_t, boost::json::error_code&) {
    Frame& f = stack_.back();
    if (part_.empty()) {
      f.key.assign(key.data(), key.size());
    } else {
      part_.append(key.data(), key.size());
      f.key = std::move(part_);
      part_.clear();
    }
    return true;
  }
  bool on_string_part(boost::json::string_view part, std::size_t, boost::json::error_code&) {
    part_.append(part.data(), part.size());
    return true;
  }
  bool on_string(boost::json::string_view text, std::size_t, boost::json::error_code&) {
    std::string_view value(text.data(), text.size());
    if (!part_.empty()) {
      part_.append(text.data(), text.size());
      value = part_;
    }
    String(value);
    part_.clear();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_int64(std::int64_t v, boost::json::string_view, boost::json::error_code&) {
    Number(double(v));
    return true;
  }
  bool on_uint64(std::uint64_t v, boost::json::string_view, boost::json::error_code&) {
    Number(double(v));
    return true;
  }
  bool on_double(double v, boost::json::string_view, boost::json::error_code&) {
    Number(v);
    return true;
  }
  bool on_bool(bool, boost::json::error_code&) {
    Scalar();
    return true;
  }
  bool on_null(boost::json::error_code&) {
    if (AtRecordField("value")) {
      RawRecord& r = page.records.back();
      r.has_value = true;
      r.value.reset();
    }
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

 private:
  struct Frame {
    bool object = false;
    std::string key;  // the current key, in an object
  };

  // Directly inside root.results.
  bool InResultsArray() const {
    return stack_.size() == 2 && !stack_[1].object && stack_[0].key == "results";
  }
  // At key `key` of a record (root.results[i].key).
  bool AtRecordField(std::string_view key) const {
    return stack_.size() == 3 && stack_[0].key == "results" && !stack_[1].object &&
           stack_[2].object && stack_[2].key == key;
  }
  // A non-null scalar (or container) where `value` was expected.
  void Scalar() {
    if (AtRecordField("value")) page.records.back().has_value = false;
  }
  void Number(double v) {
    if (AtRecordField("value")) {
      RawRecord& r = page.records.back();
      r.has_value = true;
      r.value = v;
    }
  }
  void String(std::string_view text) {
    const std::size_t n = stack_.size();
    if (n == 2 && stack_[0].key == "meta" && stack_[1].object && stack_[1].key == "found") {
      page.found_more = text.starts_with(">");
      return;
    }
    if (AtRecordField("value")) {
      page.records.back().has_value = false;  // a string is no value
      return;
    }
    if (n < 4 || stack_[0].key != "results" || stack_[1].object || !stack_[2].object) return;
    RawRecord& r = page.records.back();
    if (n == 4 && stack_[2].key == "parameter" && stack_[3].key == "name") {
      r.parameter.assign(text);
    } else if (n == 5 && stack_[2].key == "period" && stack_[4].key == "utc") {
      if (stack_[3].key == "datetimeTo") {
        r.period_end = ParseUtcSeconds(text);
      } else if (stack_[3].key == "datetimeFrom") {
        r.period_start = ParseUtcSeconds(text);
      }
    }
  }

  std::vector<Frame> stack_;
  std::string part_;
};

}  // namespace

core::Result<Page> ParsePage(std::string_view body) {
  boost::json::basic_parser<PageHandler> parser{boost::json::parse_options{}};
  boost::json::error_code ec;
  parser.write_some(false, body.data(), body.size(), ec);
  if (ec) return core::Unexpected(Unreadable("not JSON (" + ec.message() + ")"));
  PageHandler& h = parser.handler();
  if (!h.root_is_object) return core::Unexpected(Unreadable("not a JSON object"));
  if (!h.saw_results) return core::Unexpected(Unreadable("no results array"));
  return std::move(h.page);
}

std::string ErrorDetail(std::string_view body) {
  auto root = ::json::Parse(body);
  std::string out;
  if (root && root->is_string()) {
    out = root->get_string();
  } else if (root && root->is_object()) {
    if (const boost::json::value* d = root->get_object().if_contains("detail")) {
      out = d->is_string() ? std::string(d->get_string()) : boost::json::serialize(*d);
    }
  }
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return core::CutUtf8(std::move(out), 300);
}

std::string_view ReasonName(Reject reason) {
  switch (reason) {
    case Reject::kNone:
      return "none";
    case Reject::kMissingField:
      return "missing_field";
    case Reject::kNotFinite:
      return "not_finite";
    case Reject::kOutOfRange:
      return "out_of_range";
    case Reject::kFuture:
      return "future";
    case Reject::kBeforeFirst:
      return "before_first";
  }
  return "unknown";
}

Reject Validate(const RawRecord& r, const ValidationContext& c) {
  if (!r.period_end || !r.has_value) return Reject::kMissingField;
  if (!r.value || !std::isfinite(*r.value)) return Reject::kNotFinite;
  if (c.range != nullptr && (*r.value < c.range->min || *r.value > c.range->max)) {
    return Reject::kOutOfRange;
  }
  if (*r.period_end > c.now + c.skew) return Reject::kFuture;
  if (c.datetime_first && *r.period_end < *c.datetime_first) return Reject::kBeforeFirst;
  return Reject::kNone;
}

}  // namespace jobs::openaq
