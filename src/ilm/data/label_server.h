// LabelServer: a small web page on 127.0.0.1 to label the records of a JSONL file with keyboard
// shortcuts. Each label is appended to the output as one JSON line (the original record plus
// "label" and "_line", the 1-based input line) and fsync'd before the page moves on, so a crash
// loses at most the label being written and a restart resumes where labeling stopped.
//
// Output format (append-only; the last line for a given _line wins):
//   {...the input record..., "label": "positive", "_line": 3}   a label
//   {"_line": 3, "label": null}                                 undo: line 3 is unlabeled again
// collapse_labels() turns it into the final file: one record per labeled line, in input order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ilm {

struct LabelOptions {
  std::filesystem::path input, output;
  std::vector<std::string> labels;  // 1..9 distinct names; key 1 gives labels[0]
  std::string text_field = "text";  // the field shown as the record's text
  std::string host = "127.0.0.1";   // the only host accepted: the page is for this machine
  int port = 0;                     // 0: any free port
};

// What is done and what is left, over the input's valid records.
struct LabelProgress {
  size_t total = 0;      // valid records in the input
  size_t labeled = 0;    // of them, with a label in the output
  size_t remaining = 0;  // total - labeled
  size_t problems = 0;   // input lines that are not records (shown on the page, skipped)
};

class LabelServer {
 public:
  // Checks the options (labels, host); throws ilm::Error naming what is wrong.
  explicit LabelServer(LabelOptions options);
  ~LabelServer();  // stops the server if it runs
  LabelServer(const LabelServer&) = delete;
  LabelServer& operator=(const LabelServer&) = delete;

  // Indexes the input, reads the output written so far (truncating a torn last line), opens
  // it for appending and starts serving on a background thread. Throws ilm::Error naming the
  // file, line or address that failed.
  void start();
  int port() const;
  std::string url() const;  // http://127.0.0.1:PORT/

  // Blocks until stop() is called (from another thread or a handler).
  void wait();
  // Stops accepting requests, lets the one in progress finish its write, joins the thread.
  void stop();

  LabelProgress progress() const;
  bool all_labeled() const { return progress().remaining == 0; }
  // Messages for the user about the files (a torn last output line removed, ...), from start().
  std::vector<std::string> warnings() const;

  // The API behind the page, callable directly. Each takes and returns JSON text and sets
  // `status` to the HTTP status (200, 400 with {"error": ...}).
  std::string api_next(int64_t after_line, int& status) const;
  std::string api_label(const std::string& body, int& status);
  std::string api_undo(int& status);
  std::string api_progress(int& status) const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

// Writes `final_path` (atomically) from a labels file written by LabelServer: for each _line the
// last line wins, lines whose last label is null are dropped, the rest are written in input line
// order without their "_line". Returns the number of records written. A torn last line is
// ignored; any other line that is not a label record is an ilm::Error naming its line.
size_t collapse_labels(const std::filesystem::path& labels_path,
                       const std::filesystem::path& final_path);

// The self-contained labeling page (HTML with inline CSS and JS) that GET / serves.
const std::string& label_page_html();

}  // namespace ilm
