#include "config/yaml_tree.h"

#include <sstream>

#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace config {

YamlType YamlNode::Type() const {
  return tree_ == nullptr ? YamlType::kNull : tree_->nodes_[index_].type;
}

const std::string& YamlNode::Scalar() const {
  static const std::string kEmpty;
  return tree_ == nullptr ? kEmpty : tree_->nodes_[index_].scalar;
}

YAML::Mark YamlNode::Mark() const {
  return tree_ == nullptr ? YAML::Mark::null_mark() : tree_->nodes_[index_].mark;
}

bool YamlNode::IsFlow() const { return tree_ != nullptr && tree_->nodes_[index_].flow; }

std::size_t YamlNode::size() const {
  if (tree_ == nullptr) return 0;
  const YamlTree::Data& data = tree_->nodes_[index_];
  return data.type == YamlType::kMap ? data.count / 2 : data.count;
}

YamlNode YamlNode::operator[](std::size_t i) const {
  if (!IsSequence() || i >= size()) return YamlNode();
  return YamlNode(tree_, tree_->refs_[tree_->nodes_[index_].first + i]);
}

bool YamlNode::unusable() const { return tree_ != nullptr && tree_->nodes_[index_].unusable; }

YamlNode::Iterator YamlNode::begin() const {
  if (tree_ == nullptr) return Iterator(nullptr, 0, false);
  const YamlTree::Data& data = tree_->nodes_[index_];
  return Iterator(tree_, data.first, data.type == YamlType::kMap);
}

YamlNode::Iterator YamlNode::end() const {
  if (tree_ == nullptr) return Iterator(nullptr, 0, false);
  const YamlTree::Data& data = tree_->nodes_[index_];
  return Iterator(tree_, data.first + data.count, data.type == YamlType::kMap);
}

YamlItem YamlNode::Iterator::operator*() const {
  YamlItem item;
  if (pairs_) {
    item.first = YamlNode(tree_, tree_->refs_[at_]);
    item.second = YamlNode(tree_, tree_->refs_[at_ + 1]);
  } else {
    static_cast<YamlNode&>(item) = YamlNode(tree_, tree_->refs_[at_]);
  }
  return item;
}

namespace {

// Deep or wide trees are cut short: aliases can make a small text a tree of
// billions of nodes (or a cycle, `&a [*a]`), and a debug string has no use
// for more than this.
constexpr std::size_t kMaxDebugBytes = 64 << 10;

void AppendDebug(const YamlNode& node, int depth, std::string& out) {
  if (out.size() > kMaxDebugBytes) return;
  out += std::to_string(node.Mark().line) + ":" + std::to_string(node.Mark().column);
  if (depth > 12) {
    out += "...";
    return;
  }
  switch (node.Type()) {
    case YamlType::kNull:
      out += " ~";
      return;
    case YamlType::kScalar:
      out += " '" + node.Scalar() + "'";
      return;
    case YamlType::kSequence:
      out += node.IsFlow() ? " [" : " -(";
      for (const YamlNode& item : node) {
        AppendDebug(item, depth + 1, out);
        out += ", ";
      }
      out += ")";
      return;
    case YamlType::kMap:
      out += node.IsFlow() ? " {" : " m(";
      for (const YamlItem& entry : node) {
        AppendDebug(entry.first, depth + 1, out);
        out += ": ";
        AppendDebug(entry.second, depth + 1, out);
        out += ", ";
      }
      out += ")";
      return;
  }
}

}  // namespace

std::string DebugString(const YamlNode& node) {
  std::string out;
  AppendDebug(node, 0, out);
  return out;
}

