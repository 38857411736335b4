#include "config/document.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "config/config.h"

namespace config {
namespace {

// Stand-ins for the braces of `${...}`: control characters that never occur in
// a config file (a text that has them is parsed as written).
constexpr char kOpen = '\x0e';
constexpr char kClose = '\x0f';

// Swaps the braces of each `${...}` (closed on the same line, before any
// quote) for kOpen and kClose. False when nothing was swapped.
bool ProtectReferences(std::string& text) {
  if (text.find(kOpen) != std::string::npos || text.find(kClose) != std::string::npos) {
    return false;
  }
  bool swapped = false;
  for (std::size_t at = text.find("${"); at != std::string::npos; at = text.find("${", at + 1)) {
    // A quote or line end first means an unclosed reference, whose '}' must
    // not be taken from the enclosing flow mapping.
    const std::size_t close = text.find_first_of("}\n\"'", at + 2);
    if (close == std::string::npos || text[close] != '}') continue;
    text[at + 1] = kOpen;
    text[close] = kClose;
    swapped = true;
  }
  return swapped;
}

void RestoreReferences(YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (text.find(kOpen) == std::string::npos && text.find(kClose) == std::string::npos) return;
  std::string restored = text;
  for (char& c : restored) {
    if (c == kOpen) c = '{';
    if (c == kClose) c = '}';
  }
  node = restored;
}

class DocumentWalker {
 public:
  DocumentWalker(ConfigSource& source, const EnvLookup& env, bool restore)
      : source_(source), env_(env), restore_(restore) {}

  void Walk(YAML::Node node, const std::string& path) {
    if (!visited_.insert(NodeIdentity(node)).second) return;
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        ExpandScalar(node, path);
        break;
      case YAML::NodeType::Sequence: {
        std::size_t index = 0;
        for (YAML::Node item : node) {
          Walk(item,
               path == "jobs" ? JobPath(index, item) : path + "[" + std::to_string(index) + "]");
          ++index;
        }
        break;
      }
      case YAML::NodeType::Map:
        WalkMap(node, path);
        break;
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        break;
    }
  }

 private:
  void WalkMap(const YAML::Node& node, const std::string& path) {
    std::unordered_map<std::string, YAML::Mark> first_seen;
    for (auto entry : node) {
      YAML::Node& key = entry.first;
      if (restore_ && key.IsScalar()) RestoreReferences(key);
      if (!key.IsScalar()) {
        source_.Report(key.Mark(), path, "a key must be a plain string, not " + Describe(key));
        continue;
      }
      const std::string child_path = JoinPath(path, key.Scalar());
      const auto [first, inserted] = first_seen.emplace(key.Scalar(), key.Mark());
      if (!inserted) {
        source_.Report(key.Mark(), child_path,
                       "duplicate key '" + key.Scalar() + "' (first defined at line " +
                           std::to_string(first->second.line + 1) + ")");
        continue;
      }
      Walk(entry.second, child_path);
    }
  }

  void ExpandScalar(YAML::Node& node, const std::string& path) {
    if (restore_) RestoreReferences(node);
    const std::string& text = node.Scalar();
    if (text.find('$') == std::string::npos) return;
    core::Result<std::string> expanded = ExpandVariables(text, env_);
    if (!expanded) {
      source_.Report(node.Mark(), path, expanded.error().message);
      source_.MarkUnusable(node);
      return;
    }
    // Keeps the node's position and style; aliases of it see the new value,
    // which is why every node is expanded only once.
    node = *expanded;
  }

  // Job entries are named by their `name:` in key paths ("jobs.backup.every"),
  // matching what the loader reports later.
  static std::string JobPath(std::size_t index, const YAML::Node& job) {
    if (job.IsMap()) {
      for (auto entry : job) {
        if (entry.first.IsScalar() && entry.first.Scalar() == "name" && entry.second.IsScalar() &&
            IsValidJobName(entry.second.Scalar())) {
          return "jobs." + entry.second.Scalar();
        }
      }
    }
    return "jobs[" + std::to_string(index) + "]";
  }

