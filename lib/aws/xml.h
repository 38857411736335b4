// A small XML reader for the documents AWS's REST APIs answer with: S3's
// <Error>, ListObjectsV2's <ListBucketResult>, the multipart upload
// results. Elements, their text and their children; nothing more.
//
// Read: the XML declaration, comments, processing instructions, CDATA,
// attributes (skipped), self-closing elements, the five named entities and
// numeric ones (&#38; &#x26;, written out as UTF-8). Namespace prefixes are
// dropped from names (<s3:Key> is "Key"). A DOCTYPE is refused (no entity
// expansion, ever), as are unknown entities, mismatched or missing end tags,
// text after the root element, and nesting deeper than 64.
//
// Failure: a truncated or malformed document is an Error (kUpstream, not
// retryable) saying what is wrong and at which byte offset; never the
// document itself. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace aws {

struct XmlElement {
  std::string name;  // local name, prefix dropped
  std::string text;  // the element's own character data, entities decoded
  std::vector<XmlElement> children;

  // The first child of that name; null when there is none.
  const XmlElement* Child(std::string_view child_name) const;
  // Every child of that name, in document order.
  std::vector<const XmlElement*> Children(std::string_view child_name) const;
  // The first such child's text; "" when there is none.
  std::string ChildText(std::string_view child_name) const;
};

core::Result<XmlElement> ParseXml(std::string_view document);

// `text` with &, <, >, " and ' written as entities: for values put into a
// request body (CompleteMultipartUpload's ETags).
std::string XmlEscape(std::string_view text);

}  // namespace aws
