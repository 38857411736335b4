// Whether an import's staged rows may share a key, decided from a 64-bit
// hash of each row's key as it is staged: when no two hashes are equal,
// no two keys are, and the upsert needs no de-duplication pass (a GROUP BY
// or DISTINCT ON over the whole staging table, which costs about as much
// as the upsert itself). Equal hashes only send the run down the exact
// path, so a collision costs time, never correctness.
//
// Memory: 8 bytes a row up to kMaxRows (32 MiB); past that the answer is
// "maybe" and the database de-duplicates.
//
// One thread (the run's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace jobs::sql_import {

class KeyHashes {
 public:
  static constexpr std::size_t kMaxRows = std::size_t(4) << 20;

  // `key_columns`: the key's positions in a row.
  explicit KeyHashes(std::vector<std::size_t> key_columns) : key_columns_(std::move(key_columns)) {}

  void Add(std::span<const std::optional<std::string>> row);
  // Sorts what was added and forgets it: ask once, after the last Add.
  bool MayRepeat();

 private:
  std::vector<std::size_t> key_columns_;
  std::vector<std::uint64_t> hashes_;
  bool complete_ = true;
};

}  // namespace jobs::sql_import
