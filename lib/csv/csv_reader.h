// A streaming reader of CSV files (RFC 4180): one record at a time from a
// file of any size, in a fixed buffer, so that memory stays flat for a 10 GB
// import.
//
// What it accepts:
// - Fields separated by `delimiter`, records by LF or CRLF. A CR that is not
//   followed by LF outside quotes is a line end too (old Mac files), and is
//   counted as one line.
// - Quoted fields with the delimiter, line breaks and `""` (one quote)
//   inside. Field::quoted tells `""` (an empty string) from an empty
//   unquoted field, which formats such as Athena's use for NULL.
// - A UTF-8 byte order mark at the very start is dropped (UTF-8 mode only).
// - The last record may lack its line end.
// - Blank lines (nothing between two line ends) are skipped, but counted in
//   line numbers, unless ReaderOptions::skip_blank_lines is false: then a
//   blank line is a record of one empty unquoted field.
//
// What it does not do: validate UTF-8 (the caller checks the fields it keeps)
// or check that records have the same number of fields.
//
// Failure has two levels:
// - A record that is malformed in a way the file can survive (a quote inside
//   an unquoted field, text after a closing quote) comes back with
//   Record::problem set; its fields are a best effort (the stray quote or the
//   trailing text kept as text). The caller rejects that record and goes on.
// - The file as a whole fails with a core::Error whose message starts with
//   the file's name and, for bad data, the line: a quoted field that is never
//   closed (the file is cut), a record longer than max_record_bytes (a
//   runaway quote would otherwise swallow the rest of the file into memory)
//   are kInvalidArgument, not retryable; a file that cannot be opened is
//   kNotFound (it does not exist; not retryable) or kIo (retryable), one that
//   cannot be read is kIo, retryable. After an Error, the reader is done.
//
// Speed: fields point into the read buffer; only a field with `""` inside, a
// latin-1 field with bytes above 0x7F, or a malformed one is copied (into a
// scratch buffer the reader keeps). Nothing is allocated per record once the
// record's vector and the buffers have grown to the largest record's size.
//
// Threads: one Reader is used by one thread at a time; it blocks on file
// reads, so on the worker pool only. It owns its file descriptor and buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace csv {

enum class Encoding { kUtf8, kLatin1 };

struct ReaderOptions {
  // Any ASCII character but '"', CR and LF.
  char delimiter = ',';
  // Latin-1 is converted to UTF-8 as it is read, so fields are UTF-8 either way.
  Encoding encoding = Encoding::kUtf8;
  // A record with more raw bytes than this (quotes included, its line end
  // not) fails the file: most likely a quote that is never closed. The read
  // buffer grows up to this size for a record longer than buffer_bytes.
  std::size_t max_record_bytes = std::size_t(16) << 20;
  // Called with every chunk of raw file bytes as it is read, BOM included,
  // each byte exactly once and in order (e.g. to hash the file in the same
  // pass); may be empty. Called from inside Next().
  std::function<void(std::string_view)> on_bytes;
  // The size of each read(2); small values are for tests of records that
  // straddle reads.
  std::size_t buffer_bytes = std::size_t(256) << 10;
  // See the note at the top: false keeps a blank line as a record of one
  // empty unquoted field (for formats where that is a row of one NULL).
  bool skip_blank_lines = true;
};

struct Field {
  std::string_view text;  // UTF-8 (unchecked), quotes removed, "" unescaped
  bool quoted = false;
};

struct Record {
  std::vector<Field> fields;  // views valid until the next Next() call
  std::uint64_t line = 0;     // 1-based line the record starts on (embedded newlines count)
  // Non-empty: the record is malformed but the file can go on ("a quote
  // inside an unquoted field", "text after a closing quote"); the caller
  // rejects the record and continues.
  std::string problem;
};

class Reader {
 public:
  // Opens `file` for reading; reads nothing yet. A bad delimiter or a zero
  // buffer size is kInvalidArgument.
  static core::Result<Reader> Open(const std::filesystem::path& file, ReaderOptions options = {});
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader();

  // The next record into `record` (its vector and strings are reused); false
  // at the end of the file, and on every call after that.
  core::Result<bool> Next(Record& record);
  // Raw bytes read from the file so far (what on_bytes has seen); the file's
  // size once Next() has returned false.
  std::uint64_t bytes_read() const;
  const std::filesystem::path& file() const;

 private:
  struct State;
  explicit Reader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace csv
