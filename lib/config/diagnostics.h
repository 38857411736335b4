// Problems found in a config file, each tied to where it was found.
//
// `jobsd check` prints every one of them, one per line, as
//   FILE:LINE:COL: key.path: message
// so that editors and CI logs can jump to the spot. The loader reports every
// problem it finds (not just the first), so the collection is the whole answer.
//
// Plain values; not shared between threads.
#pragma once

#include <string>
#include <vector>

namespace config {

struct Diagnostic {
  std::string file;
  int line = 0;      // 1-based; 0 = unknown
  int column = 0;    // 1-based; 0 = unknown
  std::string path;  // key path such as "jobs.openaq.every" or "alerts.route.critical[1]"
  std::string message;

  // "FILE:LINE:COL: path: message"; without a path "FILE:LINE:COL: message";
  // without a line "FILE: path: message".
  std::string ToString() const;

  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

class Diagnostics {
 public:
  void Add(Diagnostic diagnostic);

  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& all() const { return items_; }

  // Orders by position, the way a compiler lists errors; problems without a
  // line (a file that cannot be read) come first. Stable, so problems found at
  // the same spot keep the order in which they were found.
  void SortByPosition();

  // Every diagnostic's ToString(), one per line.
  std::string ToString() const;

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace config
