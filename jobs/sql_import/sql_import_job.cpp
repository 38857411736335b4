#include "jobs/sql_import/sql_import_job.h"

#include <glob.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/utf8.h"
#include "crypto/hex.h"
#include "crypto/password_hash.h"
#include "crypto/sha256.h"
#include "csv/csv_reader.h"
#include "http/url.h"
#include "jobs/sql_import/column_rule.h"
#include "jobs/sql_import/import_target.h"
#include "jobs/sql_import/import_window.h"
#include "jobs/sql_import/key_hashes.h"
#include "jobs/sql_import/sql_import_config.h"
#include "json/json_fields.h"
#include "schedule/schedule.h"

namespace jobs::sql_import {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHidden = "[hidden]";
// Rejects shown in the run's output (all of them are in the rejects table).
constexpr std::size_t kShownRejects = 20;

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  while (from <= path.size() && !path.empty()) {
    const std::size_t dot = path.find('.', from);
    parts.emplace_back(path.substr(from, dot == std::string_view::npos ? path.npos : dot - from));
    if (dot == std::string_view::npos) break;
    from = dot + 1;
  }
  return parts;
}

// The value at `path` under `root`; null when a step is missing.
const boost::json::value* At(const boost::json::value& root, const std::vector<std::string>& path) {
  const boost::json::value* at = &root;
  for (const std::string& part : path) {
    const boost::json::object* object = at->if_object();
    if (object == nullptr) return nullptr;
    auto it = object->find(part);
    if (it == object->end()) return nullptr;
    at = &it->value();
  }
  return at;
}

// Seconds since the last lap, for the phase metrics.
class Stopwatch {
 public:
  double Lap() {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return seconds;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Everything a run has counted, for the metrics and the summary.
struct Tally {
  std::uint64_t read = 0;
  std::uint64_t invalid = 0;
  std::map<std::string, std::uint64_t, std::less<>> reasons;
  std::vector<std::string> shown;  // the first rejects, "source: reason; reason"
};

class SqlImportJob final : public scheduler::Job {
 public:
  explicit SqlImportJob(SqlImportSettings settings) : settings_(std::move(settings)) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    ctx_ = &ctx;
    auto zone = schedules::LocateZone(ctx.job().timezone);
    if (!zone) return core::Unexpected(zone.error());
    columns_ = settings_.columns;
    if (settings_.password) {
      for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (columns_[i].password) password_column_ = i;
      }
    }
    for (const ColumnRule& column : columns_) paths_.push_back(SplitPath(column.from));
    values_.resize(columns_.size());
    std::vector<std::size_t> key_columns;
    for (const std::string& k : settings_.key) {
      for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (columns_[i].name == k) key_columns.push_back(i);
      }
    }
    keys_.emplace(std::move(key_columns));

    auto opened = OpenTarget(settings_, RunFacts{ctx.job_name(), ctx.run_id()}, ctx);
    if (!opened) return core::Unexpected(opened.error());
    target_ = std::move(*opened);
    if (auto prepared = target_->Prepare(columns_); !prepared) return prepared;
    convert_.zone = *zone;
    convert_.decimal_as_double = settings_.target == TargetKind::kSqlite;

    std::vector<ImportedFile> files;
    std::optional<ImportWindow> window;
    if (settings_.csv) {
      auto listed = NewFiles();
      if (!listed) return core::Unexpected(listed.error());
      files = std::move(*listed);
    } else {
      auto made = settings_.window_start
                      ? WindowBetween(*settings_.window_start, *settings_.window_end, *zone)
                      : WindowBefore(ctx.scheduled_at().value_or(ctx.Now()),
                                     settings_.window.value_or(std::chrono::hours(24)), *zone);
      if (!made) return core::Unexpected(made.error());
      window = std::move(*made);
    }
    if (ctx.cancel().Cancelled()) return core::Unexpected(ctx.CancelledError("listing the files"));

