// BufferedInput: an InputStream read through a fixed buffer, for parsers that take one
// byte or one line at a time. A line longer than the caller's limit comes in parts, so
// memory stays bounded by the limit, never by the line.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "ilm/data/input_stream.h"

namespace ilm {

class BufferedInput {
 public:
  explicit BufferedInput(InputStream& in, size_t buffer_bytes = size_t(1) << 20);

  int get();   // the next byte (0-255), or -1 at the end
  int peek();  // the same, without taking it

  enum class Line {
    complete,  // the line ended: its '\n' was taken (not appended), or the input ended
    partial,   // `limit` bytes were appended and the line goes on; call again for more
    end,       // no bytes were left
  };
  // Appends at most `limit` (> 0) bytes of the current line to `out`, without the '\n'.
  Line read_line(std::string& out, size_t limit);

  // Appends what is buffered (reading more when nothing is), at most `limit` bytes;
  // returns how many, 0 only at the end.
  size_t read_some(std::string& out, size_t limit);

  // Takes the rest of the current line, its '\n' included, without keeping it.
  void skip_line();

  // Drops a UTF-8 byte order mark (EF BB BF) when the next bytes are one.
  void skip_bom();

 private:
  bool fill();  // false at the end of the stream
  InputStream& in_;
  std::unique_ptr<char[]> buf_;
  size_t cap_, pos_ = 0, end_ = 0;
};

}  // namespace ilm