std::uint32_t YamlTree::Add(YamlType type, const YAML::Mark& mark) {
  Data data;
  data.type = type;
  data.mark = mark;
  nodes_.push_back(std::move(data));
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

void YamlTree::Truncate(std::size_t nodes, std::size_t refs) {
  if (nodes < nodes_.size()) nodes_.resize(nodes);
  if (refs < refs_.size()) refs_.resize(refs);
}

void YamlTree::SetScalar(YamlNode node, std::string text) {
  if (node.tree() != this) return;
  Data& data = nodes_[node.index()];
  data.type = YamlType::kScalar;
  data.scalar = std::move(text);
}

void YamlTree::MarkUnusable(YamlNode node) {
  if (node.tree() == this) nodes_[node.index()].unusable = true;
}

bool YamlTree::MarkVisited(YamlNode node) {
  if (node.tree() != this) return true;
  Data& data = nodes_[node.index()];
  if (data.visited) return false;
  data.visited = true;
  return true;
}

YamlNode YamlTree::WithEntry(YamlNode map, const std::string& key, YamlNode value) {
  std::vector<std::uint32_t> children;
  bool replaced = false;
  YAML::Mark mark = YAML::Mark::null_mark();
  if (map.tree() == this && map.IsMap()) {
    const Data& data = nodes_[map.index()];
    mark = data.mark;
    children.assign(refs_.begin() + data.first, refs_.begin() + data.first + data.count);
    for (std::size_t i = 0; i + 1 < children.size(); i += 2) {
      const Data& k = nodes_[children[i]];
      if (k.type == YamlType::kScalar && k.scalar == key) {
        children[i + 1] = value.index();
        replaced = true;
        break;
      }
    }
  }
  if (!replaced) {
    const std::uint32_t k = Add(YamlType::kScalar, YAML::Mark::null_mark());
    nodes_[k].scalar = key;
    children.push_back(k);
    children.push_back(value.index());
  }
  const std::uint32_t out = Add(YamlType::kMap, mark);
  nodes_[out].first = static_cast<std::uint32_t>(refs_.size());
  nodes_[out].count = static_cast<std::uint32_t>(children.size());
  refs_.insert(refs_.end(), children.begin(), children.end());
  return YamlNode(this, out);
}

YamlNode YamlTree::ParseDetached(const std::string& text) {
  const std::size_t nodes = nodes_.size();
  const std::size_t refs = refs_.size();
  if (!text.empty()) {
    try {
      std::istringstream stream(text);
      YAML::Parser parser(stream);
      YamlTreeBuilder builder(*this, false);
      // One document only; a second one (or a stray token) is ignored.
      if (parser.HandleNextDocument(builder)) return builder.root();
      return YamlNode();
    } catch (const YAML::Exception&) {
      Truncate(nodes, refs);  // not YAML; take it as plain text
    }
  }
  const std::uint32_t node = Add(YamlType::kScalar, YAML::Mark::null_mark());
  nodes_[node].scalar = text;
  return YamlNode(this, node);
}

YamlTreeBuilder::YamlTreeBuilder(YamlTree& tree, bool positions, JobsHooks hooks)
    : tree_(tree), positions_(positions), hooks_(std::move(hooks)) {}

YamlNode YamlTreeBuilder::root() const { return root_ ? YamlNode(&tree_, *root_) : YamlNode(); }

bool YamlTreeBuilder::document_empty() const {
  return !root_ || tree_.nodes_[*root_].type == YamlType::kNull;
}

void YamlTreeBuilder::OnDocumentStart(const YAML::Mark& mark) { document_start_ = mark; }

std::uint32_t YamlTreeBuilder::New(YamlType type, const YAML::Mark& mark, YAML::anchor_t anchor) {
  if (InJobsList() && !item_open_) {
    item_open_ = true;
    item_nodes_ = tree_.nodes_.size();
    item_refs_ = tree_.refs_.size();
    item_anchors_ = anchors_defined_;
  }
  const std::uint32_t node = tree_.Add(type, positions_ ? mark : YAML::Mark::null_mark());
  if (anchor != 0) {
    if (anchors_.size() <= anchor) anchors_.resize(anchor + 1);
    anchors_[anchor] = node;
    ++anchors_defined_;
  }
  return node;
}

void YamlTreeBuilder::OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) {
  Complete(New(YamlType::kNull, mark, anchor));
}

void YamlTreeBuilder::OnAlias(const YAML::Mark&, YAML::anchor_t anchor) {
  // The parser refuses unknown anchors before it gets here.
  if (anchor >= anchors_.size()) throw YAML::ParserException(YAML::Mark::null_mark(), "bad alias");
  if (InJobsList() && !item_open_) {
    // An item that is only an alias adds no node; there is nothing to drop.
    item_open_ = true;
    item_nodes_ = tree_.nodes_.size();
    item_refs_ = tree_.refs_.size();
    item_anchors_ = anchors_defined_;
  }
  Complete(anchors_[anchor]);
}

