#include "jobs/retention/retention_config.h"

namespace jobs::retention {
namespace {

namespace fs = std::filesystem;

fs::path Normal(const fs::path& path) {
  fs::path out = path.lexically_normal();
  // "data/raw/" normalizes to "data/raw/" (an empty last component).
  if (!out.has_filename() && out != out.root_path()) out = out.parent_path();
  return out;
}

RetentionFolder ReadFolder(config::MapReader& item) {
  RetentionFolder out;
  if (auto path = item.Path("path", config::Need::kRequired)) {
    out.path = Normal(*path);
    if (out.path == out.path.root_path()) {
      item.Report("path", "is the root of the file system; name a data folder of its own");
    }
  }
  if (auto age = item.Duration("max_age")) {
    if (*age < kRecentGuard) {
      item.Report("max_age",
                  "must be at least 1m: files modified within the last minute are "
                  "never deleted");
    }
    out.max_age = *age;
  }
  if (auto bytes = item.Size("max_bytes")) out.max_bytes = *bytes;
  if (auto match = item.String("match")) {
    if (match->empty()) {
      item.Report("match", "expected a glob over file names, like '*.json'");
    } else if (match->find('/') != std::string::npos) {
      item.Report("match",
                  "is matched against file names, which hold no '/', got '" + *match + "'");
    }
    out.match = *match;
  }
  if (!item.Has("max_age") && !item.Has("max_bytes")) {
    item.ReportHere("needs max_age or max_bytes (or both): nothing would ever be deleted");
  }
  return out;
}

}  // namespace

bool IsWithin(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

RetentionSettings ReadRetentionSettings(config::MapReader& with) {
  RetentionSettings out;
  if (auto folders = with.MapList("folders", config::Need::kRequired)) {
    for (config::MapReader& item : *folders) {
      out.folders.push_back(ReadFolder(item));
      item.Finish();
    }
    if (folders->empty() && with.Has("folders")) {
      with.Report("folders", "expected at least one folder");
    }
    for (std::size_t i = 0; i < out.folders.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        const fs::path& a = out.folders[j].path;
        const fs::path& b = out.folders[i].path;
        if (a.empty() || b.empty()) continue;
        if (IsWithin(a, b) || IsWithin(b, a)) {
          with.Report("folders", "folders[" + std::to_string(j) + "] (" + a.string() +
                                     ") and folders[" + std::to_string(i) + "] (" + b.string() +
                                     ") overlap; a file may be under one folder's rules only");
        }
      }
    }
  }
  out.remove_empty_dirs = with.Bool("remove_empty_dirs").value_or(out.remove_empty_dirs);
  out.dry_run = with.Bool("dry_run").value_or(out.dry_run);
  return out;
}

config::JobTypeSpec RetentionJobSpec() {
  return {"retention", [](config::MapReader& with, std::string_view) -> std::any {
            return ReadRetentionSettings(with);
          }};
}

}  // namespace jobs::retention
