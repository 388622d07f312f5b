#include "ilm/data/reader.h"

#include <algorithm>
#include <deque>

#include "ilm/core/error.h"
#include "ilm/data/buffered_input.h"
#include "ilm/data/csv.h"
#include "ilm/data/text_split.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {

namespace {

constexpr size_t kChunk = size_t(1) << 20;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

const char* json_type(const json& j) {
  return j.type_name();
}

}  // namespace

InputFormat input_format_from_name(const std::string& name) {
  if (name == "auto" || name == "automatic") return InputFormat::automatic;
  if (name == "text" || name == "txt") return InputFormat::text;
  if (name == "jsonl" || name == "json") return InputFormat::jsonl;
  if (name == "csv") return InputFormat::csv;
  if (name == "tsv") return InputFormat::tsv;
  fail("unknown input format '{}': expected auto, text, jsonl, csv or tsv", name);
}

TextUnit text_unit_from_name(const std::string& name) {
  if (name == "file") return TextUnit::file;
  if (name == "paragraph") return TextUnit::paragraph;
  if (name == "line") return TextUnit::line;
  fail("unknown text unit '{}': expected file, paragraph or line", name);
}

const char* input_format_name(InputFormat format) {
  switch (format) {
    case InputFormat::automatic:
      return "auto";
    case InputFormat::text:
      return "text";
    case InputFormat::jsonl:
      return "jsonl";
    case InputFormat::csv:
      return "csv";
    case InputFormat::tsv:
      return "tsv";
  }
  return "?";
}

InputFormat format_of_path(const fs::path& path) {
  fs::path p = path;
  std::string ext = lower(p.extension().string());
  if (ext == ".gz" || ext == ".gzip" || ext == ".zst" || ext == ".zstd") {
    p = p.stem();
    ext = lower(p.extension().string());
  }
  if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") return InputFormat::jsonl;
  if (ext == ".csv") return InputFormat::csv;
  if (ext == ".tsv") return InputFormat::tsv;
  return InputFormat::text;
}

void ReadStats::merge(const ReadStats& other) {
  files += other.files;
  records += other.records;
  documents += other.documents;
  skipped += other.skipped;
  split += other.split;
  bytes += other.bytes;
  for (const auto& [kind, n] : other.problems) problems[kind] += n;
  for (const auto& p : other.first_problems) {
    if (first_problems.size() >= kMaxProblems) break;
    first_problems.push_back(p);
  }
}

std::string problem_text(const InputProblem& p) {
  if (p.file.empty()) return p.message;
  if (p.line <= 0) return fmt::format("{}: {}", p.file, p.message);
  return fmt::format("{}:{}: {}", p.file, p.line, p.message);
}

namespace {

// What a file parser reports to: documents out, problems and counts.
class FileContext {
 public:
  FileContext(const ReaderOptions& options, ReadStats& stats, std::deque<Document>& out,
              std::string file, BufferedInput& in)
      : options(options), file(std::move(file)), in(in), stats_(stats), out_(out) {}

  const ReaderOptions& options;
  const std::string file;
  BufferedInput& in;
  int64_t documents = 0, problems = 0;

  void record() { ++stats_.records; }

  // A problem with a record (line > 0) or the whole file (line 0): counted, kept among
  // the first ones, and thrown in fail mode.
  void problem(int64_t line, const std::string& kind, const std::string& message) {
    ++problems;
    ++stats_.skipped;
    ++stats_.problems[kind];
    InputProblem p{file, line, kind, message};
    if (stats_.first_problems.size() < ReadStats::kMaxProblems) stats_.first_problems.push_back(p);
    if (options.on_error == OnError::fail) throw Error(problem_text(p));
  }

  // Queues `doc`, cut into pieces of at most max_document_bytes unless it is a chat
  // record. With count_lines, each piece's line is where it starts in the file (plain
  // text); otherwise every piece keeps the record's line.
  void emit(Document&& doc, bool count_lines) {
    const size_t max = size_t(std::max<int64_t>(1, options.max_document_bytes));
    if (doc.messages.empty() && doc.text.size() > max) {
      ++stats_.split;
      std::string_view rest = doc.text;
      int64_t line = doc.line;
      while (!rest.empty()) {
        const size_t cut = rest.size() > max ? document_cut(rest, max) : rest.size();
        Document piece;
        piece.text.assign(rest.substr(0, cut));
        piece.file = file;
        piece.line = line;
        piece.label = doc.label;
        piece.record = doc.record;
        if (count_lines) line += std::count(piece.text.begin(), piece.text.end(), '\n');
        rest.remove_prefix(cut);
        push(std::move(piece));
      }
      return;
    }
    doc.file = file;
    push(std::move(doc));
  }

