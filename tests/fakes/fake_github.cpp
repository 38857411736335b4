// Design: each server has a pre-routing handler that records the request,
// picks the fault (if any) that applies to it and checks the credentials; the
// fault travels to the handler in a thread_local (cpp-httplib runs a
// request's pre-routing handler, its handler and its post-routing handler on
// one thread). The API's post-routing handler adds the rate-limit headers to
// whatever was answered and records the status.
#include "tests/fakes/fake_github.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

namespace fakes {
namespace {

constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kApiVersion = "2022-11-28";
constexpr const char* kDocs = "https://docs.github.com/rest";
constexpr const char* kRateLimitDocs =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
constexpr std::size_t kNoEntry = static_cast<std::size_t>(-1);
constexpr std::size_t kBlobPiece = std::size_t(256) << 10;

// Set by a pre-routing handler for the request this thread then answers.
thread_local std::optional<FakeGithubFault> t_fault;
thread_local std::size_t t_entry = kNoEntry;  // index in the request log
thread_local bool t_closed = false;           // the connection was reset

std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2024-11-04T02:04:12Z".
std::string FormatUtc(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

// "Tue, 05 Nov 2024 10:22:07 GMT", as Azure writes times in its errors.
std::string FormatHttpDate(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char out[40];
  std::strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return out;
}

std::optional<std::int64_t> ParseUtc(const std::string& text) {
  std::tm tm{};
  int used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
      used != int(text.size())) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string Hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

// OpenSSL directly rather than lib/crypto: the fake's digests are what the
// job's own hashing is checked against.
std::string Sha256(std::string_view data, bool hex) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("fake github: SHA-256 failed");
  }
  if (hex) return Hex(digest, size);
  std::string b64(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), digest, int(size));
  b64.resize(std::size_t(n));
  return b64;
}

std::string Sha256FileHex(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::invalid_argument("fake github: cannot read " + file.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("fake github: SHA-256 failed");
  }
  std::vector<char> piece(std::size_t(1) << 20);
  while (in) {
    in.read(piece.data(), std::streamsize(piece.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), piece.data(), std::size_t(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &size);
  return Hex(digest, size);
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kDigits[u >> 4];
      out += kDigits[u & 15];
    }
  }
  return out;
}

std::string Lower(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool EndsWith(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

std::string DefaultMessage(int status) {
  switch (status) {
    case 401:
      return "Bad credentials";
    case 403:
      return "Resource not accessible by integration";
    case 404:
      return "Not Found";
    case 410:
      return "Artifact has expired";
    case 422:
      return "Validation Failed";
    default:
      return status >= 500 ? "Server Error" : "Injected failure";
  }
}

// The body goes out as the fault of this request (if any) says: whole, cut
// off after half of it, or with one byte flipped.
void SendBody(httplib::Response& res, int status, std::string body, const char* type) {
  res.status = status;
  const auto kind = t_fault ? t_fault->kind : FakeGithubFaultKind::kStatus;
  if (kind == FakeGithubFaultKind::kCorrupt && !body.empty()) {
    body[body.size() / 2] = char(body[body.size() / 2] ^ 0xFF);
  }
  if (kind == FakeGithubFaultKind::kTruncate) {
    auto shared = std::make_shared<std::string>(std::move(body));
    res.set_content_provider(shared->size(), type,
                             [shared](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset == 0) sink.write(shared->data(), shared->size() / 2);
                               return false;  // closes the connection mid-body
                             });
    return;
  }
  res.set_content(std::move(body), type);
}

void Message(httplib::Response& res, int status, const std::string& message,
             const std::string& docs = kDocs) {
  SendBody(
      res, status,
      boost::json::serialize(boost::json::object{
          {"message", message}, {"documentation_url", docs}, {"status", std::to_string(status)}}),
      kJson);
}

// Azure Blob Storage's error document.
void AzureError(httplib::Response& res, int status, const std::string& code,
                const std::string& message, const std::string& detail = "") {
  std::string body =
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code +
      "</Code><Message>" + message +
      "\nRequestId:6f1e2d3c-701e-0042-1c2b-3a4b5c000000\nTime:" + FormatUtc(NowSeconds()) +
      "</Message>";
  if (!detail.empty())
    body += "<AuthenticationErrorDetail>" + detail + "</AuthenticationErrorDetail>";
  body += "</Error>";
  res.set_header("x-ms-error-code", code);
  res.set_header("x-ms-request-id", "6f1e2d3c-701e-0042-1c2b-3a4b5c000000");
  SendBody(res, status, std::move(body), "application/xml");
}

// cpp-httplib gives handlers no socket: the connection is found by its
// ports, and shut down with a zero linger so that httplib's close resets it.
void ResetConnection(const httplib::Request& req) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_storage local{}, peer{};
    socklen_t size = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) != 0) continue;
    size = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) != 0) continue;
    if (local.ss_family != AF_INET) continue;
    const auto* l = reinterpret_cast<const sockaddr_in*>(&local);
    const auto* p = reinterpret_cast<const sockaddr_in*>(&peer);
    if (ntohs(l->sin_port) != req.local_port || ntohs(p->sin_port) != req.remote_port) continue;
    linger zero{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &zero, sizeof zero);
    ::shutdown(fd, SHUT_RDWR);
    t_closed = true;
    return;
  }
}

std::string Text(const boost::json::value& v) {
  return v.is_null() ? std::string() : std::string(v.as_string());
}

