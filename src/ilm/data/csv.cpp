#include "ilm/data/csv.h"

#include <fmt/format.h>

namespace ilm {

CsvReader::CsvReader(BufferedInput& in, char separator, bool quoting, size_t max_record_bytes)
    : in_(in), separator_(separator), quoting_(quoting), max_record_bytes_(max_record_bytes) {}

bool CsvReader::next(CsvRecord& record) {
  record.fields.assign(1, std::string());
  record.too_long = false;
  record.error.clear();
  int c = in_.get();
  while (c == '\n' || (c == '\r' && in_.peek() == '\n')) {
    if (c == '\r') in_.get();
    ++line_;
    c = in_.get();
  }
  if (c == -1) return false;
  record.line = line_;

  size_t bytes = 0;
  auto append = [&](int ch) {
    if (bytes < max_record_bytes_) {
      record.fields.back().push_back(static_cast<char>(ch));
      ++bytes;
    } else {
      record.too_long = true;
    }
  };
  bool field_start = true, quoted = false;
  int64_t quote_line = 0;
  for (;; c = in_.get()) {
    if (quoted) {
      if (c == -1) {
        record.error =
            fmt::format("the quoted field that starts on line {} is not closed", quote_line);
        return true;
      }
      if (c == '"') {
        if (in_.peek() == '"') {
          in_.get();
          append('"');
        } else {
          quoted = false;  // what follows up to the separator is kept as is ("ab"c -> abc)
        }
        continue;
      }
      if (c == '\n') ++line_;
      append(c);
      continue;
    }
    if (c == -1) return true;
    if (quoting_ && field_start && c == '"') {
      quoted = true;
      field_start = false;
      quote_line = line_;
      continue;
    }
    field_start = false;
    if (c == separator_) {
      record.fields.emplace_back();
      field_start = true;
    } else if (c == '\n') {
      ++line_;
      return true;
    } else if (c == '\r' && in_.peek() == '\n') {
      in_.get();
      ++line_;
      return true;
    } else {
      append(c);
    }
  }
}

}  // namespace ilm
