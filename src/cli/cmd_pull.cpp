// ilm pull REPO --to DIR [--revision R] [--repo-type T] [--include P]... [--exclude P]...
// Progress goes to stderr: on a terminal one live line (bar, file, bytes, rate, ETA),
// otherwise a line per file and one every 10 s during a long file; the summary to stdout.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "ilm/io/hub.h"
#include "ilm/train/progress.h"

namespace ilm::cli {

namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000.0 && u < 4) {
    b /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

// Draws DownloadProgress events the way ilm::Progress draws training steps.
class PullDisplay {
 public:
  explicit PullDisplay(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

  void operator()(const DownloadProgress& p) {
    using E = DownloadProgress::Event;
    double now = seconds();
    switch (p.event) {
      case E::listed:
        line(fmt::format("{} files, {} (commit {})", p.files_total,
                         human_bytes(double(p.bytes_total)), p.message.substr(0, 12)));
        break;
      case E::skipped:
        line(fmt::format("[{}/{}] {}: already here", p.files_done, p.files_total, p.path));
        break;
      case E::started:
        file_t0_ = now;
        file_bytes_ = p.file_bytes;
        last_plain_ = now;
        if (p.file_bytes > 0)
          line(fmt::format("{}: resuming at {}", p.path, human_bytes(double(p.file_bytes))));
        break;
      case E::bytes:
        if (first_byte_ < 0) first_byte_ = now;
        received_ += std::max<int64_t>(p.file_bytes - file_bytes_, 0);
        file_bytes_ = p.file_bytes;
        if (tty_ && now - last_draw_ >= 0.1) {
          last_draw_ = now;
          draw(p, now);
        } else if (!tty_ && now - last_plain_ >= 10.0) {
          last_plain_ = now;
          line(status(p, now));
        }
        break;
      case E::finished:
        line(fmt::format("[{}/{}] {}: {} in {}", p.files_done, p.files_total, p.path,
                         human_bytes(double(std::max<int64_t>(p.file_size, 0))),
                         Progress::format_duration(now - file_t0_)));
        break;
      case E::retrying:
        line(p.message);
        break;
    }
  }

 private:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

  std::string status(const DownloadProgress& p, double now) const {
    // The average over this run's downloading: steady enough for an ETA.
    double elapsed = first_byte_ >= 0 ? now - first_byte_ : 0.0;
    double rate = elapsed > 0.2 ? double(received_) / elapsed : 0.0;
    std::string size = p.file_size >= 0 ? human_bytes(double(p.file_size)) : "?";
    double eta = rate > 0 ? double(p.bytes_total - p.bytes_done) / rate : -1.0;
    return fmt::format("{} {}/{} | file {}/{} | {}/s | ETA {}", p.path,
                       human_bytes(double(p.file_bytes)), size, p.files_done + 1, p.files_total,
                       human_bytes(rate), Progress::format_duration(eta));
  }

  void draw(const DownloadProgress& p, double now) {
    constexpr int kWidth = 24;
    double frac = p.bytes_total > 0 ? double(p.bytes_done) / double(p.bytes_total) : 0.0;
    std::string bar(static_cast<size_t>(std::clamp(frac, 0.0, 1.0) * kWidth), '#');
    bar.resize(kWidth, '.');
    fmt::print(out_, "\r\033[2K[{}] {}", bar, status(p, now));
    std::fflush(out_);
    live_ = true;
  }

  void line(const std::string& text) {
    if (tty_ && live_) fmt::print(out_, "\r\033[2K");
    fmt::print(out_, "{}\n", text);
    std::fflush(out_);
    live_ = false;
  }

  std::FILE* out_;
  bool tty_, live_ = false;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  double last_draw_ = -1.0, last_plain_ = 0.0, file_t0_ = 0.0, first_byte_ = -1.0;
  int64_t file_bytes_ = 0, received_ = 0;  // of the current file; received in this run
};

}  // namespace

void add_pull(CLI::App& app) {
  struct Args {
    std::string repo, to;
    HubOptions opt;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "pull",
      "Download a model or dataset repository from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN)");
  cmd->add_option("repo", a->repo, "repository id, e.g. openai-community/gpt2")->required();
  cmd->add_option("--to", a->to, "destination folder (created; a re-run resumes and skips)")
      ->required();
  cmd->add_option("--revision", a->opt.revision, "branch, tag or commit")->capture_default_str();
  cmd->add_option("--repo-type", a->opt.repo_type, "model or dataset")
      ->check(CLI::IsMember({"model", "dataset"}))
      ->capture_default_str();
  cmd->add_option("--include", a->opt.include, "only paths matching this glob (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--exclude", a->opt.exclude, "skip paths matching this glob (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--retries", a->opt.max_retries, "tries again after a dropped connection or 5xx")
      ->capture_default_str();
  cmd->add_option("--timeout", a->opt.timeout_s, "seconds a connection may stall")
      ->capture_default_str();
  cmd->add_flag("--all-formats", a->opt.all_formats,
                "also pull weights in formats ilm does not read (PyTorch .bin, TensorFlow, Flax, "
                "ONNX, ...), which are otherwise left out when the repository has safetensors");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress on stderr");
  cmd->callback([a] {
    auto display = std::make_shared<PullDisplay>(stderr);
    if (!a->quiet) a->opt.progress = [display](const DownloadProgress& p) { (*display)(p); };
    PullResult r = pull_repo(a->repo, a->to, a->opt);
    fmt::print("pulled {} ({} {}) into {}: {} files downloaded ({}), {} already here\n", r.repo_id,
               r.revision, r.commit.substr(0, 12), a->to, r.downloaded,
               human_bytes(double(r.bytes_downloaded)), r.skipped);
    if (!r.left_out.empty()) {
      int64_t bytes = 0;
      std::string names;
      for (const HubFile& f : r.left_out) {
        bytes += std::max<int64_t>(f.size, 0);
        if (names.size() >= 120) continue;
        if (!names.empty()) names += ", ";
        names += f.path;
      }
      if (names.size() >= 120) names += ", ...";
      fmt::print("left out {} files ({}) in weight formats ilm does not read: {} "
                 "(--all-formats pulls them too)\n",
                 r.left_out.size(), human_bytes(double(bytes)), names);
    }
    bool readable_weights = false, foreign_weights = false;
    for (const HubFile& f : r.files) {
      readable_weights |= f.path.ends_with(".safetensors") || f.path.ends_with(".gguf");
      foreign_weights |= is_foreign_weights_file(f.path);
    }
    if (r.repo_type == "model" && foreign_weights && !readable_weights)
      fmt::print(stderr,
                 "warning: {} has no safetensors or GGUF weights here; ilm cannot read the "
                 "others (PyTorch .bin pickles, TensorFlow, Flax, ONNX). The Hub often has a "
                 "safetensors conversion as a pull request: try --revision refs/pr/N\n",
                 r.repo_id);
  });
}

}  // namespace ilm::cli