FakeWorkflowRun RunFromJson(const boost::json::object& o) {
  FakeWorkflowRun run;
  for (const auto& [key, v] : o) {
    if (key == "id") {
      run.id = v.to_number<std::int64_t>();
    } else if (key == "name") {
      run.name = Text(v);
    } else if (key == "workflow_file") {
      run.workflow_file = Text(v);
    } else if (key == "workflow_id") {
      run.workflow_id = v.to_number<std::int64_t>();
    } else if (key == "head_branch") {
      run.head_branch = Text(v);
    } else if (key == "head_sha") {
      run.head_sha = Text(v);
    } else if (key == "event") {
      run.event = Text(v);
    } else if (key == "status") {
      run.status = Text(v);
    } else if (key == "conclusion") {
      run.conclusion = Text(v);
    } else if (key == "run_number") {
      run.run_number = v.to_number<std::int64_t>();
    } else if (key == "created_at") {
      run.created_at = Text(v);
    } else if (key == "updated_at") {
      run.updated_at = Text(v);
    } else {
      throw std::invalid_argument("fake github: unknown run field " + std::string(key));
    }
  }
  return run;
}

FakeArtifact ArtifactFromJson(const boost::json::object& o, const std::filesystem::path& base) {
  FakeArtifact artifact;
  for (const auto& [key, v] : o) {
    if (key == "id") {
      artifact.id = v.to_number<std::int64_t>();
    } else if (key == "name") {
      artifact.name = Text(v);
    } else if (key == "run_id") {
      artifact.run_id = v.to_number<std::int64_t>();
    } else if (key == "file") {
      artifact.file = Text(v);
      if (artifact.file.is_relative() && !base.empty()) artifact.file = base / artifact.file;
    } else if (key == "created_at") {
      artifact.created_at = Text(v);
    } else if (key == "expired") {
      artifact.expired = v.as_bool();
    } else if (key == "digest") {
      artifact.digest = v.as_bool();
    } else {
      throw std::invalid_argument("fake github: unknown artifact field " + std::string(key));
    }
  }
  return artifact;
}

FakeGithubFault FaultFromJson(const boost::json::object& o) {
  FakeGithubFault f;
  bool target_given = false;
  for (const auto& [key, v] : o) {
    if (key == "kind") {
      const std::string kind = Text(v);
      using K = FakeGithubFaultKind;
      static const std::map<std::string, K> kKinds = {
          {"status", K::kStatus},
          {"primary_rate_limit", K::kPrimaryRateLimit},
          {"secondary_rate_limit", K::kSecondaryRateLimit},
          {"truncate", K::kTruncate},
          {"corrupt", K::kCorrupt},
          {"expired_url", K::kExpiredUrl},
          {"reset", K::kReset},
          {"slow", K::kSlow}};
      const auto it = kKinds.find(kind);
      if (it == kKinds.end()) throw std::invalid_argument("fake github: unknown fault " + kind);
      f.kind = it->second;
    } else if (key == "target") {
      const std::string target = Text(v);
      target_given = true;
      if (target == "api") {
        f.target = FakeGithubTarget::kApi;
      } else if (target == "blob") {
        f.target = FakeGithubTarget::kBlob;
      } else if (target == "path") {
        f.target = FakeGithubTarget::kPath;
      } else {
        throw std::invalid_argument("fake github: target is api, blob or path, not " + target);
      }
    } else if (key == "path") {
      f.path = Text(v);
      if (!target_given) f.target = FakeGithubTarget::kPath;
    } else if (key == "nth") {
      f.nth = v.to_number<int>();
    } else if (key == "times") {
      f.times = v.to_number<int>();
    } else if (key == "status") {
      f.status = v.to_number<int>();
    } else if (key == "message") {
      f.message = Text(v);
    } else if (key == "seconds") {
      f.seconds = v.to_number<int>();
    } else if (key == "delay_ms") {
      f.delay_ms = v.to_number<int>();
    } else {
      throw std::invalid_argument("fake github: unknown fault field " + std::string(key));
    }
  }
  return f;
}

// JSON parse and shape errors (Boost throws system_error, std::invalid_argument
// or std::out_of_range) as one kind.
template <typename F>
auto WithJson(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("fake github: bad JSON: ") + e.what());
  }
}

struct Paging {
  int per_page = 30;
  int page = 1;
};

Paging ReadPaging(const httplib::Request& req) {
  Paging p;
  try {
    if (req.has_param("per_page")) p.per_page = std::stoi(req.get_param_value("per_page"));
    if (req.has_param("page")) p.page = std::stoi(req.get_param_value("page"));
  } catch (const std::exception&) {
  }
  if (p.per_page < 1) p.per_page = 30;
  p.per_page = std::min(p.per_page, 100);
  p.page = std::max(p.page, 1);
  return p;
}

// GitHub's link header: the request's query as it came with page=N at the
// end, on the /repositories/{id}/... form of the path.
std::string LinkHeader(const std::string& base, const std::string& target, std::size_t total,
                       const Paging& p) {
  const std::size_t last =
      std::max<std::size_t>(1, (total + std::size_t(p.per_page) - 1) / std::size_t(p.per_page));
  const std::size_t page = std::size_t(p.page);
  if (last <= 1 && page == 1) return "";
  const std::size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  std::string query;
  if (q != std::string::npos) {
    std::string raw = target.substr(q + 1);
    std::size_t start = 0;
    while (start <= raw.size()) {
      std::size_t end = raw.find('&', start);
      if (end == std::string::npos) end = raw.size();
      const std::string item = raw.substr(start, end - start);
      if (!item.empty() && item.rfind("page=", 0) != 0) query += item + "&";
      start = end + 1;
    }
  }
  auto url = [&](std::size_t n) { return base + path + "?" + query + "page=" + std::to_string(n); };
  std::string out;
  auto add = [&](std::size_t n, const char* rel) {
    if (!out.empty()) out += ", ";
    out += "<" + url(n) + ">; rel=\"" + rel + "\"";
  };
  if (page > 1) add(std::min(page - 1, last), "prev");
  if (page < last) {
    add(page + 1, "next");
    add(last, "last");
  }
  if (page > 1) add(1, "first");
  return out;
}

