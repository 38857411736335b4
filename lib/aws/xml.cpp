#include "aws/xml.h"

#include <cctype>
#include <cstdint>
#include <utility>

namespace aws {
namespace {

constexpr int kMaxDepth = 64;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsNameChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '-' || c == '.' || c == ':' || u >= 0x80;
}

void AppendUtf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += char(code);
  } else if (code < 0x800) {
    out += char(0xC0 | (code >> 6));
    out += char(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += char(0xE0 | (code >> 12));
    out += char(0x80 | ((code >> 6) & 0x3F));
    out += char(0x80 | (code & 0x3F));
  } else {
    out += char(0xF0 | (code >> 18));
    out += char(0x80 | ((code >> 12) & 0x3F));
    out += char(0x80 | ((code >> 6) & 0x3F));
    out += char(0x80 | (code & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  core::Result<XmlElement> Document() {
    XmlElement root;
    SkipMisc();
    if (!failed_ && AtEnd()) {
      failed_ = true;
      message_ = "truncated XML: the document is empty";
    }
    if (!failed_ && !StartsWith("<")) Fail("expected an element");
    if (!failed_) Element(root, 1);
    if (!failed_) SkipMisc();
    if (!failed_ && !AtEnd()) Fail("text after the root element");
    if (failed_) return Failure();
    return root;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  bool StartsWith(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }

  void Fail(std::string what) {
    if (failed_) return;
    failed_ = true;
    message_ = "malformed XML: " + what + " at byte " + std::to_string(pos_);
  }
  void Truncated(std::string_view inside) {
    if (failed_) return;
    failed_ = true;
    message_ = "truncated XML: the document ends inside " + std::string(inside);
  }
  core::Unexpected Failure() const {
    return core::Unexpected(core::Error{core::ErrorKind::kUpstream, message_, false});
  }

  // Skips up to and past `end`; false (reported) when the text ends first.
  bool SkipPast(std::string_view end, std::string_view inside) {
    const std::size_t found = text_.find(end, pos_);
    if (found == std::string_view::npos) {
      pos_ = text_.size();
      Truncated(inside);
      return false;
    }
    pos_ = found + end.size();
    return true;
  }

  // White space, comments, processing instructions (the declaration).
  void SkipMisc() {
    while (!failed_) {
      while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
      if (StartsWith("<?")) {
        SkipPast("?>", "a processing instruction");
      } else if (StartsWith("<!--")) {
        SkipPast("-->", "a comment");
      } else if (StartsWith("<!")) {
        Fail("a DOCTYPE or declaration is not accepted");
      } else {
        return;
      }
    }
  }

  std::string Name() {
    const std::size_t start = pos_;
    while (!AtEnd() && IsNameChar(text_[pos_])) ++pos_;
    if (pos_ == start) {
      if (AtEnd()) {
        Truncated("a tag");
      } else {
        Fail("expected a name");
      }
      return {};
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  static std::string LocalName(const std::string& name) {
    const std::size_t colon = name.rfind(':');
    return colon == std::string::npos ? name : name.substr(colon + 1);
  }

  // An entity after its '&'; appended to `out`.
  void Entity(std::string& out) {
    std::size_t semi = pos_;
    while (semi < text_.size() && semi - pos_ <= 12 &&
           (std::isalnum(static_cast<unsigned char>(text_[semi])) || text_[semi] == '#')) {
      ++semi;
    }
    if (semi == text_.size()) {
      pos_ = text_.size();
      return Truncated("an entity");
    }
    if (text_[semi] != ';' || semi == pos_) return Fail("an '&' that starts no entity");
    const std::string_view name = text_.substr(pos_, semi - pos_);
    if (name == "amp") {
      out += '&';
    } else if (name == "lt") {
      out += '<';
    } else if (name == "gt") {
      out += '>';
    } else if (name == "quot") {
      out += '"';
    } else if (name == "apos") {
      out += '\'';
    } else if (name.size() >= 2 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string_view digits = name.substr(hex ? 2 : 1);
      std::uint32_t code = 0;
      if (digits.empty() || digits.size() > 8) return Fail("a bad character reference");
      for (char c : digits) {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        if (hex && c >= 'a' && c <= 'f') v = c - 'a' + 10;
        if (hex && c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v < 0) return Fail("a bad character reference");
        code = code * (hex ? 16 : 10) + std::uint32_t(v);
      }
      if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
        return Fail("a character reference to no character");
      }
      AppendUtf8(out, code);
    } else {
      return Fail("an unknown entity '&" + std::string(name) + ";'");
    }
    pos_ = semi + 1;
  }

  void Attributes() {
    while (!failed_) {
      while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
      if (AtEnd()) return Truncated("a tag");
      const char c = text_[pos_];
      if (c == '>' || c == '/') return;
      Name();
      if (failed_) return;
      while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
      if (AtEnd()) return Truncated("a tag");
      if (text_[pos_] != '=') return Fail("an attribute without a value");
      ++pos_;
      while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
      if (AtEnd()) return Truncated("a tag");
      const char quote = text_[pos_];
      if (quote != '"' && quote != '\'') return Fail("an unquoted attribute value");
      ++pos_;
      const std::size_t end = text_.find(quote, pos_);
      if (end == std::string_view::npos) {
        pos_ = text_.size();
        return Truncated("an attribute value");
      }
      pos_ = end + 1;
    }
  }

  // At '<' of a start tag.
  void Element(XmlElement& element, int depth) {
    if (depth > kMaxDepth) return Fail("elements nested too deep");
    ++pos_;
    const std::string name = Name();
    if (failed_) return;
    element.name = LocalName(name);
    Attributes();
    if (failed_) return;
    if (text_[pos_] == '/') {
      ++pos_;
      if (AtEnd()) return Truncated("a tag");
      if (text_[pos_] != '>') return Fail("expected '>'");
      ++pos_;
      return;
    }
    ++pos_;  // '>'
    while (!failed_) {
      if (AtEnd()) return Truncated("<" + name + ">");
      const char c = text_[pos_];
      if (c == '&') {
        ++pos_;
        Entity(element.text);
      } else if (c != '<') {
        element.text += c;
        ++pos_;
      } else if (StartsWith("</")) {
        pos_ += 2;
        const std::string end = Name();
        if (failed_) return;
        if (end != name) return Fail("</" + end + "> closes <" + name + ">");
        while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
        if (AtEnd()) return Truncated("a tag");
        if (text_[pos_] != '>') return Fail("expected '>'");
        ++pos_;
        return;
      } else if (StartsWith("<!--")) {
        SkipPast("-->", "a comment");
      } else if (StartsWith("<![CDATA[")) {
        pos_ += 9;
        const std::size_t end = text_.find("]]>", pos_);
        if (end == std::string_view::npos) {
          pos_ = text_.size();
          return Truncated("a CDATA section");
        }
        element.text += text_.substr(pos_, end - pos_);
        pos_ = end + 3;
      } else if (StartsWith("<?")) {
        SkipPast("?>", "a processing instruction");
      } else if (StartsWith("<!")) {
        return Fail("a declaration inside an element");
      } else {
        element.children.emplace_back();
        Element(element.children.back(), depth + 1);
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  std::string message_;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& child : children) {
    if (child.name == child_name) return &child;
  }
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view child_name) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& child : children) {
    if (child.name == child_name) out.push_back(&child);
  }
  return out;
}

std::string XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* child = Child(child_name);
  return child ? child->text : std::string();
}

core::Result<XmlElement> ParseXml(std::string_view document) { return Parser(document).Document(); }

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace aws
