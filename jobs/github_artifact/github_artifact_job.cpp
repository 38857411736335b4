#include "jobs/github_artifact/github_artifact_job.h"

#include <fnmatch.h>

#include <cstdio>
#include <fstream>

#include <boost/json.hpp>

#include "archive/zip_extractor.h"
#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "jobs/github_artifact/github_api.h"
#include "jobs/github_artifact/github_artifact_config.h"
#include "jobs/github_artifact/versioned_folder.h"
#include "json/json_fields.h"

namespace jobs::github_artifact {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPulledKey = "pulled";
constexpr std::string_view kListingKey = "listings";
// GitHub stops a hosted job after 6 hours: a run that started longer ago
// than that before the newest match was made cannot hold a newer one.
constexpr auto kLongestRun = std::chrono::hours(6);
constexpr int kDownloadAttempts = 3;

core::Result<std::string> FileSha256(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo, "cannot read " + file.string(), false});
  crypto::Sha256 hash;
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.Update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad())
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo, "cannot read " + file.string(), false});
  return crypto::Hex(hash.Finish());
}

// "1.5 GiB", "48 KiB", "312 B": sizes for people.
std::string SizeText(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string Describe(const Artifact& a) {
  std::string sha = a.head_sha.substr(0, 7);
  return "'" + a.name + "' (artifact " + std::to_string(a.id) + ", run " +
         std::to_string(a.run_id) + ", " + a.head_branch + (sha.empty() ? "" : "@" + sha) +
         ", created " + core::FormatRfc3339(a.created_at).substr(0, 19) + "Z)";
}

std::string VersionName(const Artifact& a) {
  return std::to_string(a.id) + "-" + SafeFileName(a.name);
}

// The version the job's state records as pulled last; empty when there is
// none or the record cannot be read.
std::string PulledVersion(std::string_view pulled) {
  auto doc = json::Parse(pulled);
  if (!doc || !doc->is_object()) return {};
  const auto* version = doc->as_object().if_contains("version");
  return version && version->is_string() ? std::string(version->as_string()) : std::string();
}

std::string AgeText(core::Duration age) {
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(age).count();
  if (hours >= 48) return std::to_string(hours / 24) + " days";
  if (hours >= 1) return std::to_string(hours) + " hours";
  return std::to_string(std::chrono::duration_cast<std::chrono::minutes>(age).count()) + " minutes";
}

class GithubArtifactJob final : public scheduler::Job {
 public:
  explicit GithubArtifactJob(GithubArtifactSettings settings) : settings_(std::move(settings)) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    ctx_ = &ctx;
    auto listings = ctx.GetState(kListingKey);
    if (!listings) return core::Unexpected(listings.error());
    cache_ = ListingCache::FromJson(listings->value_or(""));
    GithubApi api(ctx, settings_, cache_);
    core::Result<void> result = Pull(api);
    ctx.metrics().Add("requests", api.requests());
    ctx.metrics().Add("not_modified", api.not_modified());
    // The waits of the HTTP client (a 429 it retried) as well as GithubApi's own.
    ctx.metrics().Add("rate_limit_waits", api.rate_limit_waits());
    return result;
  }

 private:
  core::Result<void> Pull(GithubApi& api) {
    scheduler::JobContext& ctx = *ctx_;
    VersionedFolder folder(settings_.dest);
    if (auto prepared = folder.Prepare(); !prepared) return prepared;

    auto picked = Pick(api);
    if (!picked) return core::Unexpected(picked.error());
    // The listings' ETags stay useful whatever happens next.
    cache_.KeepOnlyUsed();
    if (auto saved = ctx.PutState(kListingKey, cache_.ToJson()); !saved) return saved;
    if (!*picked) {
      return core::Unexpected(core::Error{core::ErrorKind::kNotFound,
                                          "no artifact matching '" + settings_.artifact +
                                              "' in the successful runs of " + settings_.repo +
                                              Scope() + " (expired ones are skipped)",
                                          false});
    }
    const Artifact& artifact = **picked;
    ctx.metrics().Set("artifact_id", double(artifact.id));
    ctx.metrics().Set("workflow_run_id", double(artifact.run_id));
    const core::Duration age = ctx.Now() - artifact.created_at;
    ctx.metrics().Set("artifact_age_seconds",
                      double(std::chrono::duration_cast<std::chrono::seconds>(age).count()));
    if (settings_.max_artifact_age && age > *settings_.max_artifact_age) {
      return core::Unexpected(core::Error{
          core::ErrorKind::kInvalidArgument,
          "newest artifact is " + AgeText(age) + " old: " + Describe(artifact) +
              ", older than max_artifact_age " + core::FormatDuration(*settings_.max_artifact_age),
          false});
    }

    const std::string version = VersionName(artifact);
    if (folder.Current() == version) {
      ctx.metrics().SetChanged(false);
      auto pulled = ctx.GetState(kPulledKey);
      if (!pulled) return core::Unexpected(pulled.error());
      if (PulledVersion(pulled->value_or("")) == version) {
        ctx.set_output("unchanged: " + Describe(artifact) + " is in " + settings_.dest.string() +
                       " already\n");
        return {};
      }
      // dest was switched but the run died before recording it (the state
      // holds no pull, or the one before): record it now, as a change (the
      // chain after it never ran).
      ctx.metrics().SetChanged(true);
      return Record(artifact, "", 0, folder);
    }
    if (ctx.cancel().Cancelled()) return core::Unexpected(ctx.CancelledError());

    const fs::path download = folder.DownloadPath(version);
    auto sha256 = Download(api, artifact, download);
    if (!sha256) {
      std::error_code ignored;
      fs::remove(download, ignored);
      return core::Unexpected(sha256.error());
    }
    auto installed = Unpack(artifact, download, folder, version);
    std::error_code ignored;
    fs::remove(download, ignored);
    if (!installed) return installed;
    ctx.metrics().SetChanged(true);
    return Record(artifact, *sha256, ctx.metrics().Value("bytes"), folder);
  }

  std::string Scope() const {
    std::string out;
    if (!settings_.workflow.empty()) out += ", workflow " + settings_.workflow;
    if (!settings_.branch.empty()) out += ", branch " + settings_.branch;
    if (!settings_.event.empty()) out += ", event " + settings_.event;
    return out.empty() ? out : " (" + out.substr(2) + ")";
  }

  bool Matches(const Artifact& a) const {
    return !a.expired && ::fnmatch(settings_.artifact.c_str(), a.name.c_str(), 0) == 0;
  }

  core::Result<std::optional<Artifact>> Pick(GithubApi& api) {
    std::optional<Artifact> best;
    std::optional<core::Error> failure;
    auto visited = api.ForEachRunPage([&](const Page<WorkflowRun>& page) {
      for (const WorkflowRun& run : page.items) {
        // A run last updated before the best match was made uploaded
        // nothing newer.
        if (best && run.updated_at < best->created_at) continue;
        auto artifacts = api.RunArtifacts(run.id);
        if (!artifacts) {
          failure = artifacts.error();
          return false;
        }
        for (Artifact& a : *artifacts) {
          if (!Matches(a)) continue;
          if (!best || a.created_at > best->created_at ||
              (a.created_at == best->created_at && a.id > best->id)) {
            if (a.head_branch.empty()) a.head_branch = run.head_branch;
            if (a.head_sha.empty()) a.head_sha = run.head_sha;
            best = std::move(a);
          }
        }
      }
      if (!best || page.items.empty()) return true;
      return page.items.back().created_at + kLongestRun > best->created_at;
    });
    if (failure) return core::Unexpected(std::move(*failure));
    if (!visited) return core::Unexpected(visited.error());
    return best;
  }

  // Downloads the archive to `file`; its sha256.
  core::Result<std::string> Download(GithubApi& api, const Artifact& artifact,
                                     const fs::path& file) {
    scheduler::JobContext& ctx = *ctx_;
    core::Error last{core::ErrorKind::kUpstream, "no download attempted", true};
    for (int attempt = 1; attempt <= kDownloadAttempts; ++attempt) {
      ctx.metrics().Add("download_attempts", 1);
      auto url = api.DownloadUrl(artifact.id);
      if (!url) return core::Unexpected(url.error());
      auto blob = http::ParseUrl(*url);
      if (!blob) return core::Unexpected(blob.error());
      const std::string host = blob->Authority();
      http::ClientRequest request;
      request.url = *url;  // no Authorization: the signature is in the URL
      http::CallOptions options = ctx.CallOptions();
      options.body_file = file;
      options.max_body_bytes = settings_.max_bytes;
      options.ca_file = settings_.ca_file;
      options.max_redirects = 0;
      auto response = ctx.http().Send(std::move(request), options);
      if (!response) {
        if (response.error().kind == core::ErrorKind::kCancelled) {
          return core::Unexpected(ctx.CancelledError("the download"));
        }
        last = response.error();
        last.message = "download of " + Describe(artifact) + " from " + host + ": " + last.message;
        last.retryable = last.message.find("larger than") == std::string::npos;
        if (!last.retryable) {
          last.message += " (max_bytes is " + SizeText(settings_.max_bytes) + ")";
          return core::Unexpected(last);
        }
        ctx.Warn(last.message + (attempt < kDownloadAttempts ? "; trying again" : ""));
        continue;
      }
      if (response->status == 403 || response->status == 401 || response->status == 404) {
        // A signed URL lives about a minute; a new one comes from /zip.
        last = core::Error{core::ErrorKind::kUpstream,
                           "download of " + Describe(artifact) + " from " + host + ": HTTP " +
                               std::to_string(response->status) + " (signed URL expired?)",
                           true};
        ctx.Warn(last.message +
                 (attempt < kDownloadAttempts ? "; asking GitHub for a new URL" : ""));
        continue;
      }
      if (response->status != 200 || !response->body_file) {
        last = core::Error{core::ErrorKind::kUpstream,
                           "download of " + Describe(artifact) + " from " + host + ": HTTP " +
                               std::to_string(response->status),
                           response->status >= 500};
        if (!last.retryable) return core::Unexpected(last);
        continue;
      }
      // The artifact's size, not a sum over attempts: Record() keeps it as
      // the size of the pull.
      ctx.metrics().Set("bytes", double(response->body_bytes));
      auto sha256 = FileSha256(file);
      if (!sha256) return core::Unexpected(sha256.error());
      if (artifact.digest && artifact.digest->rfind("sha256:", 0) == 0 &&
          artifact.digest->substr(7) != *sha256) {
        last = core::Error{core::ErrorKind::kUpstream,
                           "download of " + Describe(artifact) + ": sha256 " + *sha256 +
                               " differs from GitHub's digest " + *artifact.digest,
                           true};
        ctx.Warn(last.message + (attempt < kDownloadAttempts ? "; trying again" : ""));
        continue;
      }
      return sha256;
    }
    return core::Unexpected(last);
  }

  core::Result<void> Unpack(const Artifact& artifact, const fs::path& download,
                            VersionedFolder& folder, const std::string& version) {
    scheduler::JobContext& ctx = *ctx_;
    auto staged = folder.Stage(version);
    if (!staged) return core::Unexpected(staged.error());
    auto fail = [&](core::Error error) -> core::Result<void> {
      std::error_code ignored;
      fs::remove_all(*staged, ignored);
      return core::Unexpected(std::move(error));
    };
    if (settings_.extract) {
      auto is_zip = archives::IsZipFile(download);
      if (!is_zip) return fail(is_zip.error());
      if (!*is_zip) {
        return fail(core::Error{core::ErrorKind::kInvalidArgument,
                                "artifact " + Describe(artifact) +
                                    " is not a zip archive; set `extract: false` to keep it as "
                                    "downloaded",
                                false});
      }
      archives::ExtractLimits limits;
      limits.max_bytes = settings_.max_bytes;
      limits.max_ratio = settings_.max_ratio;
      // Data folders of many small files are common; size and ratio are
      // what guard the disk.
      limits.max_entries = 10'000'000;
      auto report =
          archives::ExtractZip(download, *staged, limits, [&] { return ctx.cancel().Cancelled(); });
      if (!report) {
        if (report.error().kind == core::ErrorKind::kCancelled) {
          return fail(ctx.CancelledError("extraction"));
        }
        core::Error error = report.error();
        error.message = "artifact " + Describe(artifact) + ": " + error.message;
        return fail(std::move(error));
      }
      ctx.metrics().Add("files", double(report->files));
      ctx.metrics().Add("extracted_bytes", double(report->bytes));
    } else {
      std::error_code ec;
      const fs::path kept = *staged / SafeFileName(artifact.name);
      fs::rename(download, kept, ec);
      if (ec) {
        return fail(core::Error{
            core::ErrorKind::kIo,
            "cannot move the download to " + kept.string() + ": " + ec.message(), false});
      }
      ctx.metrics().Add("files", 1);
      ctx.metrics().Add("extracted_bytes", double(fs::file_size(kept, ec)));
    }
    for (const std::string& expected : settings_.expect) {
      std::error_code ec;
      if (!fs::exists(fs::symlink_status(*staged / expected, ec))) {
        return fail(core::Error{
            core::ErrorKind::kInvalidArgument,
            "artifact " + Describe(artifact) + " has no '" + expected + "' (expect)", false});
      }
    }
    if (ctx.cancel().Cancelled()) return fail(ctx.CancelledError("extraction"));
    if (auto installed = folder.Install(*staged, version); !installed) {
      return fail(installed.error());
    }
    auto pruned = folder.Prune(settings_.keep);
    if (!pruned) {
      ctx.Warn(pruned.error().message);
    } else {
      for (const std::string& name : *pruned) ctx.Info("removed the earlier version " + name);
    }
    return {};
  }

  core::Result<void> Record(const Artifact& a, const std::string& sha256, double bytes,
                            const VersionedFolder& folder) {
    boost::json::object pulled{
        {"artifact_id", a.id},       {"name", a.name},
        {"run_id", a.run_id},        {"head_branch", a.head_branch},
        {"head_sha", a.head_sha},    {"created_at", core::FormatRfc3339(a.created_at)},
        {"sha256", sha256},          {"bytes", bytes},
        {"version", VersionName(a)}, {"pulled_at", core::FormatRfc3339(ctx_->Now())}};
    if (auto saved = ctx_->PutState(kPulledKey, boost::json::serialize(pulled)); !saved) {
      return saved;
    }
    ctx_->set_output("pulled " + Describe(a) + " into " + folder.dest().string() + " (" +
                     SizeText(static_cast<std::uint64_t>(bytes)) +
                     (sha256.empty() ? "" : ", sha256 " + sha256) + ")\n");
    return {};
  }

  GithubArtifactSettings settings_;
  scheduler::JobContext* ctx_ = nullptr;
  ListingCache cache_;
};

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      GithubArtifactJobSpec(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<GithubArtifactSettings>();
        return std::make_unique<GithubArtifactJob>(settings ? *settings : GithubArtifactSettings{});
      }};
}

}  // namespace jobs::github_artifact