template <typename T>
std::vector<T> Slice(const std::vector<T>& all, const Paging& p) {
  const std::size_t first = std::size_t(p.page - 1) * std::size_t(p.per_page);
  if (first >= all.size()) return {};
  const std::size_t last = std::min(all.size(), first + std::size_t(p.per_page));
  return std::vector<T>(all.begin() + std::ptrdiff_t(first), all.begin() + std::ptrdiff_t(last));
}

bool IsRunStatus(const std::string& value) {
  return value == "completed" || value == "in_progress" || value == "queued" ||
         value == "requested" || value == "waiting" || value == "pending";
}

}  // namespace

FakeGithub::FakeGithub(Options options) : options_(std::move(options)) {
  owner_repo_lower_ = Lower(options_.repo);
  std::random_device random;
  for (int i = 0; i < 4; ++i) secret_ += std::to_string(random());
  const bool tls = !options_.cert_file.empty() && !options_.key_file.empty();
  api_ = tls ? std::make_unique<LoopbackServer>(options_.cert_file, options_.key_file)
             : std::make_unique<LoopbackServer>();
  blob_ = tls ? std::make_unique<LoopbackServer>(options_.cert_file, options_.key_file)
              : std::make_unique<LoopbackServer>();
  // The control endpoints first: the API's handler takes every other path.
  InstallControl();
  InstallApi();
  InstallBlob();
}

FakeGithub::~FakeGithub() { Stop(); }

void FakeGithub::Start() {
  api_->Start();
  blob_->Start();
}

void FakeGithub::Stop() {
  api_->Stop();
  blob_->Stop();
}

void FakeGithub::AddRun(FakeWorkflowRun run) {
  if (run.created_at.empty()) run.created_at = FormatUtc(NowSeconds());
  const auto created = ParseUtc(run.created_at);
  if (!created) throw std::invalid_argument("fake github: bad created_at " + run.created_at);
  if (run.updated_at.empty()) run.updated_at = FormatUtc(*created + 15 * 60);
  if (!ParseUtc(run.updated_at)) {
    throw std::invalid_argument("fake github: bad updated_at " + run.updated_at);
  }
  std::lock_guard lock(mutex_);
  if (run.run_number == 0) run.run_number = std::int64_t(runs_.size()) + 1;
  runs_[run.id] = std::move(run);
}

void FakeGithub::AddArtifact(FakeArtifact artifact) {
  Artifact a;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(artifact.file, ec)) {
    throw std::invalid_argument("fake github: artifact file " + artifact.file.string() +
                                " is not a file");
  }
  a.size = std::filesystem::file_size(artifact.file);
  if (artifact.digest) a.digest = "sha256:" + Sha256FileHex(artifact.file);
  if (!artifact.created_at.empty() && !ParseUtc(artifact.created_at)) {
    throw std::invalid_argument("fake github: bad created_at " + artifact.created_at);
  }
  std::lock_guard lock(mutex_);
  const auto run = runs_.find(artifact.run_id);
  if (run == runs_.end()) {
    throw std::invalid_argument("fake github: artifact " + std::to_string(artifact.id) +
                                " of unknown run " + std::to_string(artifact.run_id));
  }
  if (artifact.created_at.empty()) artifact.created_at = run->second.updated_at;
  a.spec = std::move(artifact);
  artifacts_[a.spec.id] = std::move(a);
}

void FakeGithub::LoadSpec(std::string_view json, const std::filesystem::path& base) {
  const boost::json::value spec = WithJson([&] { return boost::json::parse(json); });
  WithJson([&] {
    for (const auto& [key, v] : spec.as_object()) {
      if (key == "runs") {
        for (const auto& run : v.as_array()) AddRun(RunFromJson(run.as_object()));
      } else if (key == "artifacts") {
        for (const auto& a : v.as_array()) AddArtifact(ArtifactFromJson(a.as_object(), base));
      } else {
        throw std::invalid_argument("fake github: unknown spec field " + std::string(key));
      }
    }
    return 0;
  });
}

void FakeGithub::AddFault(FakeGithubFault fault) {
  std::lock_guard lock(mutex_);
  faults_.push_back({std::move(fault), 0, 0});
}

int FakeGithub::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

int FakeGithub::blob_requests() const {
  std::lock_guard lock(mutex_);
  return blob_requests_;
}

int FakeGithub::not_modified() const {
  std::lock_guard lock(mutex_);
  return not_modified_;
}

std::vector<std::string> FakeGithub::request_log() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& r : log_) out.push_back(r.host + " " + r.method + " " + r.target);
  return out;
}

std::vector<FakeGithubRequest> FakeGithub::request_details() const {
  std::lock_guard lock(mutex_);
  return log_;
}

bool FakeGithub::token_reached_blob_host() const {
  std::lock_guard lock(mutex_);
  return token_reached_blob_;
}