void YamlTreeBuilder::OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                               const std::string& value) {
  const std::uint32_t node = New(YamlType::kScalar, mark, anchor);
  tree_.nodes_[node].scalar = value;
  Complete(node);
}

void YamlTreeBuilder::OnSequenceStart(const YAML::Mark& mark, const std::string&,
                                      YAML::anchor_t anchor, YAML::EmitterStyle::value style) {
  const std::uint32_t node = New(YamlType::kSequence, mark, anchor);
  tree_.nodes_[node].flow = style == YAML::EmitterStyle::Flow;
  // The value of the first top-level `jobs:` key.
  const bool jobs = jobs_value_next_ && hooks_.on_item && open_.size() == 1;
  OpenCollection(node);
  if (jobs) {
    jobs_list_ = node;
    if (hooks_.on_start) {
      // The entries so far, without the `jobs` key itself.
      const std::size_t first = open_[0].first_child;
      const std::size_t count = (pending_.size() - 1 - first) & ~std::size_t{1};
      const std::uint32_t before = tree_.Add(YamlType::kMap, tree_.nodes_[open_[0].node].mark);
      tree_.nodes_[before].first = static_cast<std::uint32_t>(tree_.refs_.size());
      tree_.nodes_[before].count = static_cast<std::uint32_t>(count);
      tree_.refs_.insert(tree_.refs_.end(), pending_.begin() + static_cast<std::ptrdiff_t>(first),
                         pending_.begin() + static_cast<std::ptrdiff_t>(first + count));
      hooks_.on_start(YamlNode(&tree_, before));
    }
  }
}

void YamlTreeBuilder::OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                                 YAML::EmitterStyle::value style) {
  const std::uint32_t node = New(YamlType::kMap, mark, anchor);
  tree_.nodes_[node].flow = style == YAML::EmitterStyle::Flow;
  OpenCollection(node);
}

void YamlTreeBuilder::OpenCollection(std::uint32_t node) {
  // A collection is added to its parent when it closes, but it takes up its
  // key or value slot in the top-level mapping now.
  if (open_.size() == 1 && tree_.nodes_[open_[0].node].type == YamlType::kMap) {
    jobs_value_next_ = false;
  }
  open_.push_back(Open{node, pending_.size()});
}

void YamlTreeBuilder::Close() {
  if (open_.empty()) return;
  const Open open = open_.back();
  open_.pop_back();
  YamlTree::Data& data = tree_.nodes_[open.node];
  data.first = static_cast<std::uint32_t>(tree_.refs_.size());
  data.count = static_cast<std::uint32_t>(pending_.size() - open.first_child);
  tree_.refs_.insert(tree_.refs_.end(),
                     pending_.begin() + static_cast<std::ptrdiff_t>(open.first_child),
                     pending_.end());
  pending_.resize(open.first_child);
  Complete(open.node);
}

void YamlTreeBuilder::Complete(std::uint32_t node) {
  if (open_.empty()) {
    root_ = node;
    return;
  }
  if (InJobsList()) {
    item_open_ = false;
    const bool keep = hooks_.on_item(YamlNode(&tree_, node), jobs_items_++);
    if (keep || anchors_defined_ != item_anchors_ || node < item_nodes_) {
      pending_.push_back(node);
    } else {
      tree_.Truncate(item_nodes_, item_refs_);
    }
    return;
  }
  if (open_.size() == 1 && hooks_.on_item && tree_.nodes_[open_[0].node].type == YamlType::kMap) {
    // Keys and values of the top-level mapping alternate.
    const bool is_key = (pending_.size() - open_[0].first_child) % 2 == 0;
    const YamlTree::Data& data = tree_.nodes_[node];
    jobs_value_next_ =
        is_key && !jobs_key_seen_ && data.type == YamlType::kScalar && data.scalar == "jobs";
    if (jobs_value_next_) jobs_key_seen_ = true;
  }
  pending_.push_back(node);
}

}  // namespace config
