// A compact YAML node tree built from yaml-cpp's parser events, and the
// handles the config readers use to look at it.
//
// yaml-cpp's own node tree (YAML::Load) costs about 84 heap objects and
// 4.4 KB for a one-line job entry, so a config of 100,000 jobs needed more
// than 400 MB while loading, and the freed tree left the heap too fragmented
// to give the memory back. Here every node is one fixed-size record in one
// container, children are index ranges in another, and nothing else is
// allocated unless a scalar is longer than the small-string buffer. The
// builder can also hand over each item of the top-level `jobs:` list as soon
// as it is complete and drop it once read (see YamlTreeBuilder), so a large
// config never exists as a whole tree at all.
//
// Like yaml-cpp, an alias shares the node of its anchor (so `&a [*a]` is a
// cycle and a "billion laughs" document stays small); a node's position is
// that of its first occurrence.
//
// Single thread. A YamlNode is a tree pointer and an index: it stays valid as
// long as its tree does and the node is not dropped.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/emitterstyle.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>

namespace config {

enum class YamlType : std::uint8_t { kNull, kScalar, kSequence, kMap };

class YamlTree;
struct YamlItem;

// One node of a YamlTree, or a null node with no position (default).
class YamlNode {
 public:
  YamlNode() = default;
  YamlNode(const YamlTree* tree, std::uint32_t index) : tree_(tree), index_(index) {}

  YamlType Type() const;
  bool IsNull() const { return Type() == YamlType::kNull; }
  bool IsScalar() const { return Type() == YamlType::kScalar; }
  bool IsSequence() const { return Type() == YamlType::kSequence; }
  bool IsMap() const { return Type() == YamlType::kMap; }

  // The text of a scalar; "" for any other node.
  const std::string& Scalar() const;
  // Where the node starts (0-based); a null mark when it has no position
  // (a default node, a value given by --set).
  YAML::Mark Mark() const;
  bool IsFlow() const;
  // Items of a list, entries of a mapping; 0 otherwise.
  std::size_t size() const;
  // The i-th item of a list; a null node when out of range or not a list.
  YamlNode operator[](std::size_t i) const;

  // A value whose `${VAR}` could not be expanded was reported as such; its
  // raw text would only draw echo reports ("'${X' is no duration"), so
  // readers stay quiet about such values.
  bool unusable() const;

  bool has_tree() const { return tree_ != nullptr; }
  const YamlTree* tree() const { return tree_; }
  std::uint32_t index() const { return index_; }
  friend bool operator==(const YamlNode& a, const YamlNode& b) {
    return a.tree_ == b.tree_ && a.index_ == b.index_;
  }

  // Iterating a list gives its items; iterating a mapping gives entries with
  // `first` (the key) and `second` (the value), as with yaml-cpp.
  class Iterator;
  Iterator begin() const;
  Iterator end() const;

 private:
  const YamlTree* tree_ = nullptr;
  std::uint32_t index_ = 0;
};

// What iteration yields: the item itself (lists) or key and value (mappings).
struct YamlItem : YamlNode {
  YamlNode first;
  YamlNode second;
};

class YamlNode::Iterator {
 public:
  // `at` indexes the tree's child lists, so adding nodes while iterating is
  // safe.
  Iterator(const YamlTree* tree, std::uint32_t at, bool pairs)
      : tree_(tree), at_(at), pairs_(pairs) {}
  YamlItem operator*() const;
  Iterator& operator++() {
    at_ += pairs_ ? 2 : 1;
    return *this;
  }
  friend bool operator==(const Iterator& a, const Iterator& b) { return a.at_ == b.at_; }

 private:
  const YamlTree* tree_;
  std::uint32_t at_;
  bool pairs_;
};

// The node and everything under it, with positions, on one line; cut off at
// some depth (cycles) and some length (aliases repeated many times). For
// tests and the fuzzer, which compare parsers.
std::string DebugString(const YamlNode& node);

class YamlTree {
 public:
  YamlTree() = default;
  YamlTree(const YamlTree&) = delete;
  YamlTree& operator=(const YamlTree&) = delete;

  // Changes a scalar in place (${VAR} expansion): every alias of it sees the
  // new text.
  void SetScalar(YamlNode node, std::string text);
  void MarkUnusable(YamlNode node);
  // Marks a node as walked; true the first time (see document.cpp).
  bool MarkVisited(YamlNode node);