bool FakeGithub::every_request_had_api_version_and_user_agent() const {
  std::lock_guard lock(mutex_);
  return std::all_of(log_.begin(), log_.end(), [](const FakeGithubRequest& r) {
    return r.host != "api" || (r.api_version == kApiVersion && !r.user_agent.empty());
  });
}

std::string FakeGithub::LogJson() const {
  std::lock_guard lock(mutex_);
  boost::json::array entries;
  bool versions = true;
  for (const auto& r : log_) {
    if (r.host == "api" && (r.api_version != kApiVersion || r.user_agent.empty())) versions = false;
    entries.push_back(boost::json::object{{"host", r.host},
                                          {"method", r.method},
                                          {"target", r.target},
                                          {"status", r.status},
                                          {"authorization", r.authorization},
                                          {"api_version", r.api_version},
                                          {"user_agent", r.user_agent},
                                          {"accept", r.accept},
                                          {"if_none_match", r.if_none_match}});
  }
  return boost::json::serialize(
      boost::json::object{{"requests", requests_},
                          {"blob_requests", blob_requests_},
                          {"not_modified", not_modified_},
                          {"token_reached_blob_host", token_reached_blob_},
                          {"every_request_had_api_version_and_user_agent", versions},
                          {"log", std::move(entries)}});
}

// Called with mutex_ held.
std::optional<FakeGithubFault> FakeGithub::TakeFault(bool api, const std::string& path) {
  std::optional<FakeGithubFault> taken;
  for (ArmedFault& armed : faults_) {
    const FakeGithubFault& f = armed.fault;
    const bool api_only = f.kind == FakeGithubFaultKind::kPrimaryRateLimit ||
                          f.kind == FakeGithubFaultKind::kSecondaryRateLimit ||
                          f.kind == FakeGithubFaultKind::kExpiredUrl;
    if (api_only && !api) continue;
    if (f.kind == FakeGithubFaultKind::kExpiredUrl && !EndsWith(path, "/zip")) continue;
    const bool target = f.target == FakeGithubTarget::kApi ? api
                        : f.target == FakeGithubTarget::kBlob
                            ? !api
                            : path.find(f.path) != std::string::npos;
    if (!target) continue;
    ++armed.seen;
    // A fault that is due while another one fires waits for the next request.
    if (!taken && armed.seen >= f.nth && armed.fired < f.times) {
      ++armed.fired;
      taken = f;
    }
  }
  std::erase_if(faults_, [](const ArmedFault& a) { return a.fired >= a.fault.times; });
  return taken;
}

// Called with mutex_ held.
std::size_t FakeGithub::Record(const char* host, const httplib::Request& req) {
  FakeGithubRequest r;
  r.host = host;
  r.method = req.method;
  r.target = req.target;
  r.authorization = req.has_header("Authorization");
  r.api_version = req.get_header_value("X-GitHub-Api-Version");
  r.user_agent = req.get_header_value("User-Agent");
  r.accept = req.get_header_value("Accept");
  r.if_none_match = req.get_header_value("If-None-Match");
  log_.push_back(std::move(r));
  return log_.size() - 1;
}