    if (auto begun = target_->Begin(); !begun) return begun;
    Stopwatch watch;
    if (settings_.csv) {
      for (ImportedFile& file : files) {
        if (auto read = ReadFile(file); !read) return read;
      }
    } else {
      ctx.Info(fmt::format("window {} to {}", window->start_text, window->end_text));
      if (auto fetched = FetchPages(*window); !fetched) return fetched;
    }
    ctx.metrics().Set("read_seconds", watch.Lap());
    auto checked = target_->ApplyChecks([this](std::int64_t source) { return Describe(source); },
                                        [this](const RejectedRecord& reject) { Count(reject); });
    if (!checked) return core::Unexpected(checked.error());
    auto staged = target_->StagedRows();
    if (!staged) return core::Unexpected(staged.error());
    ctx.metrics().Set("check_seconds", watch.Lap());
    ctx.metrics().AddRecords("read", double(tally_.read));
    ctx.metrics().AddRecords("invalid", double(tally_.invalid));
    for (const auto& [reason, n] : tally_.reasons)
      ctx.metrics().Add("invalid_" + reason, double(n));

    std::optional<core::Error> refusal;
    if (tally_.invalid > 0 && settings_.on_invalid == OnInvalid::kFail) {
      refusal = core::InvalidArgument(fmt::format(
          "{} of {} records are invalid and on_invalid is fail: nothing imported ({}; every one "
          "is in {}_rejects)",
          tally_.invalid, tally_.read, FirstReject(), settings_.table));
    } else if (std::int64_t(*staged) < settings_.min_rows) {
      refusal = core::Error{
          core::ErrorKind::kUpstream,
          fmt::format("{} valid rows, fewer than min_rows {}: nothing imported{}", *staged,
                      settings_.min_rows, settings_.csv && files.empty() ? " (no new files)" : ""),
          true};
    }
    if (settings_.dry_run) {
      LoadCounts counts;
      if (!refusal) {
        auto upserted = target_->Upsert(keys_->MayRepeat());
        if (!upserted) return core::Unexpected(upserted.error());
        counts = *upserted;
      }
      target_->Rollback();
      CountLoad(counts);
      ctx.metrics().Set("dry_run", 1);
      ctx.metrics().SetChanged(false);
      Report(counts, files, true, refusal);
      if (refusal) return core::Unexpected(*refusal);
      return {};
    }
    if (refusal) {
      // The rejects say why: they are kept, the rows are not.
      if (auto committed = target_->Commit(); !committed) return committed;
      Report({}, {}, false, refusal);
      return core::Unexpected(*refusal);
    }
    auto counts = target_->Upsert(keys_->MayRepeat());
    if (!counts) return core::Unexpected(counts.error());
    ctx.metrics().Set("upsert_seconds", watch.Lap());
    for (const ImportedFile& file : files) {
      if (auto marked = target_->MarkImported(file); !marked) return marked;
    }
    if (ctx.cancel().Cancelled()) return core::Unexpected(ctx.CancelledError("before the commit"));
    if (auto committed = target_->Commit(); !committed) return committed;
    ctx.metrics().Set("commit_seconds", watch.Lap());
    CountLoad(*counts);
    ctx.metrics().SetChanged(counts->inserted + counts->updated > 0);
    Report(*counts, files, false, std::nullopt);
    return {};
  }

 private:
  // ---- files ----

  core::Result<std::vector<ImportedFile>> NewFiles() {
    const std::string& pattern = settings_.csv->files;
    std::vector<std::string> names;
    glob_t found{};
    const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &found);
    if (rc == 0) {
      for (std::size_t i = 0; i < found.gl_pathc; ++i) names.emplace_back(found.gl_pathv[i]);
    }
    ::globfree(&found);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      return core::Unexpected(
          core::Error{core::ErrorKind::kIo, "csv: cannot list " + pattern, true});
    }
    const bool wildcard = pattern.find_first_of("*?[") != std::string::npos;
    if (names.empty() && !wildcard) {
      return core::Unexpected(
          core::Error{core::ErrorKind::kNotFound, "csv: " + pattern + ": no such file", false});
    }
    std::sort(names.begin(), names.end());
    std::vector<ImportedFile> out;
    for (const std::string& name : names) {
      std::error_code ec;
      if (!fs::is_regular_file(name, ec)) continue;
      auto sha = crypto::Sha256OfFile(name);
      if (!sha) {
        // Most likely the file is being replaced or its disk is busy.
        core::Error error = sha.error();
        error.retryable = true;
        return core::Unexpected(std::move(error));
      }
      auto imported = target_->Imported(name, *sha);
      if (!imported) return core::Unexpected(imported.error());
      if (*imported) {
        ctx_->metrics().Add("files_skipped", 1);
        continue;
      }
      out.push_back(ImportedFile{name, *sha, 0, 0});
    }
    if (names.empty()) ctx_->Info("csv: no file matches " + pattern);
    return out;
  }

  core::Result<void> ReadFile(ImportedFile& file) {
    const std::string shown = fs::path(file.name).filename().string();
    crypto::Sha256 sha;
    csv::ReaderOptions options = settings_.csv->options;
    options.on_bytes = [&sha](std::string_view bytes) { sha.Update(bytes); };
    auto reader = csv::Reader::Open(file.name, options);
    if (!reader) return core::Unexpected(reader.error());
    csv::Record record;
    auto got = reader->Next(record);
    if (!got) return core::Unexpected(got.error());
    if (!*got) {
      return core::Unexpected(core::InvalidArgument(shown + ": empty: no header row"));
    }
    std::vector<std::string> header;
    for (const csv::Field& field : record.fields) {
      std::string_view name = field.text;
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      header.emplace_back(name);
    }
    std::vector<std::size_t> index(columns_.size());
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      auto it = std::find(header.begin(), header.end(), columns_[c].from);
      if (it == header.end()) {
        std::string all;
        for (const std::string& h : header) all += (all.empty() ? "" : ", ") + h;
        return core::Unexpected(core::InvalidArgument(
            fmt::format("{}: line 1: no column '{}' in the header (it has: {})", shown,
                        columns_[c].from, core::EscapeForTerminal(core::CutUtf8(all, 400)))));
      }
      index[c] = std::size_t(it - header.begin());
    }
    // The field holding a clear-text password, hidden in the rejects
    // (header.size(): none).
    const std::size_t hidden = password_column_ ? index[*password_column_] : header.size();

    std::uint64_t records = 0;
    const std::int64_t file_index = std::int64_t(sources_.size());
    sources_.push_back(shown);
    for (;;) {
      if ((records & 4095) == 0 && ctx_->cancel().Cancelled()) {
        return core::Unexpected(ctx_->CancelledError("reading " + shown));
      }
      got = reader->Next(record);
      if (!got) return core::Unexpected(got.error());
      if (!*got) break;
      ++records;
      ++tally_.read;
      const std::int64_t source = SourceId(file_index, record.line);
      RejectedRecord reject;
      if (!record.problem.empty()) {
        reject.reasons.push_back(record.problem);
        reject.kinds.push_back("format");
      } else if (record.fields.size() != header.size()) {
        reject.reasons.push_back(
            fmt::format("{} fields, the header has {}", record.fields.size(), header.size()));
        reject.kinds.push_back("columns");
      } else {
        ConvertRow(
            [&](std::size_t c) {
              return SourceValue{SourceValue::Kind::kText, record.fields[index[c]].text, nullptr};
            },
            reject);
      }
      auto staged = Stage(reject, source, [&] {
        boost::json::object whole;
        for (std::size_t i = 0; i < record.fields.size(); ++i) {
          const std::string name = i < header.size() ? header[i] : "field_" + std::to_string(i + 1);
          if (i == hidden) {
            whole[name] = kHidden;
          } else {
            whole[name] = core::ToValidUtf8(record.fields[i].text);
          }
        }
        return boost::json::serialize(whole);
      });
      if (!staged) return staged;
    }
    if (crypto::Hex(sha.Finish()) != file.sha256) {
      return core::Unexpected(
          core::Error{core::ErrorKind::kIo,
                      shown + ": changed while it was being imported; trying again", true});
    }
    file.bytes = reader->bytes_read();
    file.rows = records;
    ctx_->metrics().Add("files", 1);
    ctx_->metrics().Add("bytes", double(file.bytes));
    return {};
  }

  // ---- HTTP ----

  core::Result<void> FetchPages(const ImportWindow& window) {
    const HttpSource& h = *settings_.http;
    std::string url = FillWindow(h.url, window);
    for (const auto& [name, value] : h.params) {
      url += url.find('?') == std::string::npos ? '?' : '&';
      url += http::PercentEncode(name) + "=" + http::PercentEncode(FillWindow(value, window));
    }
    auto first = http::ParseUrl(url);
    if (!first) {
      return core::Unexpected(core::InvalidArgument("http: " + first.error().message));
    }
    const http::Url origin = *first;
    const std::vector<std::string> records_path = SplitPath(h.records);
    const std::vector<std::string> next_path = SplitPath(h.next);
    std::set<std::string> seen;
    for (std::int64_t page = 1;; ++page) {
      if (page > h.max_pages) {
        return core::Unexpected(
            core::Error{core::ErrorKind::kUpstream,
                        fmt::format("http: more than max_pages {} pages; stopped at {}",
                                    h.max_pages, http::RedactUrl(url)),
                        false});
      }
      if (ctx_->cancel().Cancelled())
        return core::Unexpected(ctx_->CancelledError("fetching pages"));
      seen.insert(url);
      auto parsed_url = http::ParseUrl(url);
      if (!parsed_url)
        return core::Unexpected(core::InvalidArgument("http: " + parsed_url.error().message));
      http::ClientRequest request;
      request.url = url;
      request.headers.push_back({"Accept", "application/json"});
      // Credentials go only to the origin they were configured for.
      const bool same_origin = parsed_url->SameOrigin(origin);
      for (const auto& [name, value] : h.headers) {
        if (same_origin || !http::IsCredentialHeader(name))
          request.headers.push_back({name, value});
      }
      const std::string shown = "GET " + http::RedactUrl(url);
      auto response = ctx_->http().Send(std::move(request), ctx_->CallOptions());
      if (!response) {
        core::Error error = response.error();
        if (error.kind == core::ErrorKind::kCancelled || error.kind == core::ErrorKind::kTimeout) {
          if (ctx_->cancel().Cancelled()) return core::Unexpected(ctx_->CancelledError(shown));
        }
        return core::Unexpected(std::move(error));  // it names the request already
      }
      ctx_->metrics().Add("pages", 1);
      ctx_->metrics().Add("bytes", double(response->body_bytes));
      if (response->status < 200 || response->status > 299) {
        const bool retryable =
            response->status >= 500 || response->status == 429 || response->status == 408;
        return core::Unexpected(
            core::Error{core::ErrorKind::kUpstream,
                        fmt::format("{}: HTTP {}{}: {}", shown, response->status,
                                    response->status == 401 || response->status == 403
                                        ? " (is the API key right?)"
                                        : "",
                                    core::EscapeForTerminal(core::CutUtf8(response->body, 200))),
                        retryable});
      }
      auto document = json::Parse(response->body);
      if (!document) {
        const std::string type(response->Find("Content-Type").value_or("none"));
        return core::Unexpected(
            core::Error{core::ErrorKind::kUpstream,
                        fmt::format("{}: HTTP {} answer is not JSON (Content-Type {}): {}", shown,
                                    response->status, core::EscapeForTerminal(type),
                                    core::EscapeForTerminal(core::CutUtf8(response->body, 120))),
                        true});
      }
      const boost::json::value* array =
          records_path.empty() ? &*document : At(*document, records_path);
      if (array == nullptr || !array->is_array()) {
        return core::Unexpected(core::Error{
            core::ErrorKind::kUpstream,
            fmt::format("{}: HTTP {} answer has no array at '{}'", shown, response->status,
                        h.records.empty() ? "(the answer itself)" : h.records),
            false});
      }
      std::size_t item = 0;
      for (const boost::json::value& element : array->get_array()) {
        ++item;
        ++tally_.read;
        const std::int64_t source = SourceId(page, item);
        RejectedRecord reject;
        if (!element.is_object()) {
          reject.reasons.push_back("expected an object, got " +
                                   std::string(element.is_array() ? "an array" : "a scalar"));
          reject.kinds.push_back("record");
        } else {
          ConvertRow(
              [&](std::size_t c) {
                const boost::json::value* v = At(element, paths_[c]);
                return v ? SourceValue{SourceValue::Kind::kJson, {}, v} : SourceValue{};
              },
              reject);
        }
        auto staged = Stage(reject, source, [&] {
          boost::json::value whole = element;
          if (settings_.password && whole.is_object()) {
            // The clear text never reaches the rejects.
            const std::vector<std::string>& path = paths_[*password_column_];
            boost::json::value* at = &whole;
            for (std::size_t i = 0; at && i + 1 < path.size(); ++i) {
              boost::json::object* o = at->if_object();
              at = o && o->contains(path[i]) ? &(*o)[path[i]] : nullptr;
            }
            if (at && at->is_object() && at->get_object().contains(path.back())) {
              at->get_object()[path.back()] = kHidden;
            }
          }
          return boost::json::serialize(whole);
        });
        if (!staged) return staged;
      }
      if (next_path.empty()) break;
      const boost::json::value* next = At(*document, next_path);
      if (next == nullptr || next->is_null() || (next->is_string() && next->get_string().empty())) {
        break;
      }
      if (!next->is_string()) {
        return core::Unexpected(core::Error{core::ErrorKind::kUpstream,
                                            fmt::format("{}: '{}' is not a URL", shown, h.next),
                                            false});
      }
      auto resolved = http::ResolveLocation(*parsed_url, std::string_view(next->get_string()));
      if (!resolved) {
        return core::Unexpected(
            core::Error{core::ErrorKind::kUpstream,
                        shown + ": the next page link: " + resolved.error().message, false});
      }
      url = resolved->ToString();
      if (seen.count(url)) {
        return core::Unexpected(
            core::Error{core::ErrorKind::kUpstream,
                        shown + ": the next page link points back to a page already read (" +
                            http::RedactUrl(url) + ")",
                        false});
      }
    }
    return {};
  }

  // ---- records ----

  // Where a record came from, as staged with its row: the file's index (or
  // the page) in the high bits, the line (or item) in the low 40.
  static std::int64_t SourceId(std::int64_t file_or_page, std::uint64_t line_or_item) {
    return (file_or_page << 40) | std::int64_t(line_or_item & ((std::uint64_t(1) << 40) - 1));
  }
  std::string Describe(std::int64_t source) const {
    const std::int64_t high = source >> 40;
    const std::int64_t low = source & ((std::int64_t(1) << 40) - 1);
    if (settings_.csv) {
      const std::string& file =
          std::size_t(high) < sources_.size() ? sources_[std::size_t(high)] : "?";
      return file + " line " + std::to_string(low);
    }
    return fmt::format("page {} item {}", high, low);
  }

  // The converted row staged, or, when the record has reasons, the record
  // rejected: `whole` makes its JSON (a reject's only).
  template <typename Whole>
  core::Result<void> Stage(RejectedRecord& reject, std::int64_t source, const Whole& whole) {
    if (reject.reasons.empty()) {
      keys_->Add(values_);
      return target_->AddRow(values_, source);
    }
    reject.source = Describe(source);
    reject.record = whole();
    Count(reject);
    return target_->AddReject(reject);
  }

  // Fills values_ from one record, or the reasons it is invalid.
  template <typename Get>
  void ConvertRow(const Get& get, RejectedRecord& reject) {
    Violation why;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (columns_[c].password) continue;
      if (!columns_[c].Convert(get(c), convert_, values_[c], why)) {
        reject.reasons.push_back(std::move(why.message));
        reject.kinds.push_back(why.reason);
      }
    }
    if (!password_column_ || !reject.reasons.empty()) return;
    // Hashed last, only for a row that is otherwise valid: Argon2 is slow
    // by design.
    const SourceValue clear = get(*password_column_);
    std::string_view text = clear.text;
    if (clear.kind == SourceValue::Kind::kJson) {
      text = clear.json && clear.json->is_string() ? std::string_view(clear.json->get_string())
                                                   : std::string_view();
    }
    if (text.empty()) {
      reject.reasons.push_back(columns_[*password_column_].from + ": missing");
      reject.kinds.push_back("required");
      return;
    }
    auto hash = crypto::HashPassword(text, settings_.password->cost);
    if (!hash) {
      reject.reasons.push_back(columns_[*password_column_].name + ": " + hash.error().message);
      reject.kinds.push_back("password");
      return;
    }
    values_[*password_column_] = std::move(*hash);
  }

  // What the upsert did (or, in a dry run, would have done).
  void CountLoad(const LoadCounts& counts) {
    ctx_->metrics().AddRecords("inserted", double(counts.inserted));
    ctx_->metrics().AddRecords("updated", double(counts.updated));
    ctx_->metrics().AddRecords("unchanged", double(counts.unchanged));
    ctx_->metrics().Add("duplicate_keys", double(counts.duplicate_keys));
  }

  void Count(const RejectedRecord& reject) {
    ++tally_.invalid;
    for (std::string_view kind : reject.kinds) {
      auto it = tally_.reasons.find(kind);
      if (it == tally_.reasons.end()) it = tally_.reasons.emplace(std::string(kind), 0).first;
      ++it->second;
    }
    if (tally_.shown.size() < kShownRejects) {
      std::string line = reject.source + ": ";
      for (std::size_t i = 0; i < reject.reasons.size(); ++i) {
        line += (i ? "; " : "") + reject.reasons[i];
      }
      tally_.shown.push_back(std::move(line));
    }
  }

  std::string FirstReject() const {
    return tally_.shown.empty() ? "no detail" : "first: " + tally_.shown.front();
  }

  void Report(const LoadCounts& counts, const std::vector<ImportedFile>& files, bool dry_run,
              const std::optional<core::Error>& refusal) {
    std::string out;
    if (settings_.csv) {
      out += fmt::format("{} new file(s)", files.size());
      for (const ImportedFile& file : files) {
        out +=
            fmt::format("\n  {} ({} records, sha256 {})", fs::path(file.name).filename().string(),
                        file.rows, file.sha256.substr(0, 12));
      }
      out += "\n";
    }
    const std::string verb = dry_run ? "would have " : "";
    out += fmt::format("{} read, {} invalid", tally_.read, tally_.invalid);
    for (const auto& [reason, n] : tally_.reasons) out += fmt::format(" ({} {})", n, reason);
    if (!refusal) {
      out += fmt::format("; {}inserted {}, {}updated {}, {} unchanged", verb, counts.inserted, verb,
                         counts.updated, counts.unchanged);
      if (counts.duplicate_keys)
        out += fmt::format(", {} duplicate keys (the last wins)", counts.duplicate_keys);
    }
    out += " into " + target_->name();
    if (dry_run) out += " (dry run: nothing written)";
    out += "\n";
    for (const std::string& line : tally_.shown) out += "rejected " + line + "\n";
    if (tally_.invalid > tally_.shown.size()) {
      out += fmt::format("... and {} more in {}_rejects\n", tally_.invalid - tally_.shown.size(),
                         settings_.table);
    }
    ctx_->Info(fmt::format("{} read, {} invalid, {}inserted {}, updated {}, unchanged {}",
                           tally_.read, tally_.invalid, verb, counts.inserted, counts.updated,
                           counts.unchanged));
    ctx_->set_output(core::CutUtf8(std::move(out), 16 * 1024));
  }

  const SqlImportSettings settings_;
  scheduler::JobContext* ctx_ = nullptr;
  std::vector<ColumnRule> columns_;  // the settings' with the target's limits
  std::vector<std::vector<std::string>> paths_;
  std::optional<std::size_t> password_column_;
  ConvertContext convert_;
  std::unique_ptr<ImportTarget> target_;
  std::vector<std::optional<std::string>> values_;  // the row being converted
  std::optional<KeyHashes> keys_;
  std::vector<std::string> sources_;  // the files read, by SourceId's index
  Tally tally_;
};

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      SqlImportJobSpec(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<SqlImportSettings>();
        return std::make_unique<SqlImportJob>(settings ? *settings : SqlImportSettings{});
      }};
}

}  // namespace jobs::sql_import
