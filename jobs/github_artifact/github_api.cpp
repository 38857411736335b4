#include "jobs/github_artifact/github_api.h"

#include <algorithm>
#include <cctype>
#include <string>

#include <boost/json.hpp>

#include "core/utf8.h"
#include "http/url.h"
#include "json/json_fields.h"

namespace jobs::github_artifact {
namespace {

constexpr std::string_view kApiVersion = "2022-11-28";
// How long a secondary rate limit without retry-after is waited out first
// (GitHub: "wait for at least one minute"), doubling after each.
constexpr auto kSecondaryWait = std::chrono::minutes(1);
// Waits for rate limits per request before the run gives up (retryable).
constexpr int kMaxRateLimitWaits = 5;

core::Error Unexpected(std::string_view what, const core::Error& error) {
  return core::Error{core::ErrorKind::kUpstream,
                     "unexpected answer from GitHub (" + std::string(what) + "): " + error.message,
                     false};
}

core::Result<core::TimePoint> Time(const json::Field& object, std::string_view key) {
  auto text = object.Required<std::string_view>(key);
  if (!text) return core::Unexpected(text.error());
  auto t = core::ParseRfc3339(*text);
  if (!t) return core::Unexpected(object.Problem(std::string(key) + ": not a time"));
  return *t;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

// GitHub's `message` from an error body, cut short and made printable; the
// status alone when the body is not GitHub's JSON.
std::string GithubMessage(const http::ClientResponse& response) {
  auto doc = json::Parse(response.body);
  if (doc && doc->is_object()) {
    if (const auto* message = doc->as_object().if_contains("message");
        message && message->is_string()) {
      std::string text(message->as_string());
      if (text.size() > 300) text = text.substr(0, 300) + "...";
      return core::ToValidUtf8(text);
    }
  }
  return {};
}

std::string Status(const http::ClientResponse& response) {
  const std::string message = GithubMessage(response);
  return "HTTP " + std::to_string(response.status) + (message.empty() ? "" : ": " + message);
}

std::string RunsToJson(const std::vector<WorkflowRun>& runs) {
  boost::json::array items;
  for (const WorkflowRun& run : runs) {
    items.push_back(boost::json::object{{"id", run.id},
                                        {"head_branch", run.head_branch},
                                        {"head_sha", run.head_sha},
                                        {"event", run.event},
                                        {"created_at", core::FormatRfc3339(run.created_at)},
                                        {"updated_at", core::FormatRfc3339(run.updated_at)}});
  }
  return boost::json::serialize(boost::json::object{{"workflow_runs", std::move(items)}});
}

std::string ArtifactsToJson(const std::vector<Artifact>& artifacts) {
  boost::json::array items;
  for (const Artifact& a : artifacts) {
    boost::json::object item{{"id", a.id},
                             {"name", a.name},
                             {"size_in_bytes", a.size_in_bytes},
                             {"expired", a.expired},
                             {"created_at", core::FormatRfc3339(a.created_at)},
                             {"workflow_run", boost::json::object{{"id", a.run_id},
                                                                  {"head_branch", a.head_branch},
                                                                  {"head_sha", a.head_sha}}}};
    if (a.digest) {
      item["digest"] = *a.digest;
    } else {
      item["digest"] = nullptr;
    }
    items.push_back(std::move(item));
  }
  return boost::json::serialize(boost::json::object{{"artifacts", std::move(items)}});
}

}  // namespace

core::Result<std::vector<WorkflowRun>> ParseRuns(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc) return core::Unexpected(doc.error());
  const json::Field root(*doc);
  auto runs = root.Required("workflow_runs");
  if (!runs) return core::Unexpected(runs.error());
  auto elements = runs->Elements();
  if (!elements) return core::Unexpected(elements.error());
  std::vector<WorkflowRun> out;
  out.reserve(elements->size());
  for (const json::Field& item : *elements) {
    WorkflowRun run;
    auto id = item.Required<std::int64_t>("id");
    if (!id) return core::Unexpected(id.error());
    run.id = *id;
    // A run of a deleted branch or a fork may have null here.
    auto branch = item.Optional<std::string>("head_branch");
    auto sha = item.Optional<std::string>("head_sha");
    auto event = item.Optional<std::string>("event");
    if (!branch) return core::Unexpected(branch.error());
    if (!sha) return core::Unexpected(sha.error());
    if (!event) return core::Unexpected(event.error());
    run.head_branch = branch->value_or("");
    run.head_sha = sha->value_or("");
    run.event = event->value_or("");
    auto created = Time(item, "created_at");
    if (!created) return core::Unexpected(created.error());
    run.created_at = *created;
    auto updated = Time(item, "updated_at");
    if (!updated) return core::Unexpected(updated.error());
    run.updated_at = *updated;
    out.push_back(std::move(run));
  }
  return out;
}

core::Result<std::vector<Artifact>> ParseArtifacts(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc) return core::Unexpected(doc.error());
  const json::Field root(*doc);
  auto list = root.Required("artifacts");
  if (!list) return core::Unexpected(list.error());
  auto elements = list->Elements();
  if (!elements) return core::Unexpected(elements.error());
  std::vector<Artifact> out;
  out.reserve(elements->size());
  for (const json::Field& item : *elements) {
    Artifact a;
    auto id = item.Required<std::int64_t>("id");
    auto name = item.Required<std::string>("name");
    auto size = item.Required<std::int64_t>("size_in_bytes");
    auto expired = item.Required<bool>("expired");
    auto digest = item.Optional<std::string>("digest");
    auto created = Time(item, "created_at");
    for (const core::Error* e :
         {id ? nullptr : &id.error(), name ? nullptr : &name.error(),
          size ? nullptr : &size.error(), expired ? nullptr : &expired.error(),
          digest ? nullptr : &digest.error(), created ? nullptr : &created.error()}) {
      if (e) return core::Unexpected(*e);
    }
    if (*size < 0) return core::Unexpected(item.Problem("size_in_bytes: negative"));
    a.id = *id;
    a.name = std::move(*name);
    a.size_in_bytes = static_cast<std::uint64_t>(*size);
    a.expired = *expired;
    a.digest = std::move(*digest);
    a.created_at = *created;
    // workflow_run is documented as nullable (an artifact of a deleted run).
    auto run = item.Optional("workflow_run");
    if (!run) return core::Unexpected(run.error());
    if (*run) {
      auto run_id = (*run)->Optional<std::int64_t>("id");
      auto branch = (*run)->Optional<std::string>("head_branch");
      auto sha = (*run)->Optional<std::string>("head_sha");
      if (!run_id) return core::Unexpected(run_id.error());
      if (!branch) return core::Unexpected(branch.error());
      if (!sha) return core::Unexpected(sha.error());
      a.run_id = run_id->value_or(0);
      a.head_branch = branch->value_or("");
      a.head_sha = sha->value_or("");
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<std::string> NextLink(std::string_view header) {
  // <url>; rel="next", <url>; rel="last"  (RFC 8288; rel may list several
  // space-separated relations and be unquoted).
  while (!header.empty()) {
    const std::size_t open = header.find('<');
    if (open == std::string_view::npos) return std::nullopt;
    const std::size_t close = header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view url = header.substr(open + 1, close - open - 1);
    std::size_t end = header.find('<', close);
    const std::string_view params = header.substr(
        close + 1, end == std::string_view::npos ? std::string_view::npos : end - close - 1);
    const std::string lower = Lower(params);
    const std::size_t rel = lower.find("rel=");
    if (rel != std::string::npos) {
      std::string_view value = std::string_view(lower).substr(rel + 4);
      if (!value.empty() && value.front() == '"') {
        value.remove_prefix(1);
        value = value.substr(0, value.find('"'));
      } else {
        value = value.substr(0, value.find_first_of(";,"));
      }
      std::size_t start = 0;
      while (start <= value.size()) {
        const std::size_t space = value.find(' ', start);
        const std::string_view word = value.substr(start, space - start);
        if (word == "next") return std::string(url);
        if (space == std::string_view::npos) break;
        start = space + 1;
      }
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end);
  }
  return std::nullopt;
}

Refusal ClassifyRefusal(const http::ClientResponse& response, std::string_view what,
                        std::chrono::system_clock::time_point now, int secondary_waits) {
  Refusal out;
  const int status = response.status;
  const std::string message = GithubMessage(response);
  const auto header = [&](std::string_view name) {
    auto value = response.Find(name);
    return value ? std::string(*value) : std::string();
  };
  if (status == 403 || status == 429) {
    const std::string remaining = header("x-ratelimit-remaining");
    const std::string retry_after = header("retry-after");
    if (remaining == "0" && retry_after.empty()) {
      out.kind = Refusal::Kind::kRateLimit;
      // x-ratelimit-reset is the window's end in epoch seconds; one second
      // more so the request lands in the new window.
      std::int64_t reset = 0;
      try {
        reset = std::stoll(header("x-ratelimit-reset"));
      } catch (const std::exception&) {
        reset = 0;
      }
      const auto until = std::chrono::system_clock::time_point(std::chrono::seconds(reset + 1));
      out.wait = reset > 0 && until > now ? std::chrono::duration_cast<core::Duration>(until - now)
                                          : core::Duration(kSecondaryWait);
      return out;
    }
    if (!retry_after.empty()) {
      auto wait = http::ParseRetryAfter(retry_after, now);
      out.kind = Refusal::Kind::kRateLimit;
      out.wait =
          wait ? std::chrono::duration_cast<core::Duration>(*wait) : core::Duration(kSecondaryWait);
      return out;
    }
    if (status == 429 || Lower(message).find("secondary rate limit") != std::string::npos) {
      out.kind = Refusal::Kind::kRateLimit;
      out.wait = core::Duration(kSecondaryWait) * (1 << std::min(secondary_waits, 4));
      out.doubles = true;
      return out;
    }
  }
  out.kind = Refusal::Kind::kFailure;
  out.error.kind = core::ErrorKind::kUpstream;
  const std::string where = "GitHub " + std::string(what) + ": " + Status(response);
  switch (status) {
    case 401:
      out.error.message = where + " (the token was refused: check `token`)";
      break;
    case 403:
      out.error.message = where +
                          " (the token may not read this repository's Actions: a fine-grained "
                          "token needs 'Actions: read', a classic one 'repo')";
      break;
    case 404:
      out.error.message = where +
                          " (check repo and workflow; a private repository also answers 404 to "
                          "a token without access to it)";
      break;
    case 410:
      out.error.message = where + " (expired or removed for good)";
      break;
    default:
      out.error.message = where;
      out.error.retryable = status >= 500 || status == 408;
      break;
  }
  return out;
}

ListingCache ListingCache::FromJson(std::string_view text) {
  ListingCache out;
  auto doc = json::Parse(text);
  if (!doc || !doc->is_object()) return out;
  for (const auto& [url, value] : doc->as_object()) {
    if (!value.is_object()) continue;
    const auto& o = value.as_object();
    const auto* etag = o.if_contains("etag");
    const auto* body = o.if_contains("body");
    if (!etag || !etag->is_string() || !body || !body->is_string()) continue;
    Entry entry{std::string(etag->as_string()), std::string(body->as_string()), std::nullopt};
    if (const auto* next = o.if_contains("next"); next && next->is_string()) {
      entry.next = std::string(next->as_string());
    }
    out.entries_.emplace(std::string(url), std::move(entry));
  }
  return out;
}

std::string ListingCache::ToJson() const {
  boost::json::object out;
  for (const auto& [url, entry] : entries_) {
    boost::json::object o{{"etag", entry.etag}, {"body", entry.body}};
    if (entry.next) o["next"] = *entry.next;
    out[url] = std::move(o);
  }
  return boost::json::serialize(out);
}

const ListingCache::Entry* ListingCache::Find(const std::string& url) const {
  auto it = entries_.find(url);
  return it == entries_.end() ? nullptr : &it->second;
}

void ListingCache::Put(const std::string& url, Entry entry) { entries_[url] = std::move(entry); }

void ListingCache::MarkUsed(const std::string& url) { used_[url] = true; }

void ListingCache::KeepOnlyUsed() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = used_.count(it->first) ? std::next(it) : entries_.erase(it);
  }
  used_.clear();
}

GithubApi::GithubApi(scheduler::JobContext& ctx, const GithubArtifactSettings& settings,
                     ListingCache& cache)
    : ctx_(ctx), settings_(settings), cache_(cache) {}

core::Result<http::ClientResponse> GithubApi::Get(const std::string& url, std::string_view what,
                                                  const std::string* etag, int max_redirects) {
  int secondary_waits = 0;
  for (int waits = 0;; ++waits) {
    if (ctx_.cancel().Cancelled()) return core::Unexpected(ctx_.CancelledError(what));
    http::ClientRequest request;
    request.url = url;
    request.headers = {{"Authorization", "Bearer " + settings_.token},
                       {"Accept", "application/vnd.github+json"},
                       {"X-GitHub-Api-Version", std::string(kApiVersion)}};
    if (etag) request.headers.push_back({"If-None-Match", *etag});
    http::CallOptions options = ctx_.CallOptions();
    options.max_redirects = max_redirects;
    options.ca_file = settings_.ca_file;
    auto response = ctx_.http().Send(std::move(request), options);
    ++requests_;
    if (!response) {
      if (response.error().kind == core::ErrorKind::kCancelled) {
        return core::Unexpected(ctx_.CancelledError(what));
      }
      core::Error error = response.error();
      error.message = "GitHub " + std::string(what) + ": " + error.message;
      error.retryable = true;
      return core::Unexpected(std::move(error));
    }
    rate_limit_waits_ += response->rate_limit_waits;
    const int status = response->status;
    if ((status >= 200 && status < 300) || status == 304 || (status >= 300 && status < 400)) {
      if (status == 304) ++not_modified_;
      return std::move(*response);
    }
    Refusal refusal =
        ClassifyRefusal(*response, what, std::chrono::system_clock::now(), secondary_waits);
    if (refusal.kind == Refusal::Kind::kFailure) return core::Unexpected(std::move(refusal.error));
    if (refusal.doubles) ++secondary_waits;
    const core::TimePoint wake = ctx_.Now() + refusal.wait;
    if (waits >= kMaxRateLimitWaits || wake > ctx_.cancel().deadline()) {
      return core::Unexpected(core::Error{
          core::ErrorKind::kUpstream,
          "GitHub " + std::string(what) + ": rate limited (" + Status(*response) +
              "); the limit lifts in " +
              core::FormatDuration(std::chrono::ceil<std::chrono::seconds>(refusal.wait)) +
              (waits >= kMaxRateLimitWaits ? ", after " + std::to_string(waits) + " waits already"
                                           : ", after the run's deadline"),
          true});
    }
    ++rate_limit_waits_;
    ctx_.Warn("GitHub rate limit (" + Status(*response) + "): waiting " +
              core::FormatDuration(std::chrono::ceil<std::chrono::seconds>(refusal.wait)));
    if (ctx_.cancel().WaitFor(refusal.wait)) return core::Unexpected(ctx_.CancelledError(what));
  }
}

core::Result<std::string> GithubApi::Listing(
    const std::string& url, std::string_view what, std::optional<std::string>& next,
    const std::function<core::Result<std::string>(std::string_view)>& compact) {
  const ListingCache::Entry* cached = cache_.Find(url);
  auto response = Get(url, what, cached ? &cached->etag : nullptr, 0);
  if (!response) return core::Unexpected(response.error());
  cache_.MarkUsed(url);
  if (response->status == 304 && cached) {
    next = cached->next;
    return cached->body;
  }
  if (response->status != 200) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kUpstream,
                    "GitHub " + std::string(what) + ": unexpected " + Status(*response), true});
  }
  auto body = compact(response->body);
  if (!body) return core::Unexpected(Unexpected(what, body.error()));
  if (auto link = response->Find("link")) {
    next = NextLink(*link);
  } else {
    next.reset();
  }
  if (auto etag = response->Find("etag"); etag && !etag->empty()) {
    cache_.Put(url, ListingCache::Entry{std::string(*etag), *body, next});
  }
  return body;
}

