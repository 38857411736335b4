// The files compiled into the binary (the status page), as the generated
// source (embed_files.cmake) lays them out. Private to lib/http_server:
// ui_assets.h is how the rest of it sees them.
#pragma once

#include <cstddef>

namespace http::detail {

struct EmbeddedFile {
  const char* name;  // relative to lib/http_server/ui, e.g. "app.js"
  const unsigned char* data;
  std::size_t size;
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace http::detail
