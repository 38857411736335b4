#include "config/document.h"

#include <sstream>
#include <unordered_map>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

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

void RestoreReferences(YamlTree& tree, YamlNode node) {
  const std::string& text = node.Scalar();
  if (text.find(kOpen) == std::string::npos && text.find(kClose) == std::string::npos) return;
  std::string restored = text;
  for (char& c : restored) {
    if (c == kOpen) c = '{';
    if (c == kClose) c = '}';
  }
  tree.SetScalar(node, std::move(restored));
}

class DocumentWalker {
 public:
  DocumentWalker(YamlTree& tree, ConfigSource& source, const EnvLookup& env, bool restore)
      : tree_(tree), source_(source), env_(env), restore_(restore) {}

  void Walk(YamlNode node, const std::string& path) {
    if (!tree_.MarkVisited(node)) return;
    switch (node.Type()) {
      case YamlType::kScalar:
        ExpandScalar(node, path);
        break;
      case YamlType::kSequence: {
        std::size_t index = 0;
        for (const YamlNode& item : node) {
          Walk(item,
               path == "jobs" ? JobPath(index, item) : path + "[" + std::to_string(index) + "]");
          ++index;
        }
        break;
      }
      case YamlType::kMap:
        if (path.empty()) {
          // The top level may have been walked in part already (JobsStream).
          WalkMap(node, path, top_seen_, top_walked_);
        } else {
          FirstSeen first_seen;
          WalkMap(node, path, first_seen, 0);
        }
        break;
      case YamlType::kNull:
        break;
    }
  }

  // The top-level entries before a streamed `jobs:` list, in a mapping of
  // their own; the walk of the whole document later goes on after them.
  void WalkTopBefore(YamlNode before) {
    WalkMap(before, "", top_seen_, 0);
    top_walked_ = before.size();
  }

  // An item of a streamed `jobs:` list.
  void WalkJob(YamlNode item, std::size_t index) { Walk(item, JobPath(index, item)); }

 private:
  using FirstSeen = std::unordered_map<std::string, YAML::Mark>;

  void WalkMap(YamlNode node, const std::string& path, FirstSeen& first_seen, std::size_t skip) {
    std::size_t index = 0;
    for (const YamlItem& entry : node) {
      if (index++ < skip) continue;
      const YamlNode key = entry.first;
      if (restore_ && key.IsScalar()) RestoreReferences(tree_, key);
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

  void ExpandScalar(YamlNode node, const std::string& path) {
    if (restore_) RestoreReferences(tree_, node);
    const std::string& text = node.Scalar();
    if (text.find('$') == std::string::npos) return;
    core::Result<std::string> expanded = ExpandVariables(text, env_);
    if (!expanded) {
      source_.Report(node.Mark(), path, expanded.error().message);
      tree_.MarkUnusable(node);
      return;
    }
    // Keeps the node's position; aliases of it see the new value, which is
    // why every node is expanded only once.
    tree_.SetScalar(node, std::move(*expanded));
  }

  // Job entries are named by their `name:` in key paths ("jobs.backup.every"),
  // matching what the loader reports later.
  static std::string JobPath(std::size_t index, const YamlNode& job) {
    if (job.IsMap()) {
      for (const YamlItem& entry : job) {
        if (entry.first.IsScalar() && entry.first.Scalar() == "name" && entry.second.IsScalar() &&
            IsValidJobName(entry.second.Scalar())) {
          return "jobs." + entry.second.Scalar();
        }
      }
    }
    return "jobs[" + std::to_string(index) + "]";
  }

  YamlTree& tree_;
  ConfigSource& source_;
  const EnvLookup& env_;
  const bool restore_;  // ProtectReferences swapped braces in the text
  FirstSeen top_seen_;
  std::size_t top_walked_ = 0;
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

// Checks that nothing but empty documents follows the first one, reading on
// with the parser that read it. yaml-cpp 0.7 cannot consume some stray
// tokens (a lone ',' after a document) and then reports the same document
// start forever (yaml-cpp issue #1040), so YAML::LoadAll is never used and a
// repeated start counts as a syntax error.
void CheckSingleDocument(YAML::Parser& parser, const DocumentCounter::Document& first,
                         const std::string& text, const ConfigSource& source) {
  DocumentCounter counter;
  counter.documents.push_back(first);
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

}  // namespace

std::optional<YamlNode> ParseDocument(const std::string& text, YamlTree& tree, ConfigSource& source,
                                      const EnvLookup& env, const JobsStream* stream) {
  std::string prepared = text;
  const bool restore = ProtectReferences(prepared);
  DocumentWalker walker(tree, source, env, restore);

  YamlTreeBuilder::JobsHooks hooks;
  if (stream != nullptr) {
    hooks.on_start = [&](YamlNode before) {
      walker.WalkTopBefore(before);
      if (stream->on_start) stream->on_start(before);
    };
    hooks.on_item = [&](YamlNode item, std::size_t index) {
      walker.WalkJob(item, index);
      stream->on_item(item, index);
      return false;
    };
  }
  std::istringstream input(prepared);
  YAML::Parser parser(input);
  YamlTreeBuilder builder(tree, true, std::move(hooks));
  bool read = false;
  try {
    read = parser.HandleNextDocument(builder);
  } catch (const YAML::Exception& error) {
    source.Report(error.mark, "", SyntaxMessage(error));
    return std::nullopt;
  }
  const YamlNode root = builder.root();
  if (read) {
    CheckSingleDocument(parser, {builder.document_start(), builder.document_empty()}, prepared,
                        source);
  }
  walker.Walk(root, "");
  return root;
}

}  // namespace config
