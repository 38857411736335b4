// The design: a record is always parsed from one contiguous stretch of the
// read buffer. When the parse reaches the end of what has been read before
// the record ends, the record's bytes so far move to the front of the buffer
// (which doubles when they fill more than half of it, up to
// max_record_bytes), more is read behind them, and the record is parsed
// again from its start. That re-scan happens about once per buffer of input
// (plus once per doubling for a record longer than the buffer), and it keeps
// the hot path a plain loop over bytes with no state carried between reads.
//
// Fields are collected as offsets (into the buffer or the scratch string)
// and turned into string_views once the record is complete: the scratch
// string may reallocate while a later field of the same record is copied.
#include "csv/csv_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace csv {
namespace {

core::Error DataError(std::string message) {
  return core::Error{core::ErrorKind::kInvalidArgument, std::move(message), false};
}

std::string SizeText(std::size_t bytes) {
  if (bytes % (std::size_t(1) << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % (std::size_t(1) << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

void AppendLatin1(std::string& out, unsigned char c) {
  out.push_back(static_cast<char>(0xC0 | (c >> 6)));
  out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
}

enum class Step {
  kRecord,    // a record, from pos to next
  kBlank,     // a blank line to skip, from pos to next
  kMore,      // the record goes on past what has been read
  kUnclosed,  // the file ends inside quotes
};

struct Span {
  std::size_t offset;
  std::size_t size;
  bool in_scratch;
  bool quoted;
};

}  // namespace

struct Reader::State {
  ~State() {
    if (fd >= 0) ::close(fd);
  }

  core::Error Failure(core::ErrorKind kind, const std::string& what, bool retryable) const {
    return core::Error{kind, name + ": " + what, retryable};
  }

  core::Result<void> Refill();
  Step Parse();
  // Scans the unquoted text at `p` up to the delimiter, a line end or the end
  // of the file, appending it to scratch when `copy` is (or becomes) set.
  // False when the text goes on past what has been read.
  bool ScanUnquoted(std::size_t& p, bool& copy, std::size_t& seg, bool report_quote);

  // Set once in Open().
  std::filesystem::path file;
  std::string name;  // the file's name, as errors start
  ReaderOptions options;
  int fd = -1;
  std::array<bool, 256> unquoted_stop{};
  std::array<bool, 256> quoted_stop{};

  // The read buffer: [pos, end) is read and not yet returned.
  std::unique_ptr<char[]> buffer;
  std::size_t capacity = 0;
  std::size_t pos = 0;
  std::size_t end = 0;
  bool eof = false;
  bool bom_checked = false;
  bool done = false;
  std::uint64_t bytes_read = 0;
  std::uint64_t line = 1;  // the line pos is on
  std::optional<core::Error> failed;

  // The record being parsed; reused so that the hot path allocates nothing.
  std::vector<Span> spans;
  std::string scratch;
  std::string problem;
  std::size_t next = 0;           // where the parsed record (and its line end) ends
  std::size_t content_end = 0;    // where its last field ends
  std::uint64_t next_line = 0;    // the line `next` is on
  std::uint64_t unclosed_at = 0;  // the line of a quote that is never closed
};

core::Result<void> Reader::State::Refill() {
  const std::size_t keep = end - pos;
  if (keep > options.max_record_bytes + 1) {  // +1: a CR waiting for its LF
    return core::Unexpected(DataError(name + ": line " + std::to_string(line) +
                                      ": record longer than " +
                                      SizeText(options.max_record_bytes)));
  }
  if (keep > capacity / 2) {
    // Doubling keeps the re-scans of a long record linear in its length.
    const std::size_t grown =
        std::max(keep + 1, std::min(capacity * 2, options.max_record_bytes + 2));
    if (grown > capacity) {
      auto bigger = std::make_unique<char[]>(grown);
      std::memcpy(bigger.get(), buffer.get() + pos, keep);
      buffer = std::move(bigger);
      capacity = grown;
      pos = 0;
      end = keep;
    }
  }
  if (pos > 0) {
    std::memmove(buffer.get(), buffer.get() + pos, keep);
    pos = 0;
    end = keep;
  }
  for (;;) {
    const ssize_t n = ::read(fd, buffer.get() + end, capacity - end);
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::Unexpected(Failure(
          core::ErrorKind::kIo, std::string("cannot be read: ") + std::strerror(errno), true));
    }
    if (n == 0) {
      eof = true;
    } else {
      if (options.on_bytes) options.on_bytes(std::string_view(buffer.get() + end, std::size_t(n)));
      end += std::size_t(n);
      bytes_read += std::uint64_t(n);
    }
    return {};
  }
}

bool Reader::State::ScanUnquoted(std::size_t& p, bool& copy, std::size_t& seg, bool report_quote) {
  const char* b = buffer.get();
  const char delimiter = options.delimiter;
  for (;;) {
    while (p < end && !unquoted_stop[static_cast<unsigned char>(b[p])]) ++p;
    if (p == end) return eof;
    const char c = b[p];
    if (c == delimiter || c == '\n' || c == '\r') return true;
    if (c == '"') {
      if (report_quote && problem.empty()) problem = "a quote inside an unquoted field";
      ++p;
      continue;
    }
    // A latin-1 byte above 0x7F: two bytes in UTF-8.
    copy = true;
    scratch.append(b + seg, p - seg);
    AppendLatin1(scratch, static_cast<unsigned char>(c));
    seg = ++p;
  }
}

Step Reader::State::Parse() {
  const char* b = buffer.get();
  const char delimiter = options.delimiter;
  std::size_t p = pos;
  std::uint64_t ln = line;
  spans.clear();
  scratch.clear();
  problem.clear();

  // The caller guarantees pos < end.
  if (b[p] == '\n' || b[p] == '\r') {
    if (b[p] == '\r') {
      if (p + 1 == end && !eof) return Step::kMore;
      p += (p + 1 < end && b[p + 1] == '\n') ? 2 : 1;
    } else {
      ++p;
    }
    next = p;
    content_end = pos;
    next_line = ln + 1;
    if (options.skip_blank_lines) return Step::kBlank;
    spans.push_back(Span{pos, 0, false, false});
    return Step::kRecord;
  }

  for (;;) {
    Span span{p, 0, false, false};
    if (p == end) {
      if (!eof) return Step::kMore;
    } else if (b[p] == '"') {
      const std::uint64_t opened = ln;
      span.quoted = true;
      std::size_t seg = ++p;
      const std::size_t scratch_start = scratch.size();
      bool copy = false;
      for (;;) {
        while (p < end && !quoted_stop[static_cast<unsigned char>(b[p])]) ++p;
        if (p == end) {
          if (!eof) return Step::kMore;
          unclosed_at = opened;
          return Step::kUnclosed;
        }
        const char c = b[p];
        if (c == '"') {
          if (p + 1 == end && !eof) return Step::kMore;
          if (p + 1 < end && b[p + 1] == '"') {
            copy = true;
            scratch.append(b + seg, p + 1 - seg);  // up to and with one quote
            p += 2;
            seg = p;
            continue;
          }
          break;  // the closing quote
        }
        if (c == '\n') {
          ++ln;
          ++p;
        } else if (c == '\r') {
          if (p + 1 == end && !eof) return Step::kMore;
          if (p + 1 == end || b[p + 1] != '\n') ++ln;  // a lone CR is a line end too
          ++p;
        } else {
          copy = true;
          scratch.append(b + seg, p - seg);
          AppendLatin1(scratch, static_cast<unsigned char>(c));
          seg = ++p;
        }
      }
      if (copy) {
        scratch.append(b + seg, p - seg);
        span = Span{scratch_start, scratch.size() - scratch_start, true, true};
      } else {
        span = Span{seg, p - seg, false, true};
      }
      ++p;  // past the closing quote
      if (p == end && !eof) return Step::kMore;
      if (p < end && b[p] != delimiter && b[p] != '\n' && b[p] != '\r') {
        if (problem.empty()) problem = "text after a closing quote";
        // Keep the trailing text as part of the field, for whoever shows
        // the rejected record.
        if (!span.in_scratch) {
          scratch.append(b + span.offset, span.size);
          span = Span{scratch_start, span.size, true, true};
        }
        bool always = true;
        std::size_t tail = p;
        if (!ScanUnquoted(p, always, tail, false)) return Step::kMore;
        scratch.append(b + tail, p - tail);
        span.size = scratch.size() - span.offset;
      }
    } else {
      std::size_t seg = p;
      const std::size_t scratch_start = scratch.size();
      bool copy = false;
      if (!ScanUnquoted(p, copy, seg, true)) return Step::kMore;
      if (copy) {
        scratch.append(b + seg, p - seg);
        span = Span{scratch_start, scratch.size() - scratch_start, true, false};
      } else {
        span.size = p - span.offset;
      }
    }
    spans.push_back(span);

    content_end = p;
    if (p == end) {  // the end of the file: the last record needs no line end
      next = p;
      next_line = ln;
      return Step::kRecord;
    }
    if (b[p] == delimiter) {
      ++p;
      continue;
    }
    if (b[p] == '\r') {
      if (p + 1 == end && !eof) return Step::kMore;
      p += (p + 1 < end && b[p + 1] == '\n') ? 2 : 1;
    } else {
      ++p;
    }
    next = p;
    next_line = ln + 1;
    return Step::kRecord;
  }
}

Reader::Reader(std::unique_ptr<State> state) : state_(std::move(state)) {}
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

core::Result<Reader> Reader::Open(const std::filesystem::path& file, ReaderOptions options) {
  auto state = std::make_unique<State>();
  state->file = file;
  state->name = file.filename().string();
  const auto delimiter = static_cast<unsigned char>(options.delimiter);
  if (delimiter == 0 || delimiter > 0x7F || delimiter == '"' || delimiter == '\r' ||
      delimiter == '\n') {
    return core::Unexpected(
        DataError(state->name + ": the delimiter must be an ASCII character other than a quote, "
                                "CR, LF or NUL"));
  }
  if (options.buffer_bytes == 0 || options.max_record_bytes == 0) {
    return core::Unexpected(
        DataError(state->name + ": buffer_bytes and max_record_bytes must be above 0"));
  }
  state->fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (state->fd < 0) {
    const int error = errno;
    const bool missing = error == ENOENT || error == ENOTDIR;
    return core::Unexpected(
        state->Failure(missing ? core::ErrorKind::kNotFound : core::ErrorKind::kIo,
                       std::string("cannot be opened: ") + std::strerror(error), !missing));
  }
  for (unsigned char c : {'"', '\n', '\r'}) {
    state->unquoted_stop[c] = true;
    state->quoted_stop[c] = true;
  }
  state->unquoted_stop[delimiter] = true;
  if (options.encoding == Encoding::kLatin1) {
    for (int c = 0x80; c <= 0xFF; ++c) {
      state->unquoted_stop[std::size_t(c)] = true;
      state->quoted_stop[std::size_t(c)] = true;
    }
  }
  state->capacity = options.buffer_bytes;
  state->buffer = std::make_unique<char[]>(state->capacity);
  state->options = std::move(options);
  return Reader(std::move(state));
}

core::Result<bool> Reader::Next(Record& record) {
  State& s = *state_;
  if (s.failed) return core::Unexpected(*s.failed);
  auto fail = [&](core::Error error) -> core::Result<bool> {
    s.failed = error;
    return core::Unexpected(std::move(error));
  };
  for (;;) {
    if (s.done) return false;
    if (!s.bom_checked) {
      if (s.end - s.pos < 3 && !s.eof) {
        if (auto read = s.Refill(); !read) return fail(read.error());
        continue;
      }
      if (s.options.encoding == Encoding::kUtf8 && s.end - s.pos >= 3 &&
          std::memcmp(s.buffer.get() + s.pos, "\xEF\xBB\xBF", 3) == 0) {
        s.pos += 3;
      }
      s.bom_checked = true;
    }
    if (s.pos == s.end) {
      if (s.eof) {
        s.done = true;
        return false;
      }
      if (auto read = s.Refill(); !read) return fail(read.error());
      continue;
    }
    switch (s.Parse()) {
      case Step::kMore:
        if (auto read = s.Refill(); !read) return fail(read.error());
        continue;
      case Step::kUnclosed:
        return fail(DataError(s.name + ": line " + std::to_string(s.unclosed_at) +
                              ": a quoted field opened here is never closed (is the file "
                              "truncated?)"));
      case Step::kBlank:
        s.pos = s.next;
        s.line = s.next_line;
        continue;
      case Step::kRecord:
        break;
    }
    if (s.content_end - s.pos > s.options.max_record_bytes) {
      return fail(DataError(s.name + ": line " + std::to_string(s.line) + ": record longer than " +
                            SizeText(s.options.max_record_bytes)));
    }
    record.fields.clear();
    for (const Span& span : s.spans) {
      const char* base = span.in_scratch ? s.scratch.data() : s.buffer.get();
      record.fields.push_back(Field{std::string_view(base + span.offset, span.size), span.quoted});
    }
    record.line = s.line;
    record.problem.assign(s.problem);
    s.pos = s.next;
    s.line = s.next_line;
    return true;
  }
}

std::uint64_t Reader::bytes_read() const { return state_->bytes_read; }

const std::filesystem::path& Reader::file() const { return state_->file; }

}  // namespace csv