void FakeGithub::InstallApi() {
  httplib::Server& http = api_->http();
  http.set_keep_alive_max_count(1000);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_fault.reset();
    t_entry = kNoEntry;
    t_closed = false;
    if (req.path.rfind("/_fake/", 0) == 0) return httplib::Server::HandlerResponse::Unhandled;
    std::optional<Refusal> refusal;
    {
      std::lock_guard lock(mutex_);
      ++requests_;
      t_entry = Record("api", req);
      const auto now = std::chrono::system_clock::now();
      const std::int64_t now_s = NowSeconds();
      if (now_s >= window_reset_) {
        window_reset_ = now_s + 3600;
        used_ = 0;
      }
      if (refusal_ && now >= refusal_->until) refusal_.reset();
      if (!refusal_ && used_ >= options_.rate_limit) {
        refusal_ = Refusal{true, 403, std::chrono::system_clock::from_time_t(window_reset_)};
      }
      // Requests refused by a rate limit in force neither count for faults
      // nor use them up: a fault added after a rate limit falls after it.
      if (!refusal_) t_fault = TakeFault(true, req.path);
      if (!refusal_ && t_fault) {
        const FakeGithubFault& f = *t_fault;
        if (f.kind == FakeGithubFaultKind::kPrimaryRateLimit) {
          refusal_ = Refusal{true, f.status == 429 ? 429 : 403,
                             std::chrono::system_clock::from_time_t(now_s + f.seconds)};
        } else if (f.kind == FakeGithubFaultKind::kSecondaryRateLimit) {
          refusal = Refusal{false, 403, now + std::chrono::seconds(f.seconds)};
          if (f.seconds > 0) refusal_ = refusal;
        }
      }
      if (refusal_) refusal = refusal_;
    }
    if (refusal) t_fault.reset();
    if (refusal && refusal->primary) {
      const std::int64_t reset =
          std::chrono::duration_cast<std::chrono::seconds>(refusal->until.time_since_epoch())
              .count();
      res.set_header("x-ratelimit-limit", std::to_string(options_.rate_limit));
      res.set_header("x-ratelimit-remaining", "0");
      res.set_header("x-ratelimit-used", std::to_string(options_.rate_limit));
      res.set_header("x-ratelimit-reset", std::to_string(reset));
      res.set_header("x-ratelimit-resource", "core");
      Message(res, refusal->status, "API rate limit exceeded for installation ID 55443322.",
              kRateLimitDocs);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (refusal) {
      const auto left = std::chrono::ceil<std::chrono::seconds>(refusal->until -
                                                                std::chrono::system_clock::now());
      if (left.count() > 0) res.set_header("retry-after", std::to_string(left.count()));
      Message(res, 403,
              "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
              "again. If you reach out to GitHub Support for help, please include the request ID "
              "C3A1:2B7E:1A2B3C:1D2E3F:6729E0A1.",
              std::string(kRateLimitDocs) + "#about-secondary-rate-limits");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (t_fault) {
      switch (t_fault->kind) {
        case FakeGithubFaultKind::kStatus: {
          const FakeGithubFault f = *t_fault;
          t_fault.reset();
          Message(res, f.status, f.message.empty() ? DefaultMessage(f.status) : f.message);
          return httplib::Server::HandlerResponse::Handled;
        }
        case FakeGithubFaultKind::kReset:
          ResetConnection(req);
          res.status = 500;
          return httplib::Server::HandlerResponse::Handled;
        case FakeGithubFaultKind::kSlow:
          std::this_thread::sleep_for(std::chrono::milliseconds(t_fault->delay_ms));
          break;
        default:
          break;
      }
    }
    const std::string auth = req.get_header_value("Authorization");
    if (auth != "Bearer " + options_.token && auth != "token " + options_.token) {
      Message(res, 401, "Bad credentials");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    if (t_entry == kNoEntry) return;
    if (res.status == 304) res.headers.erase("Content-Length");
    std::lock_guard lock(mutex_);
    if (t_entry < log_.size()) log_[t_entry].status = t_closed ? 0 : res.status;
    if (!res.has_header("x-ratelimit-remaining")) {
      // A 304 does not count against the limit.
      if (res.status != 304) ++used_;
      res.set_header("x-ratelimit-limit", std::to_string(options_.rate_limit));
      res.set_header("x-ratelimit-remaining",
                     std::to_string(std::max(0, options_.rate_limit - used_)));
      res.set_header("x-ratelimit-used", std::to_string(used_));
      res.set_header("x-ratelimit-reset", std::to_string(window_reset_));
      res.set_header("x-ratelimit-resource", "core");
    }
    res.set_header("x-github-api-version-selected", kApiVersion);
    res.set_header("x-github-media-type", "github.v3; format=json");
    res.set_header("x-github-request-id", "C3A1:2B7E:" + std::to_string(t_entry) + ":1D2E3F");
  });

  http.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
    std::string rest;
    static const std::regex kRepos(R"(/repos/([^/]+)/([^/]+)(/.*)?)");
    static const std::regex kRepositories(R"(/repositories/(\d+)(/.*)?)");
    std::smatch m;
    if (std::regex_match(req.path, m, kRepos) &&
        Lower(m[1].str() + "/" + m[2].str()) == owner_repo_lower_) {
      rest = m[3];
    } else if (std::regex_match(req.path, m, kRepositories) &&
               m[1].str() == std::to_string(options_.repository_id)) {
      rest = m[2];
    } else {
      Message(res, 404, "Not Found");
      return;
    }
    const std::string api = api_url();
    const std::string repo_url = api + "/repos/" + options_.repo;
    const std::string owner = options_.repo.substr(0, options_.repo.find('/'));
    const std::string name = options_.repo.substr(options_.repo.find('/') + 1);
    const std::string link_base = api + "/repositories/" + std::to_string(options_.repository_id);

    // A 200 with its ETag, or a 304 when the client holds that ETag already.
    auto ok = [&](const boost::json::value& json, const std::string& link = "") {
      std::string body = boost::json::serialize(json);
      const std::string etag = "W/\"" + Sha256(body, true) + "\"";
      res.set_header("ETag", etag);
      res.set_header("Cache-Control", "private, max-age=60, s-maxage=60");
      res.set_header("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP");
      if (!link.empty()) res.set_header("Link", link);
      const std::string inm = req.get_header_value("If-None-Match");
      if (inm == "*" || inm.find(etag) != std::string::npos) {
        res.status = 304;
        std::lock_guard lock(mutex_);
        ++not_modified_;
        return;
      }
      SendBody(res, 200, std::move(body), kJson);
    };
    auto repository = [&] {
      return boost::json::object{
          {"id", options_.repository_id},
          {"node_id", "R_kgDOKpQ2Tg"},
          {"name", name},
          {"full_name", options_.repo},
          {"private", true},
          {"owner", boost::json::object{{"login", owner},
                                        {"id", 90112233},
                                        {"node_id", "O_kgDOBV8xmQ"},
                                        {"type", "Organization"},
                                        {"site_admin", false},
                                        {"url", api + "/users/" + owner},
                                        {"html_url", "https://github.com/" + owner}}},
          {"html_url", "https://github.com/" + options_.repo},
          {"url", repo_url},
          {"fork", false}};
    };
    auto run_json = [&](const FakeWorkflowRun& r) {
      const std::string id = std::to_string(r.id);
      const std::string run_url = repo_url + "/actions/runs/" + id;
      const boost::json::object bot{{"login", "github-actions[bot]"},
                                    {"id", 41898282},
                                    {"node_id", "MDM6Qm90NDE4OTgyODI="},
                                    {"type", "Bot"},
                                    {"site_admin", false}};
      boost::json::value conclusion = nullptr;
      if (!r.conclusion.empty()) conclusion = r.conclusion.c_str();
      return boost::json::object{
          {"id", r.id},
          {"name", r.name},
          {"node_id", "WFR_kwLOKpQ2Ts8" + id},
          {"head_branch", r.head_branch},
          {"head_sha", r.head_sha},
          {"path", ".github/workflows/" + r.workflow_file},
          {"display_title", r.name},
          {"run_number", r.run_number},
          {"event", r.event},
          {"status", r.status},
          {"conclusion", conclusion},
          {"workflow_id", r.workflow_id},
          {"check_suite_id", r.id * 2 + 1},
          {"check_suite_node_id", "CS_kwDOKpQ2Ts8" + id},
          {"url", run_url},
          {"html_url", "https://github.com/" + options_.repo + "/actions/runs/" + id},
          {"pull_requests", boost::json::array{}},
          {"created_at", r.created_at},
          {"updated_at", r.updated_at},
          {"actor", bot},
          {"run_attempt", 1},
          {"referenced_workflows", boost::json::array{}},
          {"run_started_at", r.created_at},
          {"triggering_actor", bot},
          {"jobs_url", run_url + "/jobs"},
          {"logs_url", run_url + "/logs"},
          {"check_suite_url", repo_url + "/check-suites/" + std::to_string(r.id * 2 + 1)},
          {"artifacts_url", run_url + "/artifacts"},
          {"cancel_url", run_url + "/cancel"},
          {"rerun_url", run_url + "/rerun"},
          {"previous_attempt_url", nullptr},
          {"workflow_url", repo_url + "/actions/workflows/" + std::to_string(r.workflow_id)},
          {"head_commit",
           boost::json::object{
               {"id", r.head_sha},
               {"tree_id", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
               {"message", "Update the pipeline"},
               {"timestamp", r.created_at},
               {"author", boost::json::object{{"name", "J. Doe"}, {"email", "jdoe@example.org"}}},
               {"committer",
                boost::json::object{{"name", "GitHub"}, {"email", "noreply@github.com"}}}}},
          {"repository", repository()},
          {"head_repository", repository()}};
    };
    // Called with mutex_ held.
    auto artifact_json = [&](const Artifact& a) {
      const FakeArtifact& s = a.spec;
      const std::string url = repo_url + "/actions/artifacts/" + std::to_string(s.id);
      const std::int64_t created = ParseUtc(s.created_at).value_or(0);
      const std::int64_t expires = created + (s.expired ? 86400 : 90 * 86400);
      const auto run = runs_.find(s.run_id);
      const FakeWorkflowRun fallback;
      const FakeWorkflowRun& r = run != runs_.end() ? run->second : fallback;
      boost::json::value digest = nullptr;
      if (!a.digest.empty()) digest = a.digest.c_str();
      return boost::json::object{
          {"id", s.id},
          {"node_id", "MDg6QXJ0aWZhY3Qy" + std::to_string(s.id)},
          {"name", s.name},
          {"size_in_bytes", a.size},
          {"url", url},
          {"archive_download_url", url + "/zip"},
          {"expired", s.expired},
          {"created_at", s.created_at},
          {"expires_at", FormatUtc(expires)},
          {"updated_at", s.expired ? FormatUtc(expires) : s.created_at},
          {"digest", digest},
          {"workflow_run", boost::json::object{{"id", s.run_id},
                                               {"repository_id", options_.repository_id},
                                               {"head_repository_id", options_.repository_id},
                                               {"head_branch", r.head_branch},
                                               {"head_sha", r.head_sha}}}};
    };

    static const std::regex kRuns(R"(/actions/runs)");
    static const std::regex kWorkflowRuns(R"(/actions/workflows/([^/]+)/runs)");
    static const std::regex kRun(R"(/actions/runs/(\d+))");
    static const std::regex kRunArtifacts(R"(/actions/runs/(\d+)/artifacts)");
    static const std::regex kArtifacts(R"(/actions/artifacts)");
    static const std::regex kArtifact(R"(/actions/artifacts/(\d+))");
    static const std::regex kZip(R"(/actions/artifacts/(\d+)/zip)");
    const Paging paging = ReadPaging(req);
    // The link header's URLs: the query as sent, on the /repositories/ form.
    const std::string prefix = req.path.substr(0, req.path.size() - rest.size());
    const std::string link_target = req.target.rfind(prefix, 0) == 0
                                        ? req.target.substr(prefix.size())
                                        : rest + (req.target.find('?') == std::string::npos
                                                      ? ""
                                                      : req.target.substr(req.target.find('?')));
    auto param = [&](const char* key) {
      return req.has_param(key) ? std::optional<std::string>(req.get_param_value(key))
                                : std::nullopt;
    };

    if (std::regex_match(rest, m, kRuns) || std::regex_match(rest, m, kWorkflowRuns)) {
      const std::optional<std::string> workflow =
          m.size() > 1 && m[1].matched ? std::optional<std::string>(m[1].str()) : std::nullopt;
      const auto branch = param("branch"), event = param("event"), status = param("status"),
                 sha = param("head_sha");
      std::vector<FakeWorkflowRun> matching;
      bool workflow_known = !workflow;
      {
        std::lock_guard lock(mutex_);
        for (const auto& [id, r] : runs_) {
          if (workflow) {
            const bool numeric = std::all_of(workflow->begin(), workflow->end(),
                                             [](char c) { return std::isdigit((unsigned char)c); });
            if (numeric ? std::to_string(r.workflow_id) != *workflow : r.workflow_file != *workflow)
              continue;
            workflow_known = true;
          }
          if (branch && r.head_branch != *branch) continue;
          if (event && r.event != *event) continue;
          if (sha && r.head_sha != *sha) continue;
          if (status && (IsRunStatus(*status) ? r.status != *status : r.conclusion != *status))
            continue;
          matching.push_back(r);
        }
      }
      if (!workflow_known) {
        Message(res, 404, "Not Found");
        return;
      }
      std::sort(matching.begin(), matching.end(), [](const auto& a, const auto& b) {
        return a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
      });
      boost::json::array runs;
      for (const auto& r : Slice(matching, paging)) runs.push_back(run_json(r));
      ok(boost::json::object{{"total_count", matching.size()}, {"workflow_runs", std::move(runs)}},
         LinkHeader(link_base, link_target, matching.size(), paging));
      return;
    }
    if (std::regex_match(rest, m, kRun)) {
      std::optional<FakeWorkflowRun> run;
      {
        std::lock_guard lock(mutex_);
        const auto it = runs_.find(std::stoll(m[1]));
        if (it != runs_.end()) run = it->second;
      }
      if (!run) {
        Message(res, 404, "Not Found");
        return;
      }
      ok(run_json(*run));
      return;
    }
    const bool run_artifacts = std::regex_match(rest, m, kRunArtifacts);
    if (run_artifacts || std::regex_match(rest, m, kArtifacts)) {
      const auto wanted = param("name");
      boost::json::array page;
      std::size_t total = 0;
      {
        std::lock_guard lock(mutex_);
        std::optional<std::int64_t> run_id;
        if (run_artifacts) {
          run_id = std::stoll(m[1]);
          if (!runs_.contains(*run_id)) {
            run_id.reset();
            total = std::size_t(-1);
          }
        }
        std::vector<const Artifact*> matching;
        for (const auto& [id, a] : artifacts_) {
          if (run_artifacts && (!run_id || a.spec.run_id != *run_id)) continue;
          if (wanted && a.spec.name != *wanted) continue;
          matching.push_back(&a);
        }
        // A run's artifacts in upload order, the repository's newest first.
        std::sort(matching.begin(), matching.end(), [&](const Artifact* a, const Artifact* b) {
          const auto ka = std::tie(a->spec.created_at, a->spec.id);
          const auto kb = std::tie(b->spec.created_at, b->spec.id);
          return run_artifacts ? ka < kb : kb < ka;
        });
        if (total != std::size_t(-1)) {
          total = matching.size();
          for (const Artifact* a : Slice(matching, paging)) page.push_back(artifact_json(*a));
        }
      }
      if (total == std::size_t(-1)) {
        Message(res, 404, "Not Found");
        return;
      }
      ok(boost::json::object{{"total_count", total}, {"artifacts", std::move(page)}},
         LinkHeader(link_base, link_target, total, paging));
      return;
    }
    const bool zip = std::regex_match(rest, m, kZip);
    if (zip || std::regex_match(rest, m, kArtifact)) {
      const std::int64_t id = std::stoll(m[1]);
      std::optional<boost::json::object> json;
      std::string name_of;
      bool expired = false;
      {
        std::lock_guard lock(mutex_);
        const auto it = artifacts_.find(id);
        if (it != artifacts_.end()) {
          json = artifact_json(it->second);
          name_of = it->second.spec.name;
          expired = it->second.spec.expired;
        }
      }
      if (!json) {
        Message(res, 404, "Not Found");
        return;
      }
      if (!zip) {
        ok(*json);
        return;
      }
      if (expired) {
        Message(res, 410, "Artifact has expired",
                "https://docs.github.com/rest/actions/artifacts#download-an-artifact");
        return;
      }
      const std::int64_t now = NowSeconds();
      const bool stale = t_fault && t_fault->kind == FakeGithubFaultKind::kExpiredUrl;
      const std::int64_t se = stale ? now - 1 : now + options_.url_lifetime.count();
      const std::string st = FormatUtc(now - 60), se_text = FormatUtc(se);
      const std::string sig =
          Sha256(secret_ + "\n" + std::to_string(id) + "\n" + st + "\n" + se_text, false);
      res.status = 302;
      res.set_header("Location", blob_url() + "/artifacts/" + std::to_string(id) + ".zip?rscd=" +
                                     PercentEncode("attachment; filename=\"" + name_of + ".zip\"") +
                                     "&rsct=application%2Fzip&se=" + PercentEncode(se_text) +
                                     "&sig=" + PercentEncode(sig) +
                                     "&sp=r&sr=b&st=" + PercentEncode(st) + "&sv=2024-08-04");
      return;
    }
    Message(res, 404, "Not Found");
  });
}