  // For text that arrives in parts: queues a piece that is already cut to size.
  void emit_piece(std::string text, int64_t line) {
    Document doc;
    doc.text = std::move(text);
    doc.file = file;
    doc.line = line;
    push(std::move(doc));
  }
  void count_split() { ++stats_.split; }

  bool has_output() const { return !out_.empty(); }

 private:
  void push(Document&& doc) {
    ++documents;
    out_.push_back(std::move(doc));
  }
  ReadStats& stats_;
  std::deque<Document>& out_;
};

class FileParser {
 public:
  explicit FileParser(FileContext& ctx) : ctx_(ctx) {}
  virtual ~FileParser() = default;
  // Reads on until a document is queued or the file ends; false when it has ended.
  virtual bool step() = 0;

 protected:
  FileContext& ctx_;
};

// Plain text: the unit being read grows in `unit_`; whenever it passes
// max_document_bytes its front is cut off and queued, so it never holds more.
class TextParser : public FileParser {
 public:
  explicit TextParser(FileContext& ctx)
      : FileParser(ctx), max_(size_t(std::max<int64_t>(1, ctx.options.max_document_bytes))) {}

  bool step() override {
    switch (ctx_.options.text_unit) {
      case TextUnit::file:
        return step_file();
      case TextUnit::paragraph:
        return step_paragraph();
      case TextUnit::line:
        return step_line();
    }
    return false;
  }

 private:
  bool step_file() {
    std::string chunk;
    while (!ctx_.has_output()) {
      chunk.clear();
      if (ctx_.in.read_some(chunk, kChunk) == 0) {
        if (!unit_.empty() || split_) ctx_.record();
        finish_unit();
        return ctx_.has_output();
      }
      add(chunk);
    }
    return true;
  }

  bool step_paragraph() {
    std::string line;
    while (!ctx_.has_output()) {
      line.clear();
      const auto got = ctx_.in.read_line(line, kChunk);
      if (got == BufferedInput::Line::end) {
        finish_paragraph();
        return ctx_.has_output();
      }
      if (!in_line_) {
        ++line_no_;
        if (got == BufferedInput::Line::complete && is_blank(line)) {
          finish_paragraph();
          continue;
        }
        if (!open_) {
          open_ = true;
          unit_line_ = line_no_;
          ctx_.record();
        }
      }
      add(line);
      in_line_ = got == BufferedInput::Line::partial;
      if (!in_line_) add("\n");
    }
    return true;
  }

  bool step_line() {
    std::string line;
    while (!ctx_.has_output()) {
      line.clear();
      const auto got = ctx_.in.read_line(line, kChunk);
      if (got == BufferedInput::Line::end) return false;
      if (!in_line_) {
        ++line_no_;
        if (got == BufferedInput::Line::complete && is_blank(line)) continue;
        unit_line_ = line_no_;
        ctx_.record();
      }
      add(line);
      in_line_ = got == BufferedInput::Line::partial;
      if (!in_line_) {
        if (!unit_.empty() && unit_.back() == '\r') unit_.pop_back();
        finish_unit();
      }
    }
    return true;
  }

  // Cuts from an offset and erases once, so that many small pieces of a large chunk cost
  // one pass, not one move of the rest per piece.
  void add(std::string_view s) {
    unit_.append(s);
    size_t start = 0;
    while (unit_.size() - start > max_) {
      const std::string_view rest(unit_.data() + start, unit_.size() - start);
      const size_t cut = document_cut(rest, max_);
      if (!split_) {
        split_ = true;
        ctx_.count_split();
      }
      std::string piece(rest.substr(0, cut));
      const int64_t line = unit_line_;
      unit_line_ += std::count(piece.begin(), piece.end(), '\n');
      ctx_.emit_piece(std::move(piece), line);
      start += cut;
    }
    if (start > 0) unit_.erase(0, start);
  }

  void finish_unit() {
    if (!unit_.empty()) ctx_.emit_piece(std::move(unit_), unit_line_);
    unit_.clear();
    split_ = false;
  }

  void finish_paragraph() {
    if (!open_) return;
    open_ = false;
    // The paragraph's last line ending is not part of it.
    if (!unit_.empty() && unit_.back() == '\n') unit_.pop_back();
    if (!unit_.empty() && unit_.back() == '\r') unit_.pop_back();
    finish_unit();
  }

