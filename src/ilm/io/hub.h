// Hugging Face Hub download: `pull_repo` copies the files of one model or dataset
// repository at one revision into a folder, over HTTPS (libcurl), from the Hub's
// documented endpoints:
//   GET {endpoint}/api/{models|datasets}/{repo}/revision/{rev}?blobs=true  -> commit, files
//   GET {endpoint}/[datasets/]{repo}/resolve/{commit}/{path}               -> a file (may redirect)
// Each file goes to `dest/path.incomplete` (resumed with a Range request after a
// dropped connection or an earlier run), is checked against the size and the
// sha256 (LFS files) or git blob id (other files) that the Hub lists, then
// fsync'ed and renamed into place; a re-run skips files already there.
// `dest/.ilm-pull.json` records what was pulled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ilm {

// The endpoint Hugging Face's own clients use when HF_ENDPOINT is not set.
inline constexpr const char* kDefaultHubEndpoint = "https://huggingface.co";

// $HF_ENDPOINT, or kDefaultHubEndpoint.
std::string hub_endpoint_from_env();
// $HF_TOKEN, or the first line of the token file ($HF_TOKEN_PATH, or $HF_HOME/token,
// HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface); "" if none.
std::string hub_token_from_env();

// What pull_repo reports while it works.
struct DownloadProgress {
  enum class Event {
    listed,    // the file list is known: files_total, bytes_total
    skipped,   // `path` is already in place and verified
    started,   // `path` begins (file_bytes > 0 when resuming)
    bytes,     // more of `path` arrived
    finished,  // `path` is verified and in place
    retrying,  // `message` says why; the download resumes after a pause
  };
  Event event = Event::listed;
  std::string path;         // the file, relative to the repository
  int64_t file_bytes = 0;   // bytes of `path` on disk so far
  int64_t file_size = -1;   // its size; -1 when unknown
  int64_t bytes_done = 0;   // bytes of all selected files in place or on disk
  int64_t bytes_total = 0;  // bytes of all selected files (sizes the Hub lists)
  int files_done = 0, files_total = 0;
  std::string message;
};

struct HubOptions {
  std::string endpoint = hub_endpoint_from_env();  // "http(s)://host[:port][/prefix]"
  std::string token = hub_token_from_env();        // sent as "Authorization: Bearer ..." to it
  std::string revision = "main";                   // branch, tag or commit
  std::string repo_type = "model";                 // "model" or "dataset"
  // fnmatch(3) patterns on repository paths ('*' also matches '/'): a file is pulled
  // when it matches some include (or there are none) and no exclude.
  std::vector<std::string> include, exclude;
  // A model repository that holds safetensors weights usually holds the same weights again in
  // formats ilm does not read (PyTorch pickles, TensorFlow, Flax, Rust, ONNX, TFLite, Core ML,
  // OpenVINO): gigabytes nobody here uses. Without include patterns those files are left out
  // (PullResult::left_out) unless `all_formats`.
  bool all_formats = false;
  int max_retries = 3;           // per request, for 5xx replies, timeouts and dropped connections
  double retry_backoff_s = 1.0;  // first pause between tries; doubles each time
  int timeout_s = 30;            // connect timeout, and how long a transfer may stall
  std::function<void(const DownloadProgress&)> progress;
};

// One file of a repository, as the Hub lists it.
struct HubFile {
  std::string path;     // relative, '/'-separated
  int64_t size = -1;    // -1 when not listed
  std::string sha256;   // LFS files: the sha256 of the content (hex); else ""
  std::string blob_id;  // git blob id (sha1 hex of "blob SIZE\0" + content); "" if not listed
};

struct PullResult {
  std::string repo_id, repo_type, revision, commit;
  std::vector<HubFile> files;  // the selected files, all now in dest
  std::vector<HubFile> left_out;  // weights in formats ilm does not read (HubOptions::all_formats)
  int downloaded = 0, skipped = 0;
  int64_t bytes_downloaded = 0;  // bytes received over the network in this run
};

// Pulls the files of `repo_id` ("owner/name" or "name") into `dest` (created if
// missing). Throws ilm::Error naming the repository, revision, file or endpoint
// on: an invalid repo id; 401/403 (set HF_TOKEN); 404 (which of repository,
// revision or file); a size or checksum mismatch (the .incomplete is removed);
// a path from the server that would leave `dest`; an unreachable endpoint; a
// transfer still failing after max_retries (the .incomplete is kept, to resume).
PullResult pull_repo(const std::string& repo_id, const std::filesystem::path& dest,
                     const HubOptions& options);

// Whether `path` is model weights in a format ilm does not read: *.bin (PyTorch pickles),
// *.bin.index.json, *.pt, *.pth, *.ckpt, *.h5, *.msgpack, *.ot, *.onnx, *.onnx_data, *.tflite,
// *.mlmodel, and anything under an onnx/, openvino/, coreml/ or *.mlpackage/ folder.
bool is_foreign_weights_file(const std::string& path);

// Lists the files of `repo_id` at options.revision, before include/exclude;
// `commit` receives the commit sha the revision resolves to.
std::vector<HubFile> list_repo_files(const std::string& repo_id, const HubOptions& options,
                                     std::string* commit);

// Throws ilm::Error unless `repo_id` is "name" or "owner/name", each part of
// letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', no "..".
void validate_repo_id(const std::string& repo_id);

// Throws ilm::Error unless `path` is a relative '/'-separated path with no empty,
// "." or ".." part and no control characters or backslashes: a file name a server
// may give that stays inside the destination folder.
void validate_repo_path(const std::string& path);

}  // namespace ilm