void FakeGithub::InstallControl() {
  httplib::Server& http = api_->http();
  auto control = [](httplib::Response& res, const std::function<void()>& f) {
    try {
      f();
      res.set_content("{}", kJson);
    } catch (const std::exception& e) {
      res.status = 400;
      res.set_content(boost::json::serialize(boost::json::object{{"message", e.what()}}), kJson);
    }
  };
  http.Post("/_fake/fault", [this, control](const httplib::Request& req, httplib::Response& res) {
    control(res, [&] {
      AddFault(WithJson([&] { return FaultFromJson(boost::json::parse(req.body).as_object()); }));
    });
  });
  http.Post("/_fake/run", [this, control](const httplib::Request& req, httplib::Response& res) {
    control(res, [&] {
      AddRun(WithJson([&] { return RunFromJson(boost::json::parse(req.body).as_object()); }));
    });
  });
  http.Post(
      "/_fake/artifact", [this, control](const httplib::Request& req, httplib::Response& res) {
        control(res, [&] {
          AddArtifact(WithJson(
              [&] { return ArtifactFromJson(boost::json::parse(req.body).as_object(), {}); }));
        });
      });
  http.Get("/_fake/log", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(LogJson(), kJson);
  });
}

void FakeGithub::InstallBlob() {
  httplib::Server& http = blob_->http();
  http.set_keep_alive_max_count(1000);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_fault.reset();
    t_closed = false;
    {
      std::lock_guard lock(mutex_);
      ++blob_requests_;
      t_entry = Record("blob", req);
      if (req.has_header("Authorization")) token_reached_blob_ = true;
      t_fault = TakeFault(false, req.path);
    }
    if (t_fault) {
      switch (t_fault->kind) {
        case FakeGithubFaultKind::kStatus: {
          const int status = t_fault->status;
          const std::string message = t_fault->message;
          t_fault.reset();
          const std::string code = status == 404   ? "BlobNotFound"
                                   : status == 403 ? "AuthenticationFailed"
                                   : status == 503 ? "ServerBusy"
                                                   : "InternalError";
          AzureError(res, status, code,
                     !message.empty()
                         ? message
                         : "Server encountered an internal error. Please try again after some "
                           "time.");
          return httplib::Server::HandlerResponse::Handled;
        }
        case FakeGithubFaultKind::kReset:
          ResetConnection(req);
          res.status = 500;
          return httplib::Server::HandlerResponse::Handled;
        case FakeGithubFaultKind::kSlow:
          std::this_thread::sleep_for(std::chrono::milliseconds(t_fault->delay_ms));
          break;
        default:
          break;
      }
    }
    if (req.has_header("Authorization")) {
      AzureError(res, 400, "InvalidAuthenticationInfo",
                 "Authentication information is not given in the correct format. Check the value "
                 "of Authorization header.");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    if (t_entry < log_.size()) log_[t_entry].status = t_closed ? 0 : res.status;
  });

  http.Get(R"(/artifacts/(\d+)\.zip)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::int64_t id = std::stoll(req.matches[1]);
    std::filesystem::path file;
    {
      std::lock_guard lock(mutex_);
      const auto it = artifacts_.find(id);
      if (it != artifacts_.end()) file = it->second.spec.file;
    }
    if (file.empty()) {
      AzureError(res, 404, "BlobNotFound", "The specified blob does not exist.");
      return;
    }
    const std::string se = req.get_param_value("se"), st = req.get_param_value("st");
    const std::string sig = req.get_param_value("sig");
    if (sig.empty() ||
        sig != Sha256(secret_ + "\n" + std::to_string(id) + "\n" + st + "\n" + se, false)) {
      AzureError(res, 403, "AuthenticationFailed",
                 "Server failed to authenticate the request. Make sure the value of "
                 "Authorization header is formed correctly including the signature.",
                 "Signature did not match. String to sign used was r\n" + st + "\n" + se +
                     "\n/blob/productionresultssa3/actions-results/" + std::to_string(id) + ".zip");
      return;
    }
    const std::int64_t now = NowSeconds();
    if (now > ParseUtc(se).value_or(0)) {
      AzureError(res, 403, "AuthenticationFailed",
                 "Server failed to authenticate the request. Make sure the value of "
                 "Authorization header is formed correctly including the signature.",
                 "Signed expiry time [" + FormatHttpDate(ParseUtc(se).value_or(0)) +
                     "] must be after signed start time [" + FormatHttpDate(now) + "]");
      return;
    }
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat info {};
    if (fd < 0 || ::fstat(fd, &info) != 0) {
      if (fd >= 0) ::close(fd);
      AzureError(res, 404, "BlobNotFound", "The specified blob does not exist.");
      return;
    }
    const auto size = static_cast<std::size_t>(info.st_size);
    const auto kind = t_fault ? t_fault->kind : FakeGithubFaultKind::kStatus;
    const bool truncate = kind == FakeGithubFaultKind::kTruncate;
    const bool corrupt = kind == FakeGithubFaultKind::kCorrupt;
    // No status: cpp-httplib answers 206 to a Range request when none is set.
    res.set_header("x-ms-blob-type", "BlockBlob");
    res.set_header("x-ms-version", "2024-08-04");
    res.set_header("ETag", "\"0x8DCFD" + std::to_string(info.st_mtime) + "\"");
    res.set_header("Last-Modified", FormatHttpDate(info.st_mtime));
    if (req.has_param("rscd")) res.set_header("Content-Disposition", req.get_param_value("rscd"));
    // One buffer per answer, read with pread at the offset asked for: flat
    // memory for any size, and Range requests for free.
    auto piece = std::make_shared<std::vector<char>>(std::min(size, kBlobPiece) + 1);
    res.set_content_provider(
        size, "application/zip",
        [fd, size, truncate, corrupt, piece](std::size_t offset, std::size_t length,
                                             httplib::DataSink& sink) {
          std::size_t n = std::min(length, piece->size());
          if (truncate) {
            if (offset >= size / 2) return false;  // closes the connection mid-body
            n = std::min(n, size / 2 - offset);
          }
          const ssize_t got = ::pread(fd, piece->data(), n, off_t(offset));
          if (got <= 0) return false;
          const auto g = static_cast<std::size_t>(got);
          if (corrupt && offset <= size / 2 && size / 2 < offset + g) {
            (*piece)[size / 2 - offset] = char((*piece)[size / 2 - offset] ^ 0xFF);
          }
          return sink.write(piece->data(), g);
        },
        [fd](bool) { ::close(fd); });
  });
}

}  // namespace fakes
