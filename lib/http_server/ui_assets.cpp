#include "http_server/ui_assets.h"

#include <string>
#include <vector>

#include "crypto/sha256.h"
#include "http_server/embedded_files.h"

namespace http {
namespace {

std::string_view ContentTypeOf(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

struct Table {
  std::vector<std::string> paths;
  std::vector<std::string> etags;
  std::vector<UiAsset> assets;
};

Table Build() {
  Table table;
  const std::size_t n = detail::kEmbeddedFileCount;
  table.paths.reserve(n);
  table.etags.reserve(n);
  table.assets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const detail::EmbeddedFile& file = detail::kEmbeddedFiles[i];
    const std::string_view name = file.name;
    const std::string_view body(reinterpret_cast<const char*>(file.data), file.size);
    table.paths.push_back(name == "index.html" ? "/" : "/ui/" + std::string(name));
    // 128 bits of the SHA-256 tell any two versions of a file apart.
    table.etags.push_back("\"" + crypto::Sha256Hex(body).substr(0, 32) + "\"");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const detail::EmbeddedFile& file = detail::kEmbeddedFiles[i];
    table.assets.push_back(UiAsset{table.paths[i],
                                   ContentTypeOf(file.name),
                                   {reinterpret_cast<const char*>(file.data), file.size},
                                   table.etags[i]});
  }
  return table;
}

}  // namespace

const UiAsset* FindUiAsset(std::string_view path) {
  static const Table table = Build();
  for (const UiAsset& asset : table.assets) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace http