  const size_t max_;
  std::string unit_;
  int64_t unit_line_ = 1, line_no_ = 0;
  bool in_line_ = false, open_ = false, split_ = false;
};

// The label of a record: a string as it is, a number or bool as JSON spells it.
bool label_of(const json& value, std::string& label) {
  if (value.is_string()) {
    label = value.get<std::string>();
    return true;
  }
  if (value.is_number() || value.is_boolean()) {
    label = value.dump();
    return true;
  }
  return false;
}

// JSON Lines: one object per line; blank lines are ignored.
class JsonlParser : public FileParser {
 public:
  using FileParser::FileParser;

  bool step() override {
    const ReaderOptions& opt = ctx_.options;
    const size_t max_line = size_t(std::max<int64_t>(1, opt.max_line_bytes));
    while (!ctx_.has_output()) {
      // A huge line leaves a huge buffer behind; give it back.
      if (line_.capacity() > 4 * kChunk) std::string().swap(line_);
      line_.clear();
      const auto got = ctx_.in.read_line(line_, max_line);
      if (got == BufferedInput::Line::end) return false;
      ++line_no_;
      if (got == BufferedInput::Line::partial) {
        ctx_.in.skip_line();
        ctx_.record();
        ctx_.problem(line_no_, "line too long",
                     fmt::format("line longer than {} bytes (max_line_bytes), skipped", max_line));
        continue;
      }
      if (is_blank(line_)) continue;
      ctx_.record();
      parse_line();
    }
    return true;
  }

 private:
  void parse_line() {
    const ReaderOptions& opt = ctx_.options;
    json j;
    try {
      j = json::parse(line_);
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
      if (auto at = what.find("] "); at != std::string::npos) what.erase(0, at + 2);
      // nlohmann quotes everything it read before the error ("last read: '...'"), which can be
      // the whole line: keep its last 40 bytes, at a UTF-8 boundary.
      if (auto lr = what.find("; last read: '"); lr != std::string::npos) {
        const size_t start = lr + 14;
        if (what.size() > start + 41) {
          size_t cut = what.size() - 41;
          while (cut > start && (static_cast<unsigned char>(what[cut]) & 0xC0) == 0x80) ++cut;
          what = what.substr(0, start) + "..." + what.substr(cut);
        }
      }
      const bool utf8 = what.find("UTF-8") != std::string::npos;
      std::string hint;
      if (line_no_ == 1 && !line_.empty() && line_.find_first_not_of(" \t") != std::string::npos &&
          line_[line_.find_first_not_of(" \t")] == '[')
        hint = " (a JSON array is not JSON Lines: write one object per line)";
      ctx_.problem(line_no_, utf8 ? "invalid utf-8" : "malformed json",
                   fmt::format("not valid JSON: {}{}", what, hint));
      return;
    }
    if (!j.is_object()) {
      ctx_.problem(line_no_, "not an object",
                   fmt::format("expected a JSON object, found {}", json_type(j)));
      return;
    }
    Document doc;
    doc.line = line_no_;
    auto text = j.find(opt.text_field);
    auto messages = j.find("messages");
    const bool chat = opt.text_field == "messages" || (text == j.end() && messages != j.end());
    if (chat && messages != j.end() && !messages->is_array()) {
      ctx_.problem(line_no_, "bad messages",
                   fmt::format("\"messages\" is {}, expected an array", json_type(*messages)));
      return;
    }
    if (chat && messages != j.end()) {
      if (!read_messages(*messages, doc)) return;
    } else if (text == j.end()) {
      std::vector<std::string> keys;
      for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
      ctx_.problem(line_no_, "missing field",
                   fmt::format("no field \"{}\" (fields: {})", opt.text_field,
                               keys.empty() ? "none" : join(keys)));
      return;
    } else if (!text->is_string()) {
      ctx_.problem(
          line_no_, "not a string",
          fmt::format("field \"{}\" is {}, expected a string", opt.text_field, json_type(*text)));
      return;
    } else {
      doc.text = text->get<std::string>();
    }
    if (!opt.label_field.empty()) {
      auto label = j.find(opt.label_field);
      std::string value;
      if (label == j.end() || label->is_null()) {
        ctx_.problem(line_no_, "missing field",
                     fmt::format("no label field \"{}\"", opt.label_field));
        return;
      }
      if (!label_of(*label, value)) {
        ctx_.problem(line_no_, "not a string",
                     fmt::format("label field \"{}\" is {}, expected a string, number or bool",
                                 opt.label_field, json_type(*label)));
        return;
      }
      doc.label = std::move(value);
    }
    if (opt.keep_record) doc.record = std::move(j);
    ctx_.emit(std::move(doc), false);
  }

