#include "ilm/data/input_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>

namespace fs = std::filesystem;

namespace ilm {

namespace {

constexpr size_t kRawBuffer = size_t(1) << 20;

[[noreturn]] void unreadable(const fs::path& path, const std::string& what) {
  throw InputStreamError("unreadable file", path, what);
}

[[noreturn]] void corrupt(const fs::path& path, const std::string& what) {
  throw InputStreamError("decompression", path, what);
}

}  // namespace

struct InputStream::Codec {
  z_stream zs{};
  bool zs_ready = false;
  ZSTD_DStream* zd = nullptr;
  ~Codec() {
    if (zs_ready) inflateEnd(&zs);
    if (zd) ZSTD_freeDStream(zd);
  }
};

std::unique_ptr<InputStream> InputStream::open(const fs::path& path) {
  std::unique_ptr<InputStream> s(new InputStream());
  s->path_ = path;
  s->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (s->fd_ < 0) unreadable(path, fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (fstat(s->fd_, &st) != 0)
    unreadable(path, fmt::format("cannot stat: {}", std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) unreadable(path, "is a folder, expected a file");
  s->in_.reset(new char[kRawBuffer]);
  // The magic bytes decide; a short file is plain.
  while (s->in_end_ < 4 && s->refill()) {
  }
  const auto* b = reinterpret_cast<const unsigned char*>(s->in_.get());
  s->codec_ = std::make_unique<Codec>();
  if (s->in_end_ >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
    s->compression_ = Compression::gzip;
    if (inflateInit2(&s->codec_->zs, 15 + 16) != Z_OK) corrupt(path, "cannot start zlib");
    s->codec_->zs_ready = true;
  } else if (s->in_end_ >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) {
    s->compression_ = Compression::zstd;
    s->codec_->zd = ZSTD_createDStream();
    if (!s->codec_->zd || ZSTD_isError(ZSTD_initDStream(s->codec_->zd)))
      corrupt(path, "cannot start zstd");
  }
  return s;
}

InputStream::~InputStream() {
  if (fd_ >= 0) ::close(fd_);
}

bool InputStream::refill() {
  if (raw_eof_) return false;
  if (in_pos_ == in_end_) {
    in_pos_ = in_end_ = 0;
  } else if (in_pos_ > 0) {
    std::memmove(in_.get(), in_.get() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
  while (true) {
    const ssize_t got = ::read(fd_, in_.get() + in_end_, kRawBuffer - in_end_);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) unreadable(path_, fmt::format("read failed: {}", std::strerror(errno)));
    if (got == 0) {
      raw_eof_ = true;
      return false;
    }
    in_end_ += size_t(got);
    raw_read_ += got;
    return true;
  }
}

size_t InputStream::read(char* buf, size_t n) {
  if (n == 0 || finished_) return 0;
  size_t got = 0;
  switch (compression_) {
    case Compression::none:
      got = read_raw(buf, n);
      break;
    case Compression::gzip:
      got = read_gzip(buf, n);
      break;
    case Compression::zstd:
      got = read_zstd(buf, n);
      break;
  }
  if (got == 0) finished_ = true;
  out_ += int64_t(got);
  return got;
}

size_t InputStream::read_raw(char* buf, size_t n) {
  if (in_pos_ == in_end_ && !refill()) return 0;
  const size_t k = std::min(n, in_end_ - in_pos_);
  std::memcpy(buf, in_.get() + in_pos_, k);
  in_pos_ += k;
  return k;
}

// A gzip file may hold several members one after another (`cat a.gz b.gz`); their
// contents follow each other. Bytes after the last member that are not a member are an
// error, as is an input that ends inside one.
size_t InputStream::read_gzip(char* buf, size_t n) {
  z_stream& zs = codec_->zs;
  while (true) {
    if (in_pos_ == in_end_) refill();
    const bool at_end = in_pos_ == in_end_ && raw_eof_;
    if (at_end && !frame_open_) return 0;
    if (!frame_open_) {
      if (in_end_ - in_pos_ < 2) refill();
      const auto* b = reinterpret_cast<const unsigned char*>(in_.get() + in_pos_);
      if (in_end_ - in_pos_ < 2 || b[0] != 0x1f || b[1] != 0x8b)
        corrupt(path_, fmt::format("bytes after the end of the gzip stream (at compressed byte "
                                   "{}) are not gzip data",
                                   raw_read_ - int64_t(in_end_ - in_pos_)));
      inflateReset(&zs);
      frame_open_ = true;
    }
    zs.next_in = reinterpret_cast<Bytef*>(in_.get() + in_pos_);
    zs.avail_in = uInt(in_end_ - in_pos_);
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = uInt(std::min<size_t>(n, 1u << 30));
    const uInt out_before = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    in_pos_ = in_end_ - zs.avail_in;
    const size_t produced = out_before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      frame_open_ = false;
    } else if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR ||
               (rc == Z_BUF_ERROR && zs.avail_in > 0)) {
      corrupt(path_, fmt::format("corrupt gzip stream: {}", zs.msg ? zs.msg : "error"));
    }
    if (produced > 0) return produced;
    if (at_end && frame_open_)
      corrupt(path_, fmt::format("truncated gzip stream: the file ends ({} bytes) inside "
                                 "compressed data",
                                 raw_read_));
  }
}

// zstd: frames follow each other; ZSTD_decompressStream returns 0 exactly when a frame
// is complete and all of its output has been given.
size_t InputStream::read_zstd(char* buf, size_t n) {
  while (true) {
    if (in_pos_ == in_end_) refill();
    const bool at_end = in_pos_ == in_end_ && raw_eof_;
    if (at_end && !frame_open_) return 0;
    ZSTD_inBuffer in{in_.get() + in_pos_, in_end_ - in_pos_, 0};
    ZSTD_outBuffer out{buf, n, 0};
    const size_t r = ZSTD_decompressStream(codec_->zd, &out, &in);
    if (ZSTD_isError(r))
      corrupt(path_, fmt::format("corrupt zstd stream: {}", ZSTD_getErrorName(r)));
    in_pos_ += in.pos;
    frame_open_ = r != 0;
    if (out.pos > 0) return out.pos;
    if (at_end && frame_open_)
      corrupt(path_, fmt::format("truncated zstd stream: the file ends ({} bytes) inside "
                                 "compressed data",
                                 raw_read_));
  }
}

}  // namespace ilm
