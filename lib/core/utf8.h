// UTF-8 for text jobsd did not write: a job's output and errors, an
// upstream's answer. Such text is bytes; before it goes into JSON (which must
// be UTF-8) or onto a terminal (which obeys escape sequences) it passes
// through here.
//
// Well-formed means Unicode's Table 3-7: no overlong forms (C0 AF,
// E0 80 AF), no encoded surrogates (ED A0 80 .. ED BF BF), nothing above
// U+10FFFF (F4 90 80 80). An ill-formed stretch is replaced per "maximal
// subpart" (Unicode 3.9, the WHATWG decoder, Python's errors="replace"):
// one U+FFFD for each longest prefix of a would-be character, so a lone bad
// byte gives one U+FFFD and a truncated sequence too.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace core {

// What starts at `text[at]` (at < text.size()): a well-formed character of
// `length` bytes, or, when !valid, an ill-formed subsequence of `length`
// bytes (1..3) that one U+FFFD replaces.
struct Utf8Step {
  std::size_t length;
  bool valid;
};
Utf8Step NextUtf8(std::string_view text, std::size_t at);

// The length of the longest well-formed prefix of `text`; text.size() when
// all of it is well-formed.
std::size_t ValidUtf8Prefix(std::string_view text);
inline bool IsValidUtf8(std::string_view text) { return ValidUtf8Prefix(text) == text.size(); }

// `text` with every ill-formed subsequence replaced by U+FFFD; well-formed
// text (control characters included) is kept byte for byte.
void AppendValidUtf8(std::string& out, std::string_view text);
std::string ToValidUtf8(std::string_view text);

// `text` safe to print on a terminal, one line: ESC as \e, NUL as \0, LF,
// CR and tab as \n \r \t, other C0 controls, DEL and C1 controls (U+0080 ..
// U+009F) as \xNN, and each byte of an ill-formed subsequence as \xNN.
// Printable ASCII (the backslash too) and well-formed multi-byte text are
// kept as they are.
void AppendForTerminal(std::string& out, std::string_view text);
std::string EscapeForTerminal(std::string_view text);

// `text` cut to at most `max` bytes without splitting a well-formed
// character, with `mark` appended when anything was cut. Ill-formed bytes
// count as one byte each, so a cut never removes more than 3 bytes besides
// what is over `max`.
std::string CutUtf8(std::string text, std::size_t max, std::string_view mark = "...");

// The first offset at or after `at` that does not fall inside a well-formed
// character: where to start keeping the tail of a stream.
std::size_t NextUtf8Boundary(std::string_view text, std::size_t at);

}  // namespace core