  // A chat: a non-empty array of {"role": string, "content": string}.
  bool read_messages(const json& messages, Document& doc) {
    if (messages.empty()) {
      ctx_.problem(line_no_, "bad messages", "\"messages\" is an empty array");
      return false;
    }
    for (size_t i = 0; i < messages.size(); ++i) {
      const json& m = messages[i];
      if (!m.is_object()) {
        ctx_.problem(line_no_, "bad messages",
                     fmt::format("messages[{}] is {}, expected an object", i, json_type(m)));
        return false;
      }
      for (const char* key : {"role", "content"}) {
        auto it = m.find(key);
        if (it == m.end() || !it->is_string()) {
          ctx_.problem(line_no_, "bad messages",
                       fmt::format("messages[{}].{} is {}, expected a string", i, key,
                                   it == m.end() ? "missing" : json_type(*it)));
          return false;
        }
      }
      ChatMessage cm{m["role"].get<std::string>(), m["content"].get<std::string>()};
      if (!doc.text.empty()) doc.text += "\n\n";
      doc.text += cm.content;
      doc.messages.push_back(std::move(cm));
    }
    return true;
  }

  std::string line_;
  int64_t line_no_ = 0;
};

// CSV and TSV: a header row names the columns; each later row is a record.
class TableParser : public FileParser {
 public:
  TableParser(FileContext& ctx, bool tsv)
      : FileParser(ctx),
        tsv_(tsv),
        csv_(ctx.in, tsv ? '\t' : ',', !tsv,
             size_t(std::max<int64_t>(1, ctx.options.max_line_bytes))) {}

  bool step() override {
    if (!header_read_ && !read_header()) return false;
    const ReaderOptions& opt = ctx_.options;
    const char* bad = tsv_ ? "bad tsv" : "bad csv";
    while (!ctx_.has_output()) {
      if (!csv_.next(rec_)) return false;
      ctx_.record();
      if (!rec_.error.empty()) {
        ctx_.problem(rec_.line, bad, rec_.error);
        continue;
      }
      if (rec_.too_long) {
        ctx_.problem(rec_.line, "line too long",
                     fmt::format("record longer than {} bytes (max_line_bytes), skipped",
                                 opt.max_line_bytes));
        continue;
      }
      if (rec_.fields.size() != header_.size()) {
        ctx_.problem(rec_.line, bad,
                     fmt::format("the row has {} fields, the header has {}", rec_.fields.size(),
                                 header_.size()));
        continue;
      }
      Document doc;
      doc.line = rec_.line;
      doc.text = rec_.fields[size_t(text_col_)];
      if (label_col_ >= 0) doc.label = rec_.fields[size_t(label_col_)];
      if (opt.keep_record) {
        doc.record = json::object();
        for (size_t i = 0; i < header_.size(); ++i) doc.record[header_[i]] = rec_.fields[i];
      }
      ctx_.emit(std::move(doc), false);
    }
    return true;
  }

 private:
  bool read_header() {
    header_read_ = true;
    const char* bad = tsv_ ? "bad tsv" : "bad csv";
    if (!csv_.next(rec_)) return false;  // an empty file; reported by the reader
    if (!rec_.error.empty() || rec_.too_long) {
      ctx_.problem(rec_.line, bad,
                   fmt::format("bad header row: {}",
                               rec_.too_long ? "longer than max_line_bytes" : rec_.error));
      return false;
    }
    header_ = rec_.fields;
    text_col_ = column("text_field", ctx_.options.text_field);
    if (text_col_ < 0) return false;
    if (!ctx_.options.label_field.empty()) {
      label_col_ = column("label_field", ctx_.options.label_field);
      if (label_col_ < 0) return false;
    }
    return true;
  }

  int64_t column(const char* option, const std::string& name) {
    auto it = std::find(header_.begin(), header_.end(), name);
    if (it != header_.end()) return it - header_.begin();
    ctx_.problem(rec_.line, "missing field",
                 fmt::format("no column \"{}\" ({}) in the header (columns: {})", name, option,
                             join(header_)));
    return -1;
  }

  bool tsv_;
  CsvReader csv_;
  CsvRecord rec_;
  std::vector<std::string> header_;
  int64_t text_col_ = -1, label_col_ = -1;
  bool header_read_ = false;
};

}  // namespace

struct DocumentReader::Impl {
  std::vector<fs::path> files;
  ReaderOptions options;
  ReadStats stats;
  size_t next_file = 0;
  int64_t total = 0;
  int64_t raw_done = 0, bytes_done = 0;  // of the files already closed
  bool ended = false;
  std::deque<Document> queue;
  // The open file:
  std::unique_ptr<InputStream> stream;
  std::unique_ptr<BufferedInput> input;
  std::unique_ptr<FileContext> ctx;
  std::unique_ptr<FileParser> parser;

