#include "tests/fakes/fake_openaq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>
#include <thread>
#include <utility>

namespace fakes {
namespace {

constexpr const char* kJson = "application/json; charset=utf-8";  // never compressed
constexpr const char* kJsonGzip = "application/json";             // httplib may gzip it

// Set by the pre-routing handler for the request this thread then routes.
thread_local bool t_repeat = false;

// Howard Hinnant's civil-from-days.
void CivilFromDays(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "2024-11-03T11:00:00Z", "...+01:00", fractions ignored. nullopt when the
// text has no UTC offset: the real API would read it in local time, which
// the fake refuses so that a client forgetting the offset notices.
std::optional<std::int64_t> ParseTime(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) !=
      6) {
    return std::nullopt;
  }
  std::string rest = text.substr(static_cast<std::size_t>(used));
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    rest = rest.substr(i);
  }
  std::int64_t offset = 0;
  if (rest == "Z" || rest == "z") {
    offset = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    const int oh = std::stoi(rest.substr(1, 2)), om = std::stoi(rest.substr(4, 2));
    offset = (oh * 3600 + om * 60) * (rest[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  return DaysFromCivil(y, unsigned(mo), unsigned(d)) * 86400 + h * 3600 + mi * 60 + s - offset;
}

void Detail(httplib::Response& res, int status, const std::string& detail) {
  res.status = status;
  res.set_content("{\"detail\": \"" + detail + "\"}", kJson);
}

// "2024-11-03T11:00:00" (19 characters, no zone) into `out`.
void FormatUtcInto(std::int64_t t, char* out) {
  std::int64_t days = t / 86400, secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, y, m, d);
  auto two = [](char* p, int v) {
    p[0] = char('0' + v / 10);
    p[1] = char('0' + v % 10);
  };
  two(out, y / 100);
  two(out + 2, y % 100);
  out[4] = '-';
  two(out + 5, int(m));
  out[7] = '-';
  two(out + 8, int(d));
  out[10] = 'T';
  two(out + 11, int(secs / 3600));
  out[13] = ':';
  two(out + 14, int(secs / 60 % 60));
  out[16] = ':';
  two(out + 17, int(secs % 60));
}

// One measurement in the v3 shape. Written piece by piece into `out`: the
// benchmark serves a million of these, and the fake must not be what it
// measures.
void AppendRow(std::string& out, const FakeSeries& s, std::int64_t end, std::optional<double> value,
               const char* label) {
  char from[20], to[20];
  FormatUtcInto(end - s.interval, from);
  FormatUtcInto(end, to);
  const std::string_view f(from, 19), t(to, 19);
  // "datetimeFrom":{"utc":"...Z","local":"...+00:00"},"datetimeTo":{...}
  auto span = [&] {
    out += "\"datetimeFrom\":{\"utc\":\"";
    out += f;
    out += "Z\",\"local\":\"";
    out += f;
    out += "+00:00\"},\"datetimeTo\":{\"utc\":\"";
    out += t;
    out += "Z\",\"local\":\"";
    out += t;
    out += "+00:00\"}";
  };
  char value_text[32];
  const int n = value ? std::snprintf(value_text, sizeof value_text, "%.17g", *value)
                      : std::snprintf(value_text, sizeof value_text, "null");
  out += "{\"value\":";
  out.append(value_text, std::size_t(n));
  out += ",\"flagInfo\":{\"hasFlags\":false},\"parameter\":{\"id\":";
  out += std::to_string(s.parameter_id);
  out += ",\"name\":\"";
  out += s.parameter;
  out += "\",\"units\":\"";
  out += s.units;
  out += "\",\"displayName\":null},\"period\":{\"label\":\"";
  out += label;
  out += "\",\"interval\":\"01:00:00\",";
  span();
  out +=
      "},\"coordinates\":null,\"summary\":null,\"coverage\":{\"expectedCount\":1,"
      "\"expectedInterval\":\"01:00:00\",\"observedCount\":1,\"observedInterval\":\"01:00:00\","
      "\"percentComplete\":100.0,\"percentCoverage\":100.0,";
  span();
  out += "}}";
}

std::string SensorJson(const FakeSeries& s) {
  const std::string first = FormatUtc(s.start - s.interval);
  const std::string last = FormatUtc(s.start + (s.count - 1) * s.interval);
  return "{\"id\":" + std::to_string(s.sensor_id) + ",\"name\":\"" + s.parameter + " " + s.units +
         "\",\"parameter\":{\"id\":" + std::to_string(s.parameter_id) + ",\"name\":\"" +
         s.parameter + "\",\"units\":\"" + s.units +
         "\",\"displayName\":null},\"datetimeFirst\":{\"utc\":\"" + first + "\",\"local\":\"" +
         first + "\"},\"datetimeLast\":" +
         (s.count > 0 ? "{\"utc\":\"" + last + "\",\"local\":\"" + last + "\"}" : "null") +
         ",\"coverage\":null,\"latest\":null,\"summary\":null}";
}

}  // namespace

std::string FormatUtc(std::int64_t t) {
  std::int64_t days = t / 86400, secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, y, m, d);
  char out[32];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d, int(secs / 3600),
                int(secs / 60 % 60), int(secs % 60));
  return out;
}