core::Result<void> GithubApi::ForEachRunPage(
    const std::function<bool(const Page<WorkflowRun>&)>& visit) {
  const std::string repo = settings_.api_url + "/repos/" + settings_.repo;
  std::string url = repo + "/actions/";
  if (!settings_.workflow.empty()) {
    url += "workflows/" + http::PercentEncode(settings_.workflow) + "/";
  }
  url += "runs?status=success&per_page=100";
  if (!settings_.branch.empty()) url += "&branch=" + http::PercentEncode(settings_.branch);
  if (!settings_.event.empty()) url += "&event=" + http::PercentEncode(settings_.event);
  std::optional<std::string> next = url;
  for (int page = 1; next; ++page) {
    const std::string what = "workflow runs, page " + std::to_string(page);
    std::string this_url = std::move(*next);
    next.reset();
    auto body =
        Listing(this_url, what, next, [](std::string_view raw) -> core::Result<std::string> {
          auto runs = ParseRuns(raw);
          if (!runs) return core::Unexpected(runs.error());
          return RunsToJson(*runs);
        });
    if (!body) return core::Unexpected(body.error());
    auto runs = ParseRuns(*body);
    if (!runs) return core::Unexpected(Unexpected(what, runs.error()));
    Page<WorkflowRun> page_items{std::move(*runs), next};
    if (!visit(page_items)) break;
  }
  return {};
}

