// The status page's files (lib/http_server/ui), compiled into the binary at
// build time, served at GET / (index.html) and GET /ui/<file>.
//
// Threads: any; the table is built once, on first use, and never changes.
#pragma once

#include <string_view>

namespace http {

struct UiAsset {
  std::string_view path;          // the request path: "/", "/ui/app.js", "/ui/app.css"
  std::string_view content_type;  // with its charset
  std::string_view body;
  std::string_view etag;  // a strong validator, quoted: a hash of the body
};

// The asset served at `path`, or null.
const UiAsset* FindUiAsset(std::string_view path);

}  // namespace http