  ConfigSource& source_;
  const EnvLookup& env_;
  const bool restore_;  // ProtectReferences swapped braces in the text
  std::unordered_set<const void*> visited_;
};

// yaml-cpp reports nesting beyond its limit as "bad file"; say what happened.
std::string SyntaxMessage(const YAML::Exception& error) {
  if (dynamic_cast<const YAML::DeepRecursion*>(&error) != nullptr) {
    return "YAML syntax error: nesting is too deep";
  }
  return "YAML syntax error: " + error.msg;
}

// Notes where each document starts and whether it holds anything.
class DocumentCounter : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start;
    bool empty = true;
  };
  std::vector<Document> documents;

  void OnDocumentStart(const YAML::Mark& mark) override { documents.push_back({mark}); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Content(); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Content();
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Content();
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Content();
  }
  void OnMapEnd() override {}

 private:
  void Content() {
    if (!documents.empty()) documents.back().empty = false;
  }
};

// Checks that nothing but empty documents follows the first one. yaml-cpp
// 0.7 cannot consume some stray tokens (a lone ',' after a document) and then
// reports the same document start forever (yaml-cpp issue #1040), so
// YAML::LoadAll is never used and a repeated start counts as a syntax error.
void CheckSingleDocument(const std::string& text, const ConfigSource& source) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentCounter counter;
  constexpr std::size_t kEnough = 8;  // a few empty documents, then give up
  try {
    while (counter.documents.size() < kEnough && parser.HandleNextDocument(counter)) {
      const std::size_t n = counter.documents.size();
      if (n >= 2 && counter.documents[n - 1].start.pos == counter.documents[n - 2].start.pos) {
        const YAML::Mark at = counter.documents[n - 1].start;
        const std::size_t pos = static_cast<std::size_t>(at.pos);
        source.Report(at, "",
                      "YAML syntax error: unexpected '" +
                          (pos < text.size() ? std::string(1, text[pos]) : std::string()) + "'");
        return;
      }
    }
  } catch (const YAML::Exception& error) {
    source.Report(error.mark, "", SyntaxMessage(error));
    return;
  }
  std::size_t with_content = 0;
  for (const DocumentCounter::Document& document : counter.documents) {
    if (!document.empty && ++with_content == 2) {
      source.Report(document.start, "", "expected one YAML document; a second one starts here");
      return;
    }
  }
}

// Whether text may go on after the document yaml-cpp loaded. A document
// whose top level is a block mapping ends only at a document marker ("---",
// "...") at the start of a line or at the end of the text: any other token at
// column 0 that is no key makes yaml-cpp throw. Every other shape of document
// may stop early and leave text unread. Scanning for further documents costs
// as much as the parse itself, so it is done only when it can find something.
bool MayHoldMoreDocuments(const std::string& text, const YAML::Node& root) {
  if (!root.IsMap() || root.Style() != YAML::EmitterStyle::Block) return true;
  std::size_t line = 0;
  while (true) {
    if (text.compare(line, 3, "---") == 0 || text.compare(line, 3, "...") == 0) return true;
    line = text.find('\n', line);
    if (line == std::string::npos) return false;
    ++line;
  }
}

}  // namespace

std::optional<YAML::Node> ParseDocument(const std::string& text, ConfigSource& source,
                                        const EnvLookup& env) {
  std::string prepared = text;
  const bool restore = ProtectReferences(prepared);
  YAML::Node root;
  try {
    root = YAML::Load(prepared);
  } catch (const YAML::Exception& error) {
    source.Report(error.mark, "", SyntaxMessage(error));
    return std::nullopt;
  }
  if (MayHoldMoreDocuments(prepared, root)) CheckSingleDocument(prepared, source);
  DocumentWalker(source, env, restore).Walk(root, "");
  return root;
}

}  // namespace config
