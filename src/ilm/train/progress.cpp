#include "ilm/train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace ilm {

Progress::Progress(int64_t total, int64_t start, const std::string& unit, std::FILE* out,
                   int64_t every)
    : total_(total), start_(start), every_(every < 1 ? 1 : every), unit_(unit), out_(out),
      tty_(isatty(fileno(out)) != 0), t0_(std::chrono::steady_clock::now()) {}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

void Progress::update(int64_t done, const std::string& fields, double rate, const std::string& rate_unit) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  double per_unit = done > start_ ? elapsed / double(done - start_) : 0.0;
  double eta = per_unit * double(total_ - done);
  std::string rate_text = fmt::format("{:.0f} {}", rate, rate_unit);
  if (tty_) {
    // At most ~10 redraws a second: small models run hundreds of steps a second.
    if (done != total_ && elapsed - last_draw_ < 0.1) return;
    last_draw_ = elapsed;
    constexpr int kWidth = 24;
    double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
    int full = int(frac * kWidth);
    std::string bar(size_t(full), '#');
    bar.resize(kWidth, '.');
    fmt::print(out_, "\r\033[2K[{}] {} {}/{} | {} | {} | ETA {}", bar, unit_, done, total_, fields,
               rate_text, format_duration(eta));
    std::fflush(out_);
    live_ = true;
  } else if (done % every_ == 0 || done == total_) {
    fmt::print(out_, "{} {}/{} | {} | {} | ETA {}\n", unit_, done, total_, fields, rate_text,
               format_duration(eta));
    std::fflush(out_);
  }
}

void Progress::message(const std::string& text) {
  if (tty_ && live_) fmt::print(out_, "\r\033[2K");
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
  live_ = false;
}

void Progress::finish() {
  if (tty_ && live_) fmt::print(out_, "\n");
  std::fflush(out_);
  live_ = false;
}

}  // namespace ilm
