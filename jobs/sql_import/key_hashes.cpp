#include "jobs/sql_import/key_hashes.h"

#include <algorithm>

namespace jobs::sql_import {

void KeyHashes::Add(std::span<const std::optional<std::string>> row) {
  if (hashes_.size() >= kMaxRows) {
    complete_ = false;
    return;
  }
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a over the key's values
  auto mix = [&hash](unsigned char byte) { hash = (hash ^ byte) * 1099511628211ull; };
  for (std::size_t k : key_columns_) {
    if (row[k]) {
      for (char c : *row[k]) mix(static_cast<unsigned char>(c));
    }
    mix(0xFF);  // never in UTF-8 text: ("ab", "c") and ("a", "bc") differ
  }
  hashes_.push_back(hash);
}

bool KeyHashes::MayRepeat() {
  bool repeated = !complete_;
  if (!repeated) {
    std::sort(hashes_.begin(), hashes_.end());
    repeated = std::adjacent_find(hashes_.begin(), hashes_.end()) != hashes_.end();
  }
  hashes_.clear();
  hashes_.shrink_to_fit();
  return repeated;
}

}  // namespace jobs::sql_import
