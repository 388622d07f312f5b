// The input readers of `ilm data`: every format, compression, bad input of every kind,
// document splitting, and that memory stays bounded.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/data/input_stream.h"
#include "ilm/data/reader.h"
#include "ilm/data/text_split.h"

#include "test_util.h"

namespace fs = std::filesystem;
using namespace ilm;
using namespace ilm::test;

namespace {

fs::path write(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, uLong(data.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

struct Read {
  std::vector<Document> docs;
  ReadStats stats;
};

Read read_all(std::vector<fs::path> files, ReaderOptions options = {}) {
  DocumentReader reader(std::move(files), options);
  Read r;
  Document d;
  while (reader.next(d)) r.docs.push_back(d);
  r.stats = reader.stats();
  EXPECT_FALSE(reader.next(d));  // stays at the end
  return r;
}

std::vector<std::string> texts(const Read& r) {
  std::vector<std::string> t;
  for (const auto& d : r.docs) t.push_back(d.text);
  return t;
}

std::vector<int64_t> lines(const Read& r) {
  std::vector<int64_t> l;
  for (const auto& d : r.docs) l.push_back(d.line);
  return l;
}

std::string stream_all(const fs::path& path) {
  auto in = InputStream::open(path);
  std::string out;
  char buf[7];  // small, so that reads end mid-block
  while (size_t n = in->read(buf, sizeof buf)) out.append(buf, n);
  return out;
}

using V = std::vector<std::string>;
using L = std::vector<int64_t>;

}  // namespace

// --- formats by name ---

TEST(Reader, FormatOfPath) {
  EXPECT_EQ(format_of_path("a/b.jsonl"), InputFormat::jsonl);
  EXPECT_EQ(format_of_path("b.JSON.gz"), InputFormat::jsonl);
  EXPECT_EQ(format_of_path("b.ndjson.zst"), InputFormat::jsonl);
  EXPECT_EQ(format_of_path("b.csv.gz"), InputFormat::csv);
  EXPECT_EQ(format_of_path("b.tsv"), InputFormat::tsv);
  EXPECT_EQ(format_of_path("b.txt.zst"), InputFormat::text);
  EXPECT_EQ(format_of_path("README"), InputFormat::text);
  EXPECT_EQ(format_of_path("x.gz"), InputFormat::text);
  EXPECT_EQ(input_format_from_name("csv"), InputFormat::csv);
  EXPECT_NE(error_of([] { input_format_from_name("xml"); }).find("auto, text, jsonl, csv or tsv"),
            std::string::npos);
  EXPECT_EQ(text_unit_from_name("paragraph"), TextUnit::paragraph);
}

// --- plain text ---

TEST(Reader, TextWholeFileKeepsBytesDropsBom) {
  TempDir t;
  const std::string bad_utf8 = "caf\xC3 \xFF\xFE end";
  write(t.path / "a.txt", "\xEF\xBB\xBFHello\r\nworld\n\n");
  write(t.path / "b.txt", bad_utf8);
  const Read r = read_all({t.path / "a.txt", t.path / "b.txt"});
  EXPECT_EQ(texts(r), (V{"Hello\r\nworld\n\n", bad_utf8}));
  EXPECT_EQ(lines(r), (L{1, 1}));
  EXPECT_EQ(r.docs[0].file, (t.path / "a.txt").string());
  EXPECT_EQ(r.docs[1].file, (t.path / "b.txt").string());
  EXPECT_EQ(r.stats.files, 2);
  EXPECT_EQ(r.stats.records, 2);
  EXPECT_EQ(r.stats.documents, 2);
  EXPECT_EQ(r.stats.bytes, int64_t(3 + 14 + bad_utf8.size()));
  EXPECT_TRUE(r.stats.problems.empty());
}

TEST(Reader, TextParagraphs) {
  TempDir t;
  write(t.path / "p.txt", "a\nb\n\n\n  \nc1\r\nc2\r\n\r\nd");
  ReaderOptions o;
  o.text_unit = TextUnit::paragraph;
  const Read r = read_all({t.path / "p.txt"}, o);
  EXPECT_EQ(texts(r), (V{"a\nb", "c1\r\nc2", "d"}));
  EXPECT_EQ(lines(r), (L{1, 6, 9}));
  EXPECT_EQ(r.stats.records, 3);
}

TEST(Reader, TextLines) {
  TempDir t;
  write(t.path / "l.txt", "one\r\n\n two \n\t\nthree");
  ReaderOptions o;
  o.text_unit = TextUnit::line;
  const Read r = read_all({t.path / "l.txt"}, o);
  EXPECT_EQ(texts(r), (V{"one", " two ", "three"}));
  EXPECT_EQ(lines(r), (L{1, 3, 5}));
}

// --- JSON Lines ---

TEST(Reader, JsonlTextLabelAndRecord) {
  TempDir t;
  write(t.path / "a.jsonl",
        "{\"text\": \"first\", \"label\": \"pos\", \"id\": 1}\n"
        "\n"
        "   \n"
        "{\"text\": \"sec\\nond\", \"label\": 3}\r\n"
        "{\"label\": true, \"text\": \"third\"}");
  ReaderOptions o;
  o.label_field = "label";
  o.keep_record = true;
  const Read r = read_all({t.path / "a.jsonl"}, o);
  EXPECT_EQ(texts(r), (V{"first", "sec\nond", "third"}));
  EXPECT_EQ(lines(r), (L{1, 4, 5}));
  EXPECT_EQ(r.docs[0].label, "pos");
  EXPECT_EQ(r.docs[1].label, "3");
  EXPECT_EQ(r.docs[2].label, "true");
  EXPECT_EQ(r.docs[0].record["id"], 1);
  EXPECT_EQ(r.stats.records, 3);
  EXPECT_TRUE(r.stats.problems.empty());
  // Without keep_record the record stays null; another text field by name.
  write(t.path / "b.jsonl", "{\"content\": \"x\", \"text\": 5}\n");
  ReaderOptions o2;
  o2.text_field = "content";
  const Read r2 = read_all({t.path / "b.jsonl"}, o2);
  EXPECT_EQ(texts(r2), (V{"x"}));
  EXPECT_TRUE(r2.docs[0].record.is_null());
  EXPECT_FALSE(r2.docs[0].label.has_value());
}

TEST(Reader, JsonlBadLinesAreCountedWithTheirLines) {
  TempDir t;
  const fs::path f = write(t.path / "bad.jsonl",
                           "{\"text\": \"ok 1\"}\n"           // 1
                           "{\"text\": \"broken\n"            // 2: malformed
                           "[1, 2]\n"                         // 3: not an object
                           "\n"                               // 4: blank
                           "{\"body\": \"x\", \"n\": 1}\n"    // 5: missing field
                           "{\"text\": 42}\n"                 // 6: not a string
                           "{\"text\": \"bad \xFF byte\"}\n"  // 7: invalid UTF-8
                           "{\"text\": \"ok 2\"}\n");         // 8
  const Read r = read_all({f});
  EXPECT_EQ(texts(r), (V{"ok 1", "ok 2"}));
  EXPECT_EQ(lines(r), (L{1, 8}));
  EXPECT_EQ(r.stats.records, 7);
  EXPECT_EQ(r.stats.skipped, 5);
  EXPECT_EQ(r.stats.problems.at("malformed json"), 1);
  EXPECT_EQ(r.stats.problems.at("not an object"), 1);
  EXPECT_EQ(r.stats.problems.at("missing field"), 1);
  EXPECT_EQ(r.stats.problems.at("not a string"), 1);
  EXPECT_EQ(r.stats.problems.at("invalid utf-8"), 1);
  ASSERT_EQ(r.stats.first_problems.size(), 5u);
  const auto& p = r.stats.first_problems;
  EXPECT_EQ(p[0].line, 2);
  EXPECT_EQ(p[0].file, f.string());
  EXPECT_EQ(p[1].line, 3);
  EXPECT_EQ(p[1].message, "expected a JSON object, found array");
  EXPECT_EQ(p[2].line, 5);
  EXPECT_EQ(p[2].message, "no field \"text\" (fields: body, n)");
  EXPECT_EQ(p[3].line, 6);
  EXPECT_EQ(p[3].message, "field \"text\" is number, expected a string");
  EXPECT_EQ(p[4].line, 7);
  EXPECT_EQ(problem_text(p[2]), f.string() + ":5: no field \"text\" (fields: body, n)");
}

TEST(Reader, JsonArrayFileGetsAHint) {
  TempDir t;
  const fs::path f = write(t.path / "a.json", "[\n{\"text\": \"a\"}\n]\n");
  const Read r = read_all({f});
  ASSERT_GE(r.stats.first_problems.size(), 1u);
  EXPECT_NE(r.stats.first_problems[0].message.find("a JSON array is not JSON Lines"),
            std::string::npos);
  EXPECT_EQ(r.docs.size(), 1u);  // line 2 is a record on its own
}

TEST(Reader, JsonlChatRecords) {
  TempDir t;
  const fs::path f = write(
      t.path / "chat.jsonl",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
      "{\"role\": \"assistant\", \"content\": \"Hello!\"}]}\n"
      "{\"messages\": []}\n"
      "{\"messages\": [{\"role\": \"user\"}]}\n"
      "{\"messages\": [\"hi\"]}\n"
      "{\"messages\": [{\"role\": \"user\", \"content\": [1]}]}\n"
      "{\"text\": \"plain\", \"messages\": [{\"role\": \"user\", \"content\": \"ignored\"}]}\n"
      "{\"messages\": \"hello\"}\n");
  const Read r = read_all({f});
  ASSERT_EQ(r.docs.size(), 2u);
  EXPECT_EQ(r.docs[0].text, "Hi\n\nHello!");
  ASSERT_EQ(r.docs[0].messages.size(), 2u);
  EXPECT_EQ(r.docs[0].messages[1].role, "assistant");
  EXPECT_EQ(r.docs[0].messages[1].content, "Hello!");
  EXPECT_EQ(r.docs[1].text, "plain");  // a text field wins under text_field "text"
  EXPECT_TRUE(r.docs[1].messages.empty());
  EXPECT_EQ(r.stats.problems.at("bad messages"), 5);
  const auto& p = r.stats.first_problems;
  EXPECT_EQ(p[0].line, 2);
  EXPECT_EQ(p[1].message, "messages[0].content is missing, expected a string");
  EXPECT_EQ(p[2].message, "messages[0] is string, expected an object");
  EXPECT_EQ(p[3].message, "messages[0].content is array, expected a string");
  EXPECT_EQ(p[4].message, "\"messages\" is string, expected an array");
  EXPECT_EQ(p[4].line, 7);
  // text_field "messages" asks for the chat even when a text field is there.
  ReaderOptions o;
  o.text_field = "messages";
  const Read r2 = read_all({f}, o);
  ASSERT_EQ(r2.docs.size(), 2u);
  EXPECT_EQ(r2.docs[1].text, "ignored");
  ASSERT_EQ(r2.docs[1].messages.size(), 1u);
  write(t.path / "nochat.jsonl", "{\"text\": \"no chat here\"}\n");
  const Read r3 = read_all({t.path / "nochat.jsonl"}, o);
  EXPECT_TRUE(r3.docs.empty());
  EXPECT_EQ(r3.stats.first_problems.at(0).message, "no field \"messages\" (fields: text)");
}

// --- CSV and TSV ---

TEST(Reader, CsvQuotesNewlinesCrlf) {
  TempDir t;
  const fs::path f = write(t.path / "a.csv",
                           "\xEF\xBB\xBFid,text,label\r\n"               // 1
                           "1,plain,x\r\n"                               // 2
                           "2,\"with, comma and \"\"quotes\"\"\",y\r\n"  // 3
                           "\r\n"                                        // 4: blank
                           "3,\"two\r\nlines\nthree\",z\r\n"             // 5-7
                           "4,\"\",\"\"\n"                               // 8
                           "5,last,w");                                  // 9
  ReaderOptions o;
  o.label_field = "label";
  o.keep_record = true;
  const Read r = read_all({f}, o);
  EXPECT_EQ(texts(r),
            (V{"plain", "with, comma and \"quotes\"", "two\r\nlines\nthree", "", "last"}));
  EXPECT_EQ(lines(r), (L{2, 3, 5, 8, 9}));
  EXPECT_EQ(r.docs[2].label, "z");
  EXPECT_EQ(r.docs[0].record, (nlohmann::json{{"id", "1"}, {"text", "plain"}, {"label", "x"}}));
  EXPECT_TRUE(r.stats.problems.empty());
}

TEST(Reader, CsvMissingColumnNamesFileAndColumns) {
  TempDir t;
  const fs::path f = write(t.path / "a.csv", "title,body\nx,y\n");
  const fs::path g = write(t.path / "b.csv", "text\nfine\n");
  const Read r = read_all({f, g});
  EXPECT_EQ(texts(r), (V{"fine"}));
  ASSERT_EQ(r.stats.first_problems.size(), 1u);
  EXPECT_EQ(
      problem_text(r.stats.first_problems[0]),
      f.string() + ":1: no column \"text\" (text_field) in the header (columns: title, body)");
  ReaderOptions o;
  o.on_error = OnError::fail;
  const std::string e = error_of([&] { read_all({f}, o); });
  EXPECT_EQ(
      e, f.string() + ":1: no column \"text\" (text_field) in the header (columns: title, body)");
}

TEST(Reader, CsvBadRows) {
  TempDir t;
  const fs::path f = write(t.path / "a.csv",
                           "a,text\n"
                           "1,ok\n"
                           "2,too,many\n"
                           "3,\"never closed\nmore\n");
  const Read r = read_all({f});
  EXPECT_EQ(texts(r), (V{"ok"}));
  EXPECT_EQ(r.stats.problems.at("bad csv"), 2);
  const auto& p = r.stats.first_problems;
  EXPECT_EQ(p[0].line, 3);
  EXPECT_EQ(p[0].message, "the row has 3 fields, the header has 2");
  EXPECT_EQ(p[1].line, 4);
  EXPECT_EQ(p[1].message, "the quoted field that starts on line 4 is not closed");
}

TEST(Reader, Tsv) {
  TempDir t;
  const fs::path f = write(t.path / "a.tsv",
                           "label\ttext\r\n"
                           "a\t\"quoted\" stays\r\n"
                           "b\tsecond, with comma\n"
                           "c\tx\ty\n");
  ReaderOptions o;
  o.label_field = "label";
  const Read r = read_all({f}, o);
  EXPECT_EQ(texts(r), (V{"\"quoted\" stays", "second, with comma"}));
  EXPECT_EQ(r.docs[1].label, "b");
  EXPECT_EQ(lines(r), (L{2, 3}));
  EXPECT_EQ(r.stats.problems.at("bad tsv"), 1);
  EXPECT_EQ(r.stats.first_problems[0].line, 4);
}

// --- compression ---

TEST(Reader, GzipAndZstdByMagic) {
  TempDir t;
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "{\"text\": \"line " + std::to_string(i) + "\"}\n";
  write(t.path / "a.jsonl.gz", gzip(big));
  write(t.path / "b.jsonl.zst", zstd(big));
  // Misnamed: the magic bytes decide, not the name.
  write(t.path / "c.txt", gzip("gzipped text"));
  write(t.path / "d.txt.gz", "not compressed at all");
  // Two gzip members one after the other read as one stream.
  write(t.path / "e.txt.gz", gzip("first half, ") + gzip("second half"));
  EXPECT_EQ(stream_all(t.path / "a.jsonl.gz"), big);
  EXPECT_EQ(stream_all(t.path / "b.jsonl.zst"), big);
  EXPECT_EQ(InputStream::open(t.path / "b.jsonl.zst")->compression(), Compression::zstd);
  EXPECT_EQ(stream_all(t.path / "e.txt.gz"), "first half, second half");

  const Read r = read_all({t.path / "a.jsonl.gz", t.path / "b.jsonl.zst", t.path / "c.txt",
                           t.path / "d.txt.gz", t.path / "e.txt.gz"});
  ASSERT_EQ(r.docs.size(), 40003u);
  EXPECT_EQ(r.docs[19999].text, "line 19999");
  EXPECT_EQ(r.docs[19999].line, 20000);
  EXPECT_EQ(r.docs[39999].text, "line 19999");
  EXPECT_EQ(r.docs[40000].text, "gzipped text");
  EXPECT_EQ(r.docs[40001].text, "not compressed at all");
  EXPECT_EQ(r.docs[40002].text, "first half, second half");
  EXPECT_EQ(r.stats.bytes, int64_t(2 * big.size() + 12 + 21 + 23));
  EXPECT_TRUE(r.stats.problems.empty());

  DocumentReader reader({t.path / "a.jsonl.gz", t.path / "b.jsonl.zst"}, {});
  EXPECT_EQ(reader.total_bytes(),
            int64_t(fs::file_size(t.path / "a.jsonl.gz") + fs::file_size(t.path / "b.jsonl.zst")));
  Document d;
  while (reader.next(d)) {
  }
  EXPECT_EQ(reader.bytes_read(), reader.total_bytes());
}

TEST(Reader, TruncatedAndCorruptStreams) {
  TempDir t;
  std::string big;
  for (int i = 0; i < 5000; ++i) big += "{\"text\": \"record " + std::to_string(i) + "\"}\n";
  const std::string gz = gzip(big), zs = zstd(big);
  const fs::path fg = write(t.path / "a.jsonl.gz", gz.substr(0, gz.size() / 2));
  const fs::path fz = write(t.path / "b.jsonl.zst", zs.substr(0, zs.size() / 2));
  std::string corrupt = gz;
  for (size_t i = 100; i < 140; ++i) corrupt[i] = char(corrupt[i] ^ 0x5a);
  const fs::path fc = write(t.path / "c.jsonl.gz", corrupt);
  const fs::path ok = write(t.path / "d.jsonl", "{\"text\": \"after\"}\n");

  EXPECT_NE(error_of([&] { stream_all(fg); }).find(fg.string() + ": truncated gzip stream"),
            std::string::npos);
  EXPECT_NE(error_of([&] { stream_all(fz); }).find(fz.string() + ": truncated zstd stream"),
            std::string::npos);
  EXPECT_NE(error_of([&] { stream_all(fc); }).find(fc.string() + ": corrupt gzip stream"),
            std::string::npos);

  const Read r = read_all({fg, fz, fc, ok});
  EXPECT_EQ(r.stats.problems.at("decompression"), 3);
  ASSERT_FALSE(r.docs.empty());
  EXPECT_EQ(r.docs.back().text, "after");  // the files after a broken one are still read
  // What came before the break are whole records, in order.
  for (size_t i = 0; i + 1 < r.docs.size() && r.docs[i].file == fg.string(); ++i)
    EXPECT_EQ(r.docs[i].text, "record " + std::to_string(i));
  EXPECT_EQ(r.stats.first_problems[0].file, fg.string());
  EXPECT_EQ(r.stats.first_problems[0].line, 0);

  ReaderOptions o;
  o.on_error = OnError::fail;
  EXPECT_NE(error_of([&] { read_all({fz}, o); }).find(fz.string() + ": truncated zstd stream"),
            std::string::npos);
}

// --- empty and unreadable inputs ---

TEST(Reader, EmptyFilesAndNoDocuments) {
  TempDir t;
  const fs::path e = write(t.path / "e.txt", "");
  const fs::path b = write(t.path / "b.jsonl", "\n  \n");
  const fs::path h = write(t.path / "h.csv", "text\n");
  const fs::path z = write(t.path / "z.txt.gz", gzip(""));
  const Read r = read_all({e, b, h, z});
  EXPECT_TRUE(r.docs.empty());
  EXPECT_EQ(r.stats.problems.at("empty file"), 4);
  EXPECT_EQ(r.stats.problems.at("no documents"), 1);
  ASSERT_EQ(r.stats.first_problems.size(), 5u);
  EXPECT_EQ(problem_text(r.stats.first_problems[0]), e.string() + ": the file is empty");
  EXPECT_EQ(problem_text(r.stats.first_problems[1]), b.string() + ": the file has no documents");
  EXPECT_EQ(problem_text(r.stats.first_problems[4]), "no documents in 4 input files");

  const Read none = read_all({});
  EXPECT_EQ(none.stats.problems.at("no documents"), 1);

  ReaderOptions o;
  o.on_error = OnError::fail;
  EXPECT_EQ(error_of([&] { read_all({e}, o); }), e.string() + ": the file is empty");
}

TEST(Reader, UnreadableFiles) {
  TempDir t;
  const fs::path missing = t.path / "missing.txt";
  const fs::path folder = t.path / "folder";
  fs::create_directory(folder);
  const fs::path ok = write(t.path / "ok.txt", "fine");
  const Read r = read_all({missing, folder, ok});
  EXPECT_EQ(texts(r), (V{"fine"}));
  EXPECT_EQ(r.stats.problems.at("unreadable file"), 2);
  EXPECT_EQ(problem_text(r.stats.first_problems[0]),
            missing.string() + ": cannot open: No such file or directory");
  EXPECT_EQ(problem_text(r.stats.first_problems[1]),
            folder.string() + ": is a folder, expected a file");

  if (geteuid() != 0) {  // root reads anything
    const fs::path locked = write(t.path / "locked.txt", "secret");
    chmod(locked.c_str(), 0);
    const Read r2 = read_all({locked, ok});
    EXPECT_EQ(r2.stats.problems.at("unreadable file"), 1);
  }
  ReaderOptions o;
  o.on_error = OnError::fail;
  EXPECT_EQ(error_of([&] {
              read_all({folder, ok}, o);
            }),
            folder.string() + ": is a folder, expected a file");
}

// --- long lines and long documents ---

TEST(Reader, TooLongLinesAreSkipped) {
  TempDir t;
  const fs::path f =
      write(t.path / "a.jsonl", "{\"text\": \"a\"}\n{\"text\": \"" + std::string(5000, 'x') +
                                    "\"}\n{\"text\": \"b\"}\n" + std::string(3000, 'y'));
  ReaderOptions o;
  o.max_line_bytes = 1000;
  const Read r = read_all({f}, o);
  EXPECT_EQ(texts(r), (V{"a", "b"}));
  EXPECT_EQ(lines(r), (L{1, 3}));
  EXPECT_EQ(r.stats.problems.at("line too long"), 2);
  EXPECT_EQ(r.stats.first_problems[0].line, 2);
  EXPECT_EQ(r.stats.first_problems[1].line, 4);

  const fs::path c =
      write(t.path / "a.csv", "text\nshort\n\"" + std::string(5000, 'z') + "\"\nend\n");
  const Read rc = read_all({c}, o);
  EXPECT_EQ(texts(rc), (V{"short", "end"}));
  EXPECT_EQ(rc.stats.problems.at("line too long"), 1);
  EXPECT_EQ(rc.stats.first_problems[0].line, 3);
}

TEST(Reader, DocumentCutKnownAnswers) {
  EXPECT_EQ(document_cut("aa\n\nbb\ncc dd", 9), 4u);  // after the blank line
  EXPECT_EQ(document_cut("aa\r\n\r\nbb cc", 8), 6u);  // a CRLF blank line
  EXPECT_EQ(document_cut("aa\nbb cc dd", 8), 3u);     // else after the newline
  EXPECT_EQ(document_cut("abcdefgh", 5), 5u);         // else at the limit
  EXPECT_EQ(document_cut("ab\xE2\x82\xAC"
                         "cd",
                         4),
            2u);                                               // not inside the euro sign
  EXPECT_EQ(document_cut("\x80\x80\x80\x80\x80\x80", 4), 4u);  // not UTF-8: at the limit
}

TEST(Reader, LongDocumentsAreSplitExactly) {
  TempDir t;
  std::string text;
  uint32_t s = 12345;
  const char* words[] = {"alpha ", "b\xC3\xA9ta ", "\xE6\xBC\xA2\xE5\xAD\x97 ", "\n",
                         "\n\n",   "\r\n",         "\xF0\x9F\x98\x80",          "x"};
  while (text.size() < 20000) {
    s = s * 1103515245u + 12345u;
    text += words[(s >> 16) % 8];
  }
  text += std::string(700, 'q');  // a run with no newline at all
  for (auto unit : {TextUnit::file, TextUnit::paragraph}) {
    const fs::path f = write(t.path / "long.txt", text);
    ReaderOptions o;
    o.max_document_bytes = 256;
    o.text_unit = unit;
    const Read r = read_all({f}, o);
    if (unit == TextUnit::file) {
      std::string joined;
      for (const auto& d : r.docs) {
        EXPECT_LE(d.text.size(), 256u);
        EXPECT_GT(d.text.size(), 0u);
        // A piece's line is the file line it starts on.
        EXPECT_EQ(d.line, 1 + std::count(joined.begin(), joined.end(), '\n'));
        joined += d.text;
      }
      EXPECT_EQ(joined, text);
      EXPECT_EQ(r.stats.split, 1);
      EXPECT_EQ(r.stats.records, 1);
      EXPECT_GT(r.docs.size(), 20000u / 256);
    } else {
      for (const auto& d : r.docs) EXPECT_LE(d.text.size(), 256u);
      EXPECT_GE(r.stats.split, 1);
    }
  }
  // JSONL: the pieces keep the record's line and label.
  const nlohmann::json j = {{"text", std::string(1000, 'a') + "\n\n" + std::string(100, 'b')},
                            {"label", "L"}};
  const fs::path f =
      write(t.path / "long.jsonl", "{\"text\": \"short\", \"label\": \"S\"}\n" + j.dump() + "\n");
  ReaderOptions o;
  o.max_document_bytes = 600;
  o.label_field = "label";
  const Read r = read_all({f}, o);
  // 1102 bytes: no blank line in the first 600, so at the limit; the 502 left fit.
  EXPECT_EQ(texts(r), (V{"short", std::string(600, 'a'),
                         std::string(400, 'a') + "\n\n" + std::string(100, 'b')}));
  EXPECT_EQ(lines(r), (L{1, 2, 2}));
  EXPECT_EQ(r.docs[1].label, "L");
  EXPECT_EQ(r.docs[2].label, "L");
  EXPECT_EQ(r.stats.split, 1);
  EXPECT_EQ(r.stats.documents, 3);
  // A line longer than a document, in line mode: cut between characters.
  const fs::path g = write(t.path / "line.txt", "\xC3\xA9\xC3\xA9\xC3\xA9\nz\n");
  o.max_document_bytes = 3;
  o.label_field.clear();
  o.text_unit = TextUnit::line;
  const Read rl = read_all({g}, o);
  EXPECT_EQ(texts(rl), (V{"\xC3\xA9", "\xC3\xA9", "\xC3\xA9", "z"}));
  EXPECT_EQ(lines(rl), (L{1, 1, 1, 2}));
}

// --- fail mode, several files, stats ---

TEST(Reader, FailModeThrowsFileAndLine) {
  TempDir t;
  const fs::path f = write(t.path / "a.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": nope}\n");
  ReaderOptions o;
  o.on_error = OnError::fail;
  DocumentReader reader({f}, o);
  Document d;
  ASSERT_TRUE(reader.next(d));
  const std::string e = error_of([&] { reader.next(d); });
  EXPECT_EQ(e.rfind(f.string() + ":3: not valid JSON: ", 0), 0u) << e;
  EXPECT_EQ(reader.stats().problems.at("malformed json"), 1);
}

TEST(Reader, StatsMerge) {
  ReadStats a, b;
  a.files = 1;
  a.documents = 2;
  a.problems["x"] = 1;
  b.files = 2;
  b.skipped = 3;
  b.problems["x"] = 2;
  b.problems["y"] = 1;
  for (int i = 0; i < 15; ++i) a.first_problems.push_back({"a", i, "x", "m"});
  for (int i = 0; i < 15; ++i) b.first_problems.push_back({"b", i, "x", "m"});
  a.merge(b);
  EXPECT_EQ(a.files, 3);
  EXPECT_EQ(a.documents, 2);
  EXPECT_EQ(a.skipped, 3);
  EXPECT_EQ(a.problems.at("x"), 3);
  EXPECT_EQ(a.problems.at("y"), 1);
  ASSERT_EQ(a.first_problems.size(), 20u);
  EXPECT_EQ(a.first_problems[15].file, "b");
}

// --- memory ---

namespace {
// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1.
int64_t proc_status_kb(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  return -1;
}
}  // namespace

// 50 MB of JSON Lines (gzip-compressed, to read the decompressor's path too) read with a
// peak memory far below the input's size: the readers hold chunks, not files.
TEST(Reader, MemoryStaysBounded) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine";
#endif
  TempDir t;
  const fs::path f = t.path / "big.jsonl.gz";
  {
    gzFile gz = gzopen(f.c_str(), "wb1");
    ASSERT_NE(gz, nullptr);
    std::string line;
    for (int i = 0; i < 50000; ++i) {
      line = "{\"text\": \"" + std::to_string(i) + std::string(1000, 'm') + "\"}\n";
      gzwrite(gz, line.data(), unsigned(line.size()));
    }
    gzclose(gz);
  }
  // Resets the peak (VmHWM) to the current size; Linux 4.0 and later.
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const int64_t before = proc_status_kb("VmRSS");
  const int64_t peak_before = proc_status_kb("VmHWM");
  if (before < 0 || peak_before < 0 || peak_before > before + 1024)
    GTEST_SKIP() << "no peak reset on this system";
  DocumentReader reader({f}, {});
  Document d;
  int64_t n = 0;
  while (reader.next(d)) ++n;
  EXPECT_EQ(n, 50000);
  EXPECT_GT(reader.stats().bytes, 50'000'000);
  const int64_t grown_kb = proc_status_kb("VmHWM") - before;
  EXPECT_LT(grown_kb, 16 * 1024) << "reading 50 MB took " << grown_kb << " kB more memory";
}
