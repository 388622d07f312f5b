// CsvReader: records of CSV (RFC 4180) or TSV from a stream, one at a time.
//   CSV: fields separated by ',', a field may be quoted ("a, b"), "" inside quotes is one ",
//        and quotes may hold separators, '\n' and "\r\n". Records end at '\n' or "\r\n".
//   TSV: fields separated by '\t', no quoting (a '"' is a character like any other).
// Blank lines between records are skipped. A record longer than the limit is read to its
// end but not kept, so one bad record cannot take all memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ilm/data/buffered_input.h"

namespace ilm {

struct CsvRecord {
  std::vector<std::string> fields;
  int64_t line = 0;       // 1-based line where the record starts
  bool too_long = false;  // more than the limit's bytes: fields are incomplete
  std::string error;      // not empty: the record is malformed (an unterminated quote)
};

class CsvReader {
 public:
  CsvReader(BufferedInput& in, char separator, bool quoting, size_t max_record_bytes);

  // The next record into `record`; false at the end of the input.
  bool next(CsvRecord& record);

 private:
  BufferedInput& in_;
  char separator_;
  bool quoting_;
  size_t max_record_bytes_;
  int64_t line_ = 1;  // the line of the next byte
};

}  // namespace ilm