  // A new mapping with the entries of `map` (none when it is no mapping),
  // `key` set to `value`: replaced where it was, else added at the end.
  YamlNode WithEntry(YamlNode map, const std::string& key, YamlNode value);
  // `text` parsed as YAML into this tree with no positions (a --set value);
  // text that is not YAML becomes a plain string.
  YamlNode ParseDetached(const std::string& text);

  std::size_t node_count() const { return nodes_.size(); }
  // Drops every node (a parse that is started over).
  void Clear() { Truncate(0, 0); }

 private:
  friend class YamlNode;
  friend class YamlTreeBuilder;

  struct Data {
    std::string scalar;
    YAML::Mark mark = YAML::Mark::null_mark();
    std::uint32_t first = 0;  // children: refs_[first, first + count)
    std::uint32_t count = 0;  // twice the entries for a mapping
    YamlType type = YamlType::kNull;
    bool flow = false;
    bool unusable = false;
    bool visited = false;
  };

  std::uint32_t Add(YamlType type, const YAML::Mark& mark);
  // Drops every node and child list added after the given sizes.
  void Truncate(std::size_t nodes, std::size_t refs);

  // A deque, so that references to scalars stay valid while nodes are added.
  std::deque<Data> nodes_;
  std::vector<std::uint32_t> refs_;
};

// Builds a YamlTree from the events of one document (YAML::Parser::
// HandleNextDocument). When `on_jobs` is set, the items of the first
// top-level `jobs:` key whose value is a list are handed over one by one as
// they complete, and dropped from the tree afterwards unless something later
// could refer to them (an anchor inside) or the hook asks to keep them.
class YamlTreeBuilder : public YAML::EventHandler {
 public:
  struct JobsHooks {
    // The `jobs:` list starts; `before` is a mapping of the top-level entries
    // that precede it.
    std::function<void(YamlNode before)> on_start;
    // One item is complete; its position in the list. Returns whether the
    // item must stay in the tree.
    std::function<bool(YamlNode item, std::size_t index)> on_item;
  };

  // `positions` false builds nodes without marks (for --set values).
  YamlTreeBuilder(YamlTree& tree, bool positions, JobsHooks hooks = {});

  // The document's root; a null node before any document was read.
  YamlNode root() const;
  // Where the document started, and whether it held anything but null.
  YAML::Mark document_start() const { return document_start_; }
  bool document_empty() const;
  bool jobs_started() const { return jobs_list_.has_value(); }
  std::size_t jobs_items() const { return jobs_items_; }

  void OnDocumentStart(const YAML::Mark& mark) override;
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override;
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override;
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override;
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value style) override;
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value style) override;
  void OnMapEnd() override { Close(); }

 private:
  struct Open {
    std::uint32_t node;
    std::size_t first_child;  // in pending_
  };

  std::uint32_t New(YamlType type, const YAML::Mark& mark, YAML::anchor_t anchor);
  void OpenCollection(std::uint32_t node);
  void Close();
  // A node is complete: it becomes the root or the next child of the
  // innermost open collection.
  void Complete(std::uint32_t node);
  bool InJobsList() const {
    return jobs_list_ && open_.size() == 2 && open_[1].node == *jobs_list_;
  }

  YamlTree& tree_;
  const bool positions_;
  JobsHooks hooks_;

  std::optional<std::uint32_t> root_;
  YAML::Mark document_start_ = YAML::Mark::null_mark();
  std::vector<Open> open_;
  std::vector<std::uint32_t> pending_;  // children of the open collections
  std::vector<std::uint32_t> anchors_;  // node by anchor number
  std::size_t anchors_defined_ = 0;

  // The `jobs:` list, once its key was seen at the top level.
  bool jobs_key_seen_ = false;
  bool jobs_value_next_ = false;
  std::optional<std::uint32_t> jobs_list_;
  std::size_t jobs_items_ = 0;
  // Where the current item's nodes begin, to drop them once it is read.
  bool item_open_ = false;
  std::size_t item_nodes_ = 0;
  std::size_t item_refs_ = 0;
  std::size_t item_anchors_ = 0;
};

}  // namespace config
