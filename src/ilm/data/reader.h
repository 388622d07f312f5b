// DocumentReader: the documents of many input files, in order, as a stream: plain text
// (a whole file, paragraphs or lines), JSON Lines (a text field or a chat `messages`
// array), CSV and TSV (a column), each possibly gzip- or zstd-compressed. Memory stays
// bounded whatever the size of the input: files are read in chunks, a document longer
// than max_document_bytes is cut into several, and a line longer than max_line_bytes is
// skipped without being held.
//
// Bad input (a malformed JSON line, a missing field, an unreadable file, a truncated
// stream, an empty file, an input set with no documents at all) is a problem: counted by
// kind, the first ones kept with file and line, and skipped (OnError::skip) or thrown as
// "file:line: message" (OnError::fail). Invalid UTF-8 in text is passed through as it is;
// the cleaning stage repairs or drops it. See docs/data-format.md, "Inputs for ilm data".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ilm/data/document.h"
#include "ilm/data/input_stream.h"

namespace ilm {

// automatic: by the extension under any .gz/.zst/.zstd: .jsonl/.json/.ndjson are JSON
// Lines, .csv CSV, .tsv TSV, anything else plain text.
enum class InputFormat { automatic, text, jsonl, csv, tsv };
enum class TextUnit {
  file,
  paragraph,
  line
};  // plain text: a whole file, blank-line-separated blocks, or lines
enum class OnError { skip, fail };

// "auto", "text", "jsonl", "csv", "tsv"; throws listing them on another name.
InputFormat input_format_from_name(const std::string& name);
// "file", "paragraph", "line"; throws listing them on another name.
TextUnit text_unit_from_name(const std::string& name);
// The format a file is read as under InputFormat::automatic.
InputFormat format_of_path(const std::filesystem::path& path);
const char* input_format_name(InputFormat format);

struct ReaderOptions {
  InputFormat format = InputFormat::automatic;
  TextUnit text_unit = TextUnit::file;
  // JSONL key or CSV/TSV column. For JSONL, "messages" (or a record with no text field
  // but a `messages` array) gives a chat record.
  std::string text_field = "text";
  std::string label_field;  // empty: none
  bool keep_record = false;
  OnError on_error = OnError::skip;
  // A longer text document is cut at the last blank line (else newline, else UTF-8
  // boundary) before this, into several documents; chat records are never cut.
  int64_t max_document_bytes = 16 << 20;
  // A longer JSONL line or CSV/TSV record is a problem ("line too long"), skipped.
  int64_t max_line_bytes = 64 << 20;
};

// kind: "malformed json", "invalid utf-8", "not an object", "missing field", "not a string",
// "bad messages", "line too long", "bad csv", "bad tsv", "unreadable file", "decompression",
// "empty file", "no documents".
struct InputProblem {
  std::string file;
  int64_t line = 0;  // 0: the problem is with the whole file
  std::string kind;
  std::string message;
};

struct ReadStats {
  int64_t files = 0;      // input files taken up, unreadable ones included
  int64_t records = 0;    // text units, JSONL lines (not blank) and CSV/TSV rows seen
  int64_t documents = 0;  // documents given
  int64_t skipped = 0;    // records and files skipped for a problem
  int64_t split = 0;      // records cut into several documents by max_document_bytes
  int64_t bytes = 0;      // uncompressed bytes read
  std::map<std::string, int64_t> problems;   // count per kind
  std::vector<InputProblem> first_problems;  // the first kMaxProblems, in order
  static constexpr size_t kMaxProblems = 20;
  void merge(const ReadStats& other);
};

// "file:line: message" ("file: message" for a whole file, the message alone for none).
std::string problem_text(const InputProblem& problem);

class DocumentReader {
 public:
  DocumentReader(std::vector<std::filesystem::path> files, ReaderOptions options);
  ~DocumentReader();
  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // The next document; false at the end. With OnError::fail, throws ilm::Error
  // "file:line: message" on the first problem.
  bool next(Document& doc);
  const ReadStats& stats() const;
  int64_t bytes_read() const;   // raw (compressed) bytes consumed across files, for progress
  int64_t total_bytes() const;  // sum of the files' sizes on disk

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ilm
