#include "config/document.h"

#include <cstddef>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <yaml.h>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include "config/config.h"

namespace config {
namespace {

// Documents read after the first: a few empty ones, then give up.
constexpr std::size_t kEnough = 8;

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

void ReportSecondDocument(const std::vector<DocumentCounter::Document>& documents,
                          const ConfigSource& source) {
  std::size_t with_content = 0;
  for (const DocumentCounter::Document& document : documents) {
    if (!document.empty && ++with_content == 2) {
      source.Report(document.start, "", "expected one YAML document; a second one starts here");
      return;
    }
  }
}

// Checks that nothing but empty documents follows the first one, reading on
// with the parser that read it. yaml-cpp 0.7 cannot consume some stray
// tokens (a lone ',' after a document) and then reports the same document
// start forever (yaml-cpp issue #1040), so YAML::LoadAll is never used and a
// repeated start counts as a syntax error.
void CheckSingleDocument(YAML::Parser& parser, const DocumentCounter::Document& first,
                         const std::string& text, const ConfigSource& source) {
  DocumentCounter counter;
  counter.documents.push_back(first);
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
  ReportSecondDocument(counter.documents, source);
}

// libyaml reads a config about eight times faster than yaml-cpp (0.1 s
// against 0.8 s for 100,000 jobs), so it reads the configs where it is known
// to build the same tree with the same positions as yaml-cpp: plain ASCII
// (libyaml counts columns in characters, yaml-cpp in bytes) with no control
// characters (so no protected `${...}` either) and no '?' (yaml-cpp refuses
// one inside a plain scalar in a flow collection, libyaml takes it as text).
// It gives up, and yaml-cpp
// reads the text instead, on any syntax error (whose wording and position
// users and tests know from yaml-cpp), on an empty node (yaml-cpp places it
// at the next token, libyaml at the end of the previous one), on an alias it
// cannot resolve (in any document) and on deep nesting (which yaml-cpp refuses). Anchor and
// alias names differ too: libyaml ends one at the first character outside
// [0-9A-Za-z_-] (`&x:y` is anchor x on the scalar ":y"), yaml-cpp, as YAML
// 1.2 says, only at a blank or a flow indicator (anchor "x:y"); a text with
// such a name is left to yaml-cpp. So is a tag with more than two '!'
// (`!!!s`, `!!s!x`): yaml-cpp refuses it, libyaml reads a handle and a suffix.
bool LibyamlMayRead(const std::string& text) {
  const auto ends_token = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == ',' || c == '[' || c == ']' || c == '{' ||
           c == '}';
  };
  const auto in_libyaml_name = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-';
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x7f || (byte < 0x20 && byte != '\n' && byte != '\t') || byte == '?') {
      return false;
    }
    // An anchor or alias starts a token: at the start of a line or after a
    // blank or a flow indicator. Inside quotes this refuses more than it
    // needs to, which costs only speed.
    if ((byte == '&' || byte == '*') && (i == 0 || ends_token(text[i - 1]))) {
      std::size_t end = i + 1;
      while (end < text.size() && in_libyaml_name(text[end])) ++end;
      if (end < text.size() && !ends_token(text[end])) return false;
    }
    if (byte == '!' && (i == 0 || ends_token(text[i - 1])) && text.compare(i, 2, "!<") != 0) {
      int marks = 0;
      for (std::size_t end = i; end < text.size() && !ends_token(text[end]); ++end) {
        if (text[end] == '!') ++marks;
      }
      if (marks > 2) return false;
    }
  }
  return true;
}

YAML::Mark ToMark(const yaml_mark_t& at) {
  YAML::Mark mark;
  mark.pos = static_cast<int>(at.index);
  mark.line = static_cast<int>(at.line);
  mark.column = static_cast<int>(at.column);
  return mark;
}