FakeOpenAq::FakeOpenAq(std::vector<FakeLocation> locations, Options options)
    : options_(std::move(options)), locations_(std::move(locations)) {
  server_ = options_.cert_file.empty()
                ? std::make_unique<LoopbackServer>()
                : std::make_unique<LoopbackServer>(options_.cert_file, options_.key_file);
  Install();
}

FakeOpenAq::~FakeOpenAq() { server_->Stop(); }

void FakeOpenAq::Start() { server_->Start(); }

void FakeOpenAq::AddFault(Fault fault) {
  std::lock_guard lock(mutex_);
  faults_.push_back(fault);
}

void FakeOpenAq::Extend(std::int64_t sensor_id, std::int64_t more) {
  std::lock_guard lock(mutex_);
  if (FakeSeries* s = FindSeries(sensor_id)) s->count += more;
}

void FakeOpenAq::ChangeValue(std::int64_t sensor_id, std::int64_t index, double value) {
  std::lock_guard lock(mutex_);
  changed_[{sensor_id, index}] = value;
}

int FakeOpenAq::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<std::string> FakeOpenAq::request_log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

FakeSeries* FakeOpenAq::FindSeries(std::int64_t sensor_id) {
  for (auto& location : locations_) {
    for (auto& s : location.sensors) {
      if (s.sensor_id == sensor_id) return &s;
    }
  }
  return nullptr;
}

std::optional<double> FakeOpenAq::Value(const FakeSeries& s, std::int64_t i) const {
  if (const auto it = changed_.find({s.sensor_id, i}); it != changed_.end()) return it->second;
  if (s.null_every > 0 && i % s.null_every == s.null_every - 1) return std::nullopt;
  if (s.invalid_every > 0 && i % s.invalid_every == s.invalid_every - 1) return -999.0;
  return 5.0 + double((s.sensor_id * 31 + i * 7919) % 2000) / 10.0;
}

std::vector<FakeRecord> FakeOpenAq::Records(std::int64_t sensor_id) const {
  std::lock_guard lock(mutex_);
  std::vector<FakeRecord> out;
  for (const auto& location : locations_) {
    for (const auto& s : location.sensors) {
      if (s.sensor_id != sensor_id) continue;
      for (std::int64_t i = 0; i < s.count; ++i) {
        out.push_back({sensor_id, s.start + i * s.interval, Value(s, i)});
      }
    }
  }
  return out;
}