  void open_next() {
    const fs::path& path = files[next_file++];
    const std::string name = path.string();
    ++stats.files;
    try {
      stream = InputStream::open(path);
    } catch (const InputStreamError& e) {
      file_problem(name, e.kind(), e.detail());
      return;
    }
    input = std::make_unique<BufferedInput>(*stream);
    ctx = std::make_unique<FileContext>(options, stats, queue, name, *input);
    InputFormat format =
        options.format == InputFormat::automatic ? format_of_path(path) : options.format;
    switch (format) {
      case InputFormat::automatic:
      case InputFormat::text:
        parser = std::make_unique<TextParser>(*ctx);
        break;
      case InputFormat::jsonl:
        parser = std::make_unique<JsonlParser>(*ctx);
        break;
      case InputFormat::csv:
        parser = std::make_unique<TableParser>(*ctx, false);
        break;
      case InputFormat::tsv:
        parser = std::make_unique<TableParser>(*ctx, true);
        break;
    }
    try {
      input->skip_bom();
    } catch (const InputStreamError& e) {
      stream_failed(e);
    }
  }

  void file_problem(const std::string& file, const std::string& kind, const std::string& message) {
    ++stats.skipped;
    ++stats.problems[kind];
    InputProblem p{file, 0, kind, message};
    if (stats.first_problems.size() < ReadStats::kMaxProblems) stats.first_problems.push_back(p);
    if (options.on_error == OnError::fail) throw Error(problem_text(p));
  }

  // The stream broke (a read error, a corrupt or truncated compressed stream): what was
  // read stays, the rest of the file is given up.
  void stream_failed(const InputStreamError& e) {
    const std::string file = ctx->file;
    const int64_t docs = ctx->documents;
    close_file(false);
    file_problem(file, e.kind(),
                 docs > 0 ? fmt::format("{} (after {} documents; the rest of the file is skipped)",
                                        e.detail(), docs)
                          : e.detail());
  }

  void close_file(bool check_empty) {
    if (check_empty && ctx && ctx->documents == 0 && ctx->problems == 0) {
      const std::string file = ctx->file;
      const bool zero = stream->bytes_out() == 0;
      finish_stream();
      file_problem(file, "empty file", zero ? "the file is empty" : "the file has no documents");
      return;
    }
    finish_stream();
  }

  void finish_stream() {
    if (stream) {
      raw_done += stream->raw_bytes_read();
      bytes_done += stream->bytes_out();
    }
    parser.reset();
    ctx.reset();
    input.reset();
    stream.reset();
    stats.bytes = bytes_done;
  }

  bool next(Document& doc) {
    while (true) {
      if (!queue.empty()) {
        doc = std::move(queue.front());
        queue.pop_front();
        ++stats.documents;
        if (stream) stats.bytes = bytes_done + stream->bytes_out();
        return true;
      }
      if (ended) return false;
      if (!parser) {
        if (next_file < files.size()) {
          open_next();
          continue;
        }
        ended = true;
        if (stats.documents == 0) {
          InputProblem p{"", 0, "no documents",
                         fmt::format("no documents in {} input file{}", files.size(),
                                     files.size() == 1 ? "" : "s")};
          ++stats.problems[p.kind];
          if (stats.first_problems.size() < ReadStats::kMaxProblems)
            stats.first_problems.push_back(p);
          if (options.on_error == OnError::fail) throw Error(p.message);
        }
        return false;
      }
      try {
        if (!parser->step()) close_file(true);
      } catch (const InputStreamError& e) {
        stream_failed(e);
      }
    }
  }
};

DocumentReader::DocumentReader(std::vector<fs::path> files, ReaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->files = std::move(files);
  impl_->options = std::move(options);
  for (const auto& f : impl_->files) {
    std::error_code ec;
    const auto size = fs::file_size(f, ec);
    if (!ec) impl_->total += int64_t(size);
  }
}

DocumentReader::~DocumentReader() = default;

bool DocumentReader::next(Document& doc) {
  return impl_->next(doc);
}

const ReadStats& DocumentReader::stats() const {
  return impl_->stats;
}

int64_t DocumentReader::bytes_read() const {
  return impl_->raw_done + (impl_->stream ? impl_->stream->raw_bytes_read() : 0);
}

int64_t DocumentReader::total_bytes() const {
  return impl_->total;
}

}  // namespace ilm
