#include "ilm/data/buffered_input.h"

#include <cstring>

namespace ilm {

BufferedInput::BufferedInput(InputStream& in, size_t buffer_bytes)
    : in_(in), buf_(new char[buffer_bytes]), cap_(buffer_bytes) {}

bool BufferedInput::fill() {
  if (pos_ < end_) return true;
  pos_ = 0;
  end_ = in_.read(buf_.get(), cap_);
  return end_ > 0;
}

int BufferedInput::get() {
  if (!fill()) return -1;
  return static_cast<unsigned char>(buf_[pos_++]);
}

int BufferedInput::peek() {
  if (!fill()) return -1;
  return static_cast<unsigned char>(buf_[pos_]);
}

BufferedInput::Line BufferedInput::read_line(std::string& out, size_t limit) {
  size_t taken = 0;
  bool any = false;
  while (fill()) {
    any = true;
    const size_t avail = std::min(end_ - pos_, limit - taken);
    const char* start = buf_.get() + pos_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', avail));
    if (nl) {
      out.append(start, size_t(nl - start));
      pos_ += size_t(nl - start) + 1;
      return Line::complete;
    }
    out.append(start, avail);
    pos_ += avail;
    taken += avail;
    if (taken == limit) {
      const int next = peek();
      if (next == -1) return Line::complete;
      if (next == '\n') {
        ++pos_;
        return Line::complete;
      }
      return Line::partial;
    }
  }
  return any ? Line::complete : Line::end;
}

size_t BufferedInput::read_some(std::string& out, size_t limit) {
  if (!fill()) return 0;
  const size_t k = std::min(limit, end_ - pos_);
  out.append(buf_.get() + pos_, k);
  pos_ += k;
  return k;
}

void BufferedInput::skip_line() {
  while (fill()) {
    const char* start = buf_.get() + pos_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
    if (nl) {
      pos_ += size_t(nl - start) + 1;
      return;
    }
    pos_ = end_;
  }
}

void BufferedInput::skip_bom() {
  // The buffer holds at least the first 3 bytes unless the stream is shorter, except when
  // the decompressor gives fewer at once; so the check is byte by byte.
  if (peek() != 0xEF) return;
  if (end_ - pos_ >= 3) {
    if (static_cast<unsigned char>(buf_[pos_ + 1]) == 0xBB &&
        static_cast<unsigned char>(buf_[pos_ + 2]) == 0xBF)
      pos_ += 3;
    return;
  }
  // Rare: fewer than 3 bytes buffered. Move them to the front and read more behind them.
  std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
  end_ -= pos_;
  pos_ = 0;
  while (end_ < 3) {
    const size_t got = in_.read(buf_.get() + end_, cap_ - end_);
    if (got == 0) break;
    end_ += got;
  }
  if (end_ >= 3 && static_cast<unsigned char>(buf_[1]) == 0xBB &&
      static_cast<unsigned char>(buf_[2]) == 0xBF)
    pos_ = 3;
}

}  // namespace ilm