// yaml-cpp's null: a plain, untagged ~, null, Null or NULL (or nothing).
bool IsNullScalar(const yaml_event_t& event, std::string_view value) {
  return event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && event.data.scalar.tag == nullptr &&
         (value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL");
}

// Reads the first document into `builder` and notes every document's start
// (as CheckSingleDocument does). False when libyaml gave up; the builder may
// then hold part of the document.
bool ReadWithLibyaml(const std::string& text, YamlTreeBuilder& builder,
                     std::vector<DocumentCounter::Document>& documents) {
  constexpr int kMaxDepth = 100;  // well below yaml-cpp's limit
  struct Parser {
    yaml_parser_t parser;
    bool ready = yaml_parser_initialize(&parser) != 0;  // false only without memory
    ~Parser() {
      if (ready) yaml_parser_delete(&parser);
    }
  } p;
  if (!p.ready) return false;
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  // yaml-cpp numbers anchors; a name defined again names the newer node.
  std::unordered_map<std::string, YAML::anchor_t> anchors;
  YAML::anchor_t last_anchor = 0;
  const auto anchor_of = [&](const yaml_char_t* name) -> YAML::anchor_t {
    if (name == nullptr) return 0;
    anchors[reinterpret_cast<const char*>(name)] = ++last_anchor;
    return last_anchor;
  };
  // Anchor names of a later document: yaml-cpp reports an alias there that
  // names no anchor of its own document.
  std::unordered_set<std::string> later_anchors;
  const auto note_later = [&](const yaml_char_t* name) {
    if (name != nullptr) later_anchors.insert(reinterpret_cast<const char*>(name));
  };
  bool in_first = false;
  int depth = 0;
  while (true) {
    struct Event {
      yaml_event_t event;
      ~Event() { yaml_event_delete(&event); }
    } e;
    if (!yaml_parser_parse(&p.parser, &e.event)) {
      e.event.type = YAML_NO_EVENT;  // nothing to delete
      return false;
    }
    const yaml_event_t& event = e.event;
    const YAML::Mark mark = ToMark(event.start_mark);
    switch (event.type) {
      case YAML_STREAM_END_EVENT:
        return true;
      case YAML_DOCUMENT_START_EVENT:
        if (documents.size() == kEnough) return true;
        documents.push_back({mark, true});
        in_first = documents.size() == 1;
        if (in_first) builder.OnDocumentStart(mark);
        later_anchors.clear();
        break;
      case YAML_DOCUMENT_END_EVENT:
        if (in_first) documents.back().empty = builder.document_empty();
        in_first = false;
        break;
      case YAML_SCALAR_EVENT: {
        const std::string_view value(reinterpret_cast<const char*>(event.data.scalar.value),
                                     event.data.scalar.length);
        const bool null = IsNullScalar(event, value);
        if (!in_first) {
          if (!null) documents.back().empty = false;
          note_later(event.data.scalar.anchor);
        } else if (value.empty() && event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
          return false;
        } else if (depth == 0) {
          // A document that is one scalar is no config; yaml-cpp and libyaml
          // disagree on where one spanning lines ends (`&a b\nc`), so
          // yaml-cpp reads it and its error is the one reported.
          return false;
        } else if (null) {
          builder.OnNull(mark, anchor_of(event.data.scalar.anchor));
        } else {
          builder.OnScalar(mark, "", anchor_of(event.data.scalar.anchor), std::string(value));
        }
        break;
      }
      case YAML_ALIAS_EVENT:
        if (!in_first) {
          documents.back().empty = false;
          if (!later_anchors.contains(reinterpret_cast<const char*>(event.data.alias.anchor))) {
            return false;
          }
        } else {
          const auto found = anchors.find(reinterpret_cast<const char*>(event.data.alias.anchor));
          if (found == anchors.end()) return false;
          builder.OnAlias(mark, found->second);
        }
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (++depth > kMaxDepth) return false;
        if (!in_first) {
          documents.back().empty = false;
          note_later(event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor
                                                             : event.data.mapping_start.anchor);
          break;
        }
        const bool sequence = event.type == YAML_SEQUENCE_START_EVENT;
        const bool flow = sequence ? event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                                   : event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        const YAML::EmitterStyle::value style =
            flow ? YAML::EmitterStyle::Flow : YAML::EmitterStyle::Block;
        if (sequence) {
          builder.OnSequenceStart(mark, "", anchor_of(event.data.sequence_start.anchor), style);
        } else {
          builder.OnMapStart(mark, "", anchor_of(event.data.mapping_start.anchor), style);
        }
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
        --depth;
        if (in_first) builder.OnSequenceEnd();
        break;
      case YAML_MAPPING_END_EVENT:
        --depth;
        if (in_first) builder.OnMapEnd();
        break;
      case YAML_NO_EVENT:
      case YAML_STREAM_START_EVENT:
        break;
    }
  }
}

}  // namespace

std::optional<YamlNode> ParseDocument(const std::string& text, YamlTree& tree, ConfigSource& source,
                                      const EnvLookup& env, const JobsStream* stream,
                                      bool* redo_with_yaml_cpp, YamlParser parser) {
  std::string prepared = text;
  const bool restore = ProtectReferences(prepared);
  DocumentWalker walker(tree, source, env, restore);

  bool streamed = false;
  YamlTreeBuilder::JobsHooks hooks;
  if (stream != nullptr) {
    hooks.on_start = [&](YamlNode before) {
      streamed = true;
      walker.WalkTopBefore(before);
      if (stream->on_start) stream->on_start(before);
    };
    hooks.on_item = [&](YamlNode item, std::size_t index) {
      walker.WalkJob(item, index);
      stream->on_item(item, index);
      return false;
    };
  }

  // A streamed parse that libyaml gives up on has had jobs read already; only
  // the caller can start over.
  constexpr std::size_t kLargeText = 64 << 10;
  const bool try_libyaml = parser == YamlParser::kLibyamlFirst ||
                           (parser == YamlParser::kAuto && prepared.size() >= kLargeText);
  if (try_libyaml && (stream == nullptr || redo_with_yaml_cpp != nullptr) &&
      LibyamlMayRead(prepared)) {
    YamlTreeBuilder builder(tree, true, hooks);
    std::vector<DocumentCounter::Document> documents;
    if (ReadWithLibyaml(prepared, builder, documents)) {
      ReportSecondDocument(documents, source);
      const YamlNode root = builder.root();
      walker.Walk(root, "");
      return root;
    }
    if (streamed) {
      *redo_with_yaml_cpp = true;
      return std::nullopt;
    }
    tree.Clear();
  }

  std::istringstream input(prepared);
  YAML::Parser yaml_cpp(input);
  YamlTreeBuilder builder(tree, true, std::move(hooks));
  bool read = false;
  try {
    read = yaml_cpp.HandleNextDocument(builder);
  } catch (const YAML::Exception& error) {
    source.Report(error.mark, "", SyntaxMessage(error));
    return std::nullopt;
  }
  const YamlNode root = builder.root();
  if (read) {
    CheckSingleDocument(yaml_cpp, {builder.document_start(), builder.document_empty()}, prepared,
                        source);
  }
  walker.Walk(root, "");
  return root;
}

}  // namespace config
