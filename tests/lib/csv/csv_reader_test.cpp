// csv::Reader on files written to a temp folder: RFC 4180's cases table by
// table, encodings, damage, and records that straddle reads (tiny buffers).
#include "csv/csv_reader.h"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace csv {
namespace {

// One temp folder per test, removed at its end.
class TempFolder {
 public:
  TempFolder() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("jobsd-csv-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path Write(const std::string& name, const std::string& bytes) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A field as the tests spell it: `"x"` for quoted, `x` for unquoted.
struct Want {
  std::string text;
  bool quoted;
  bool operator==(const Want&) const = default;
};
Want U(std::string text) { return Want{std::move(text), false}; }
Want Q(std::string text) { return Want{std::move(text), true}; }

struct Got {
  std::vector<Want> fields;
  std::uint64_t line;
  std::string problem;
};

std::ostream& operator<<(std::ostream& out, const Want& w) {
  return out << (w.quoted ? "Q(" : "U(") << '"' << w.text << "\")";
}

std::vector<Got> ReadAll(const std::filesystem::path& file, ReaderOptions options = {}) {
  auto reader = Reader::Open(file, std::move(options));
  INFO((reader ? "" : reader.error().message));
  REQUIRE(reader);
  std::vector<Got> out;
  Record record;
  for (;;) {
    auto more = reader->Next(record);
    INFO((more ? "" : more.error().message));
    REQUIRE(more);
    if (!*more) break;
    Got got{{}, record.line, record.problem};
    for (const Field& f : record.fields) got.fields.push_back(Want{std::string(f.text), f.quoted});
    out.push_back(std::move(got));
  }
  CHECK(reader->bytes_read() == std::filesystem::file_size(file));
  return out;
}

// The error reading `file` ends with.
core::Error ReadError(const std::filesystem::path& file, ReaderOptions options = {}) {
  auto reader = Reader::Open(file, std::move(options));
  REQUIRE(reader);
  Record record;
  core::Result<bool> more = true;
  while (more && *more) more = reader->Next(record);
  REQUIRE_FALSE(more);
  // The reader stays failed.
  auto again = reader->Next(record);
  REQUIRE_FALSE(again);
  CHECK(again.error().message == more.error().message);
  return more.error();
}

std::vector<std::vector<Want>> Fields(const std::vector<Got>& got) {
  std::vector<std::vector<Want>> out;
  for (const Got& g : got) out.push_back(g.fields);
  return out;
}

TEST_CASE("csv: RFC 4180's cases", "[csv]") {
  TempFolder folder;
  struct Case {
    std::string text;
    std::vector<std::vector<Want>> records;
  };
  const std::vector<Case> cases = {
      {"", {}},
      {"a", {{U("a")}}},
      {"a,b,c\n", {{U("a"), U("b"), U("c")}}},
      {"a,b\nc,d", {{U("a"), U("b")}, {U("c"), U("d")}}},  // no final line end
      {"a,b\r\nc,d\r\n", {{U("a"), U("b")}, {U("c"), U("d")}}},
      {"\"a\",\"b\"\n", {{Q("a"), Q("b")}}},
      {"\"a,b\",c\n", {{Q("a,b"), U("c")}}},
      {"\"a\nb\",c\n", {{Q("a\nb"), U("c")}}},
      {"\"a\r\nb\",c\r\n", {{Q("a\r\nb"), U("c")}}},
      {"\"say \"\"hi\"\"\"\n", {{Q("say \"hi\"")}}},
      {"\"\"\"\"\n", {{Q("\"")}}},
      {"\"\",,\"\"\n", {{Q(""), U(""), Q("")}}},
      {",\n", {{U(""), U("")}}},
      {"a,\n", {{U("a"), U("")}}},
      {"a,", {{U("a"), U("")}}},
      {",", {{U(""), U("")}}},
      {"\"a\"", {{Q("a")}}},
      {"\"a\"\r\n", {{Q("a")}}},
      {" a , b \n", {{U(" a "), U(" b ")}}},                 // spaces are part of a field
      {"a,b\rc,d\r", {{U("a"), U("b")}, {U("c"), U("d")}}},  // a lone CR ends a line
      {"\"a\rb\"\n", {{Q("a\rb")}}},
      {"\xE2\x82\xAC,\"\xC3\xA9\"\n", {{U("\xE2\x82\xAC"), Q("\xC3\xA9")}}},  // UTF-8 as is
  };
  for (const Case& c : cases) {
    INFO("input: " << c.text);
    const auto file = folder.Write("rfc.csv", c.text);
    CHECK(Fields(ReadAll(file)) == c.records);
  }
}

TEST_CASE("csv: line numbers count blank lines and embedded line breaks", "[csv]") {
  TempFolder folder;
  const auto file = folder.Write("lines.csv", "a\n\n\"b\nc\r\nd\",e\n\r\n\r\nf\r\"g\rh\"\ni\n\n");
  const auto got = ReadAll(file);
  REQUIRE(got.size() == 5);
  CHECK(got[0].line == 1);
  CHECK(got[1].line == 3);  // "b\nc\r\nd" spans lines 3 to 5
  CHECK(got[1].fields == std::vector<Want>{Q("b\nc\r\nd"), U("e")});
  CHECK(got[2].line == 8);
  CHECK(got[2].fields == std::vector<Want>{U("f")});
  CHECK(got[3].line == 9);  // "g\rh": a lone CR counts as a line
  CHECK(got[4].line == 11);
  CHECK(got[4].fields == std::vector<Want>{U("i")});

  SECTION("blank lines kept as records of one empty field") {
    ReaderOptions options;
    options.skip_blank_lines = false;
    const auto kept = ReadAll(folder.Write("kept.csv", "a\n\nb\r\n\r\n"), options);
    REQUIRE(kept.size() == 4);
    CHECK(kept[1].fields == std::vector<Want>{U("")});
    CHECK(kept[1].line == 2);
    CHECK(kept[3].line == 4);
  }
}

TEST_CASE("csv: a UTF-8 BOM at the start is dropped", "[csv]") {
  TempFolder folder;
  const auto file = folder.Write("bom.csv", "\xEF\xBB\xBFid,name\n1,\xEF\xBB\xBFx\n");
  CHECK(Fields(ReadAll(file)) ==
        std::vector<std::vector<Want>>{{U("id"), U("name")}, {U("1"), U("\xEF\xBB\xBFx")}});
  CHECK(Fields(ReadAll(folder.Write("only.csv", "\xEF\xBB\xBF"))).empty());
  CHECK(Fields(ReadAll(folder.Write("quoted.csv", "\xEF\xBB\xBF\"a\"\n"))) ==
        std::vector<std::vector<Want>>{{Q("a")}});
  ReaderOptions latin1;
  latin1.encoding = Encoding::kLatin1;
  CHECK(Fields(ReadAll(folder.Write("l.csv", "\xEF\xBB\xBFx\n"), latin1)) ==
        std::vector<std::vector<Want>>{{U("\xC3\xAF\xC2\xBB\xC2\xBFx")}});  // latin-1 has no BOM
}

TEST_CASE("csv: other delimiters", "[csv]") {
  TempFolder folder;
  for (char delimiter : {';', '\t', '|'}) {
    const std::string d(1, delimiter);
    INFO("delimiter " << int(delimiter));
    ReaderOptions options;
    options.delimiter = delimiter;
    const auto file = folder.Write("d.csv", "a" + d + "b,c" + d + "\"x" + d + "y\"\n" + d + "\n");
    CHECK(Fields(ReadAll(file, options)) ==
          std::vector<std::vector<Want>>{{U("a"), U("b,c"), Q("x" + d + "y")}, {U(""), U("")}});
  }
  for (char bad : {'"', '\n', '\r', '\0', '\xE9'}) {
    ReaderOptions options;
    options.delimiter = bad;
    auto reader = Reader::Open(folder.Write("x.csv", "a"), options);
    REQUIRE_FALSE(reader);
    CHECK(reader.error().kind == core::ErrorKind::kInvalidArgument);
  }
}

TEST_CASE("csv: latin-1 is converted to UTF-8", "[csv]") {
  TempFolder folder;
  ReaderOptions options;
  options.encoding = Encoding::kLatin1;
  const auto file =
      folder.Write("latin1.csv", "caf\xE9,\"na\xEFve \"\"\xE0\"\"\",plain,\xFF\n\"\xA9\"\n");
  CHECK(Fields(ReadAll(file, options)) ==
        std::vector<std::vector<Want>>{
            {U("caf\xC3\xA9"), Q("na\xC3\xAFve \"\xC3\xA0\""), U("plain"), U("\xC3\xBF")},
            {Q("\xC2\xA9")}});
  // In UTF-8 mode the same bytes pass through unchecked.
  CHECK(Fields(ReadAll(folder.Write("raw.csv", "caf\xE9\n"))) ==
        std::vector<std::vector<Want>>{{U("caf\xE9")}});
}

TEST_CASE("csv: malformed records come back with a problem; the file goes on", "[csv]") {
  TempFolder folder;
  const auto file =
      folder.Write("bad.csv", "ok,1\nab\"c,2\n\"x\"y,3\n\"x\" ,4\n\"a\"\"\"b\xE9,5\nok,6\n\"p\"q");
  const auto got = ReadAll(file);
  REQUIRE(got.size() == 7);
  CHECK(got[0].problem.empty());
  CHECK(got[1].problem == "a quote inside an unquoted field");
  CHECK(got[1].fields == std::vector<Want>{U("ab\"c"), U("2")});
  CHECK(got[1].line == 2);
  CHECK(got[2].problem == "text after a closing quote");
  CHECK(got[2].fields == std::vector<Want>{Q("xy"), U("3")});
  CHECK(got[3].problem == "text after a closing quote");
  CHECK(got[3].fields == std::vector<Want>{Q("x "), U("4")});
  CHECK(got[4].problem == "text after a closing quote");
  CHECK(got[4].fields == std::vector<Want>{Q("a\"b\xE9"), U("5")});
  CHECK(got[5].problem.empty());  // the problem does not stick to the next record
  CHECK(got[5].fields == std::vector<Want>{U("ok"), U("6")});
  CHECK(got[6].problem == "text after a closing quote");
  CHECK(got[6].fields == std::vector<Want>{Q("pq")});
}

TEST_CASE("csv: a quote never closed fails the file at the line it opened", "[csv]") {
  TempFolder folder;
  const auto error =
      ReadError(folder.Write("sales.csv", "a,b\n\"1\nx\",2\nc,\"unterminated\nmore\n"));
  CHECK(error.message ==
        "sales.csv: line 4: a quoted field opened here is never closed (is the file truncated?)");
  CHECK(error.kind == core::ErrorKind::kInvalidArgument);
  CHECK_FALSE(error.retryable);
  CHECK(ReadError(folder.Write("q.csv", "\"")).message.find("q.csv: line 1: a quoted") == 0);
  CHECK(ReadError(folder.Write("q.csv", "\"a\"\"")).message.find("line 1: a quoted") !=
        std::string::npos);
}

TEST_CASE("csv: a record longer than max_record_bytes fails the file", "[csv]") {
  TempFolder folder;
  ReaderOptions options;
  options.max_record_bytes = 1024;
  options.buffer_bytes = 256;
  const std::string fits(1024, 'x');
  const auto ok = ReadAll(folder.Write("fits.csv", "a\n" + fits + "\r\n" + fits), options);
  REQUIRE(ok.size() == 3);
  CHECK(ok[2].fields[0].text.size() == 1024);

  const auto error =
      ReadError(folder.Write("long.csv", "a\nb\n\"" + std::string(5000, 'y') + "\"\n"), options);
  CHECK(error.message == "long.csv: line 3: record longer than 1 KiB");
  CHECK_FALSE(error.retryable);
  // A runaway quote in a large file stops at the limit, not at the end of the file.
  std::string runaway = "x,\"oops\n";
  for (int i = 0; i < 1000; ++i) runaway += "a,b\n";
  CHECK(ReadError(folder.Write("runaway.csv", runaway), options).message ==
        "runaway.csv: line 1: record longer than 1 KiB");
  // Within a buffer larger than the limit too.
  options.buffer_bytes = 1 << 16;
  CHECK(
      ReadError(folder.Write("big.csv", "a\n" + std::string(2000, 'z') + "\n"), options).message ==
      "big.csv: line 2: record longer than 1 KiB");
  options.max_record_bytes = std::size_t(16) << 20;
  CHECK(
      ReadError(folder.Write("r.csv", "\"" + std::string((16 << 20) + 10, 'q')), options).message ==
      "r.csv: line 1: record longer than 16 MiB");
}

TEST_CASE("csv: records that straddle reads, for every buffer size", "[csv]") {
  TempFolder folder;
  // Quoted fields with "", CRLF and line breaks, latin-1 bytes, empty fields
  // and blank lines, so that every kind of byte lands on a read boundary.
  std::string text;
  std::vector<std::vector<Want>> want;
  std::vector<std::uint64_t> lines;
  std::uint64_t line = 1;
  for (int i = 0; i < 400; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 5) {
      case 0:
        text += n + ",\"q" + n + "\"\"x\"\"\",\r\n";
        want.push_back({U(n), Q("q" + n + "\"x\""), U("")});
        lines.push_back(line++);
        break;
      case 1:
        text += "\"multi\r\nline " + n + "\",\"a,b\"\n\n";
        want.push_back({Q("multi\r\nline " + n), Q("a,b")});
        lines.push_back(line);
        line += 3;
        break;
      case 2:
        text += "caf\xC3\xA9" + n + ",\"\",\"" + std::string(std::size_t(i), 'w') + "\"\n";
        want.push_back({U("caf\xC3\xA9" + n), Q(""), Q(std::string(std::size_t(i), 'w'))});
        lines.push_back(line++);
        break;
      case 3:
        text += std::string(std::size_t(i % 97 + 1), 'u') + "\r";
        want.push_back({U(std::string(std::size_t(i % 97 + 1), 'u'))});
        lines.push_back(line++);
        break;
      default:
        text += "\"\"\"\"," + n + "\r\n";
        want.push_back({Q("\""), U(n)});
        lines.push_back(line++);
        break;
    }
  }
  text += "\"last\"";
  want.push_back({Q("last")});
  lines.push_back(line);
  const auto file = folder.Write("straddle.csv", "\xEF\xBB\xBF" + text);
  for (std::size_t buffer : {1, 2, 3, 5, 7, 16, 61, 256, 4096, 1 << 18}) {
    INFO("buffer_bytes " << buffer);
    ReaderOptions options;
    options.buffer_bytes = buffer;
    std::string seen;
    int calls = 0;
    options.on_bytes = [&](std::string_view bytes) {
      seen += bytes;
      ++calls;
    };
    const auto got = ReadAll(file, options);
    CHECK(Fields(got) == want);
    std::vector<std::uint64_t> got_lines;
    for (const Got& g : got) got_lines.push_back(g.line);
    CHECK(got_lines == lines);
    CHECK(seen == "\xEF\xBB\xBF" + text);  // every byte once, in order
    if (buffer >= 4096) CHECK(calls <= 2 * int(text.size() / buffer) + 2);
  }
}

TEST_CASE("csv: a file that cannot be opened or read", "[csv]") {
  TempFolder folder;
  const auto missing = folder.path() / "sales.csv";
  auto reader = Reader::Open(missing);
  REQUIRE_FALSE(reader);
  CHECK(reader.error().message == "sales.csv: cannot be opened: No such file or directory");
  CHECK(reader.error().kind == core::ErrorKind::kNotFound);

  const auto dir = missing.parent_path() / "folder.csv";
  std::filesystem::create_directory(dir);
  auto opened = Reader::Open(dir);
  REQUIRE(opened);
  Record record;
  auto read = opened->Next(record);
  REQUIRE_FALSE(read);
  CHECK(read.error().message == "folder.csv: cannot be read: Is a directory");
  CHECK(read.error().kind == core::ErrorKind::kIo);
  CHECK(read.error().retryable);
  CHECK(opened->file() == dir);
}

TEST_CASE("csv: the end is sticky, and a moved reader reads on", "[csv]") {
  TempFolder folder;
  auto opened = Reader::Open(folder.Write("m.csv", "a\nb\n"));
  REQUIRE(opened);
  Reader reader = std::move(*opened);
  Record record;
  REQUIRE(*reader.Next(record));
  Reader moved = std::move(reader);
  REQUIRE(*moved.Next(record));
  CHECK(record.fields[0].text == "b");
  CHECK(record.line == 2);
  CHECK_FALSE(*moved.Next(record));
  CHECK_FALSE(*moved.Next(record));
  CHECK(moved.bytes_read() == 4);
}

TEST_CASE("csv: a million records", "[csv]") {
  TempFolder folder;
  std::string text = "id,name,amount\n";
  text.reserve(40 << 20);
  for (int i = 0; i < 1'000'000; ++i) {
    text += std::to_string(i);
    text += (i % 10 == 0) ? ",\"name, " + std::to_string(i) + "\"," : ",name,";
    text += std::to_string(i % 1000) + ".5\n";
  }
  const auto file = folder.Write("million.csv", text);
  auto reader = Reader::Open(file);
  REQUIRE(reader);
  Record record;
  REQUIRE(*reader->Next(record));
  std::uint64_t count = 0;
  bool all_right = true;
  for (;;) {
    auto more = reader->Next(record);
    REQUIRE(more);
    if (!*more) break;
    const auto i = count++;
    const std::string name = (i % 10 == 0) ? "name, " + std::to_string(i) : "name";
    all_right = all_right && record.fields.size() == 3 &&
                record.fields[0].text == std::to_string(i) && record.fields[1].text == name &&
                record.fields[1].quoted == (i % 10 == 0) && record.line == i + 2 &&
                record.problem.empty();
  }
  CHECK(count == 1'000'000);
  CHECK(all_right);
  CHECK(reader->bytes_read() == text.size());
}

}  // namespace
}  // namespace csv