core::Result<std::vector<Artifact>> GithubApi::RunArtifacts(std::int64_t run_id) {
  std::optional<std::string> next = settings_.api_url + "/repos/" + settings_.repo +
                                    "/actions/runs/" + std::to_string(run_id) +
                                    "/artifacts?per_page=100";
  std::vector<Artifact> out;
  const std::string what = "artifacts of run " + std::to_string(run_id);
  while (next) {
    std::string this_url = std::move(*next);
    next.reset();
    auto body =
        Listing(this_url, what, next, [](std::string_view raw) -> core::Result<std::string> {
          auto artifacts = ParseArtifacts(raw);
          if (!artifacts) return core::Unexpected(artifacts.error());
          return ArtifactsToJson(*artifacts);
        });
    if (!body) return core::Unexpected(body.error());
    auto artifacts = ParseArtifacts(*body);
    if (!artifacts) return core::Unexpected(Unexpected(what, artifacts.error()));
    for (Artifact& a : *artifacts) {
      if (a.run_id == 0) a.run_id = run_id;
      out.push_back(std::move(a));
    }
  }
  return out;
}

core::Result<std::string> GithubApi::DownloadUrl(std::int64_t artifact_id) {
  const std::string what = "download of artifact " + std::to_string(artifact_id);
  auto response = Get(settings_.api_url + "/repos/" + settings_.repo + "/actions/artifacts/" +
                          std::to_string(artifact_id) + "/zip",
                      what, nullptr, 0);
  if (!response) return core::Unexpected(response.error());
  const auto location = response->Find("location");
  if (response->status < 300 || response->status >= 400 || !location || location->empty()) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kUpstream,
        "GitHub " + what + ": expected a redirect to the download, got " + Status(*response),
        true});
  }
  auto base = http::ParseUrl(settings_.api_url);
  if (!base) return core::Unexpected(base.error());
  auto resolved = http::ResolveLocation(*base, *location);
  if (!resolved) return core::Unexpected(resolved.error());
  return resolved->ToString();
}

}  // namespace jobs::github_artifact
