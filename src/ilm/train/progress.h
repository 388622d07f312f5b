// Progress of long work: on a terminal, one live line with a bar, the caller's
// fields, the rate and the ETA; otherwise plain lines every `every` updates, so
// logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ilm {

class Progress {
 public:
  // `total` units of work (steps), starting at `start` (e.g. a resumed step).
  Progress(int64_t total, int64_t start, const std::string& unit, std::FILE* out = stderr,
           int64_t every = 10);
  // Reports that `done` units are finished; `fields` is shown as is ("loss 2.31 lr 1e-3").
  void update(int64_t done, const std::string& fields, double rate_per_s, const std::string& rate_unit);
  // A message on its own line (the live line is redrawn after it).
  void message(const std::string& text);
  void finish();
  bool is_tty() const { return tty_; }

  static std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

 private:
  int64_t total_, start_, every_;
  std::string unit_;
  std::FILE* out_;
  bool tty_;
  bool live_ = false;
  double last_draw_ = -1.0;  // seconds since t0_
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace ilm