void FakeOpenAq::Install() {
  httplib::Server& http = server_->http();
  http.set_keep_alive_max_count(1000);

  // Every request is counted, checked for faults and the key, in one place.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_repeat = false;
    std::optional<Fault> fault;
    bool limited = false;
    int used = 0;
    {
      std::lock_guard lock(mutex_);
      if (req.path.rfind("/_fake/", 0) == 0) return httplib::Server::HandlerResponse::Unhandled;
      ++requests_;
      std::string line = req.path;
      bool first = true;
      for (const auto& [k, v] : req.params) {
        line += (first ? "?" : "&") + k + "=" + v;
        first = false;
      }
      log_.push_back(line);
      const bool measurements = req.path.rfind("/v3/sensors/", 0) == 0;
      for (auto it = faults_.begin(); it != faults_.end(); ++it) {
        // A repeat waits for a measurements request that can show one.
        const bool repeat = it->kind == FaultKind::kRepeatPrevious;
        if (repeat && !measurements) continue;
        if (it->nth == requests_ || (repeat && it->nth < requests_)) {
          fault = *it;
          faults_.erase(it);
          break;
        }
      }
      if (options_.rate_limit_per_minute > 0) {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        if (now - window_start_ >= 60) {
          window_start_ = now;
          window_count_ = 0;
        }
        limited = ++window_count_ > options_.rate_limit_per_minute;
        used = window_count_;
      }
    }
    const int limit = options_.rate_limit_per_minute > 0 ? options_.rate_limit_per_minute : 60;
    res.set_header("x-ratelimit-limit", std::to_string(limit));
    res.set_header("x-ratelimit-used", std::to_string(std::min(used, limit)));
    res.set_header("x-ratelimit-remaining", std::to_string(std::max(0, limit - used)));
    res.set_header("x-ratelimit-reset", "1");
    if (limited) {
      res.status = 429;
      res.set_content("{\"detail\": \"Too many requests\"}", kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (fault) {
      switch (fault->kind) {
        case FaultKind::kStatus:
          if (fault->status == 429) {
            res.set_header("x-ratelimit-remaining", "0");
            res.set_header("x-ratelimit-reset", std::to_string((fault->delay_ms + 999) / 1000));
            Detail(res, 429, "Too many requests");
          } else {
            Detail(res, fault->status, "Injected failure");
          }
          return httplib::Server::HandlerResponse::Handled;
        case FaultKind::kTruncate:
        case FaultKind::kReset: {
          const bool truncate = fault->kind == FaultKind::kTruncate;
          const std::string body = "{\"meta\":{\"found\":1},\"results\":[" + std::string(400, ' ');
          res.set_content_provider(
              body.size() * 2, "application/octet-stream",
              [body, truncate](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                if (truncate && offset == 0) sink.write(body.data(), body.size());
                return false;  // closes the connection mid-body
              });
          return httplib::Server::HandlerResponse::Handled;
        }
        case FaultKind::kSlow:
          std::this_thread::sleep_for(std::chrono::milliseconds(fault->delay_ms));
          break;
        case FaultKind::kRepeatPrevious:
          t_repeat = true;
          break;
      }
    }
    if (req.path.rfind("/v1/", 0) == 0 || req.path.rfind("/v2/", 0) == 0) {
      Detail(res, 410, "Gone. Version 1 and Version 2 API endpoints are retired");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.get_header_value("X-API-Key") != options_.api_key) {
      Detail(res, 401, "Invalid credentials");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  auto content_type = [this](const httplib::Request&) { return options_.gzip ? kJsonGzip : kJson; };

  http.Get(R"(/v3/locations/(\d+))", [this, content_type](const httplib::Request& req,
                                                          httplib::Response& res) {
    const std::int64_t id = std::stoll(req.matches[1]);
    std::lock_guard lock(mutex_);
    for (const auto& l : locations_) {
      if (l.id != id) continue;
      std::string sensors;
      for (const auto& s : l.sensors) {
        if (!sensors.empty()) sensors += ",";
        sensors += "{\"id\":" + std::to_string(s.sensor_id) + ",\"name\":\"" + s.parameter + " " +
                   s.units + "\",\"parameter\":{\"id\":" + std::to_string(s.parameter_id) +
                   ",\"name\":\"" + s.parameter + "\",\"units\":\"" + s.units +
                   "\",\"displayName\":null}}";
      }
      res.set_content(
          "{\"meta\":{\"name\":\"openaq-api\",\"website\":\"/\",\"page\":1,"
          "\"limit\":100,\"found\":1},\"results\":[{\"id\":" +
              std::to_string(l.id) + ",\"name\":\"" + l.name + "\",\"timezone\":\"" + l.timezone +
              "\",\"sensors\":[" + sensors + "]}]}",
          content_type(req));
      return;
    }
    Detail(res, 404, "Location not found");
  });

  http.Get(R"(/v3/locations/(\d+)/sensors)",
           [this, content_type](const httplib::Request& req, httplib::Response& res) {
             const std::int64_t id = std::stoll(req.matches[1]);
             std::lock_guard lock(mutex_);
             for (const auto& l : locations_) {
               if (l.id != id) continue;
               std::string sensors;
               for (const auto& s : l.sensors) {
                 if (!sensors.empty()) sensors += ",";
                 sensors += SensorJson(s);
               }
               res.set_content(
                   "{\"meta\":{\"name\":\"openaq-api\",\"website\":\"/\",\"page\":1,"
                   "\"limit\":100,\"found\":" +
                       std::to_string(l.sensors.size()) + "},\"results\":[" + sensors + "]}",
                   content_type(req));
               return;
             }
             Detail(res, 404, "Location not found");
           });

  http.Get(R"(/v3/sensors/(\d+)/(measurements|hours))", [this, content_type](
                                                            const httplib::Request& req,
                                                            httplib::Response& res) {
    const std::int64_t id = std::stoll(req.matches[1]);
    const bool hours = req.matches[2] == "hours";
    int limit = 100, page = 1;
    try {
      if (req.has_param("limit")) limit = std::stoi(req.get_param_value("limit"));
      if (req.has_param("page")) page = std::stoi(req.get_param_value("page"));
    } catch (const std::exception&) {
      limit = -1;
    }
    if (limit > 1000 || limit < 1 || page < 1) {
      res.status = 422;
      res.set_content(
          "\"1 validation error for PagedDatetimeQueries\\nlimit\\n  Input should be less than or "
          "equal to 1000 [type=less_than_equal, input_value=" +
              std::to_string(limit) + ", input_type=str]\"",
          kJson);
      return;
    }
    std::optional<std::int64_t> from, to;
    for (const auto& [name, slot] :
         {std::pair<const char*, std::optional<std::int64_t>*>{"datetime_from", &from},
          std::pair<const char*, std::optional<std::int64_t>*>{"datetime_to", &to}}) {
      if (!req.has_param(name)) continue;
      *slot = ParseTime(req.get_param_value(name));
      if (!*slot) {
        res.status = 422;
        res.set_content(std::string("\"") + name + " must be a datetime with a UTC offset\"",
                        kJson);
        return;
      }
    }
    const bool repeat = std::exchange(t_repeat, false);
    FakeSeries series;
    std::vector<std::pair<std::int64_t, std::optional<double>>> rows;
    {
      std::lock_guard lock(mutex_);
      const FakeSeries* s = FindSeries(id);
      if (s == nullptr) {
        Detail(res, 404, "Sensor not found");
        return;
      }
      series = *s;
      // Bounds apply to the period end: (from, to].
      std::int64_t lo = 0, hi = s->count;
      if (from && *from >= s->start) {
        lo = std::min<std::int64_t>(s->count, (*from - s->start) / s->interval + 1);
      }
      if (to) {
        hi = *to < s->start ? 0
                            : std::min<std::int64_t>(s->count, (*to - s->start) / s->interval + 1);
      }
      std::int64_t first = lo + std::int64_t(page - 1) * limit;
      std::int64_t last = std::min<std::int64_t>(first + limit, hi);
      // Like OFFSET pagination racing an insert: the previous record again.
      if (repeat && first > 0 && first - 1 < s->count) {
        --first;
        last = std::min<std::int64_t>(first + limit, hi);
      } else if (repeat) {
        // Nothing before this page to repeat: try the next request instead.
        faults_.push_back(Fault{requests_ + 1, FaultKind::kRepeatPrevious, 0, 0});
      }
      for (std::int64_t i = first; i < last; ++i) {
        rows.emplace_back(s->start + i * s->interval, Value(*s, i));
      }
    }
    std::string body;
    body.reserve(rows.size() * 900 + 200);
    body +=
        "{\"meta\":{\"name\":\"openaq-api\",\"website\":\"/\",\"page\":" + std::to_string(page) +
        ",\"limit\":" + std::to_string(limit) + ",\"found\":";
    body += int(rows.size()) == limit ? "\">" + std::to_string(limit) + "\""
                                      : std::to_string(rows.size());
    body += "},\"results\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i > 0) body += ",";
      AppendRow(body, series, rows[i].first, rows[i].second, hours ? "1hour" : "raw");
    }
    body += "]}";
    res.set_content(std::move(body), content_type(req));
  });

  // Control endpoints for tests driving the fake from another process.
  http.Post("/_fake/fault", [this](const httplib::Request& req, httplib::Response& res) {
    Fault f;
    f.nth = std::stoi(req.get_param_value("nth"));
    const std::string kind = req.get_param_value("kind");
    f.kind = kind == "truncate" ? FaultKind::kTruncate
             : kind == "reset"  ? FaultKind::kReset
             : kind == "slow"   ? FaultKind::kSlow
             : kind == "repeat" ? FaultKind::kRepeatPrevious
                                : FaultKind::kStatus;
    if (req.has_param("status")) f.status = std::stoi(req.get_param_value("status"));
    if (req.has_param("delay_ms")) f.delay_ms = std::stoi(req.get_param_value("delay_ms"));
    AddFault(f);
    res.set_content("{}", kJson);
  });
  http.Post("/_fake/extend", [this](const httplib::Request& req, httplib::Response& res) {
    const std::int64_t more = std::stoll(req.get_param_value("count"));
    if (req.has_param("sensor")) {
      Extend(std::stoll(req.get_param_value("sensor")), more);
    } else {
      std::lock_guard lock(mutex_);
      for (auto& l : locations_) {
        for (auto& s : l.sensors) s.count += more;
      }
    }
    res.set_content("{}", kJson);
  });
  http.Post("/_fake/change", [this](const httplib::Request& req, httplib::Response& res) {
    ChangeValue(std::stoll(req.get_param_value("sensor")), std::stoll(req.get_param_value("index")),
                std::stod(req.get_param_value("value")));
    res.set_content("{}", kJson);
  });
  http.Get("/_fake/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"requests\":" + std::to_string(requests()) + "}", kJson);
  });
  // Every record as the job should end up holding it, one JSON line each:
  // {"sensor":..,"end":"..","value":..|null}.
  http.Get("/_fake/records", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<std::int64_t> ids;
    {
      std::lock_guard lock(mutex_);
      for (const auto& l : locations_) {
        for (const auto& s : l.sensors) ids.push_back(s.sensor_id);
      }
    }
    std::string out;
    for (const std::int64_t id : ids) {
      for (const FakeRecord& r : Records(id)) {
        char value[32];
        if (r.value) {
          std::snprintf(value, sizeof value, "%.17g", *r.value);
        } else {
          std::snprintf(value, sizeof value, "null");
        }
        out += "{\"sensor\":" + std::to_string(id) + ",\"end\":\"" + FormatUtc(r.period_end) +
               "\",\"value\":" + value + "}\n";
      }
    }
    res.set_content(out, "application/x-ndjson");
  });
}

}  // namespace fakes
