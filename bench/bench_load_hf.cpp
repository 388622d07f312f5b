// Loading a Hugging Face folder copied against mapped: writes a ~1.1 GiB f32 LLaMA-shaped
// folder (5 layers, n_embd 2048, GQA 16/4 heads, MLP 5504, vocab 16000, untied head) under
// $TMPDIR or /tmp, warms the page cache, then times, best of 3, each from a fresh start:
//   (a) read():        open + read() of model.safetensors into a new buffer (a0: into a
//                      buffer allocated and touched beforehand: the bare copy from the cache);
//   (b) copy load:     load_hf_folder(folder) (ParamStorage::owned, the training load);
//   (c) mapped load:   load_hf_folder(folder, ParamStorage::mapped) (what `ilm generate` does);
//   (d) mapped+touch:  (c), then one float of every 4 KiB page of every parameter read, the
//                      page faults the first forward pass pays.
// Prints each time, its ratio to (a) (the goal: <= 1.2), and how much the load grew
// the process's RssAnon (anonymous memory: owned copies; a map's pages are file-backed).
//   build/bench/bench_load_hf [folder]        (skips, exit 0, with less than 4 GB free)
//   build/bench/bench_load_hf --write FOLDER  (only writes the model folder, and keeps it)
//   build/bench/bench_load_hf --write-bf16 FOLDER  (the same shape with 10 layers, 504M
//                              parameters, stored bf16: 0.94 GiB, 1.9 GiB widened to f32;
//                              for `ilm generate`'s peak RSS, docs/results.md)
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "ilm/io/file.h"
#include "ilm/io/safetensors.h"
#include "ilm/models/recipes.h"

namespace fs = std::filesystem;
using namespace ilm;

namespace {

int64_t rss_anon_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8)) * 1024;
  return -1;
}

void write_folder(const fs::path& folder, bool bf16 = false) {
  TransformerConfig c;
  c.arch = "llama";
  c.n_layer = bf16 ? 10 : 5;
  c.n_head = 16, c.n_kv_head = 4, c.n_embd = 2048, c.intermediate = 5504;
  c.vocab_size = 16000, c.max_positions = 2048;
  c.norm = NormKind::rmsnorm, c.position = PositionKind::rope, c.mlp = MlpKind::swiglu;
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = false;
  c.tie_embeddings = false;
  Transformer m(c);
  m.init_weights(1);
  auto t0 = std::chrono::steady_clock::now();
  save_hf_folder(m, nullptr, folder, int64_t(5) << 30, bf16 ? DType::bf16 : DType::f32);
  std::printf("wrote %s: %.2f GiB of %s weights in %.1f s\n", folder.c_str(),
              double(c.num_params()) * (bf16 ? 2 : 4) / double(1 << 30), bf16 ? "bf16" : "f32",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

struct Timed {
  double seconds = 1e30;
  int64_t rss_grown = 0;  // of the best run
};

// Best of `runs`; `body` returns a checksum and frees what it loaded only after `measure` ran.
Timed best_of(int runs, const std::function<double(const std::function<void()>&)>& body,
              double* sink) {
  Timed best;
  for (int i = 0; i < runs; ++i) {
    const int64_t rss0 = rss_anon_bytes();
    int64_t grown = 0;
    double t = 0;
    const auto t0 = std::chrono::steady_clock::now();
    *sink += body([&] {
      t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      grown = rss_anon_bytes() - rss0;
    });
    if (t < best.seconds) best = {t, grown};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--write") == 0) {
    write_folder(argv[2]);
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--write-bf16") == 0) {
    write_folder(argv[2], true);
    return 0;
  }
  const char* tmp = std::getenv("TMPDIR");
  const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::path(tmp ? tmp : "/tmp");
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) != 0 || double(vfs.f_bavail) * double(vfs.f_frsize) < 4e9) {
    std::printf("skip: %s has less than 4 GB free\n", dir.c_str());
    return 0;
  }
  const fs::path folder = dir / ("ilm_bench_hf_" + std::to_string(getpid()));
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove_all(p); }
  } remove{folder};
  write_folder(folder);
  const fs::path file = folder / "model.safetensors";
  const size_t size = fs::file_size(file);
  double sink = 0;

  std::unique_ptr<char[]> reused;
  auto read_once = [&](const std::function<void()>& measure) {
    int fd = ::open(file.c_str(), O_RDONLY);
    std::unique_ptr<char[]> fresh(reused ? nullptr : new char[size]);
    char* buf = reused ? reused.get() : fresh.get();
    size_t got = 0;
    while (got < size) {
      ssize_t n = ::read(fd, buf + got, size - got);
      if (n <= 0) break;
      got += size_t(n);
    }
    ::close(fd);
    measure();
    return double(buf[size / 2]) + double(got);
  };
  auto load = [&](ParamStorage storage, bool touch) {
    return [&folder, storage, touch](const std::function<void()>& measure) {
      HfModel hf = load_hf_folder(folder, storage);
      double s = 0;
      if (touch)
        for (const Param& p : hf.model->params().params()) {
          const float* v = p.var->value.f32();
          for (int64_t j = 0; j < p.shape.numel(); j += 1024) s += v[j];
        }
      measure();
      return s + double(hf.model->params().params().size());
    };
  };
  read_once([] {});  // warm the page cache
  const Timed a = best_of(3, read_once, &sink);
  reused.reset(new char[size]);
  std::fill(reused.get(), reused.get() + size, 0);
  const Timed a0 = best_of(3, read_once, &sink);
  reused.reset();
  const Timed b = best_of(3, load(ParamStorage::owned, false), &sink);
  const Timed c = best_of(3, load(ParamStorage::mapped, false), &sink);
  const Timed d = best_of(3, load(ParamStorage::mapped, true), &sink);

  const double gib = double(size) / double(1 << 30), mib = double(1 << 20);
  auto row = [&](const char* what, const Timed& t) {
    std::printf("%-34s %8.4f s  /(a) %5.2f  /(a0) %5.2f  RssAnon +%6.0f MiB\n", what, t.seconds,
                t.seconds / a.seconds, t.seconds / a0.seconds, double(t.rss_grown) / mib);
  };
  std::printf("model.safetensors: %.2f GiB, page cache warm\n", gib);
  row("(a) read() into a new buffer", a);
  row("(a0) read() into a touched buffer", a0);
  row("(b) load_hf_folder, copied (owned)", b);
  row("(c) load_hf_folder, mapped", c);
  row("(d) mapped + touch every page", d);
  std::printf("goal (load)/(a) <= 1.2: copied %s, mapped %s, mapped+touch %s  (checksum %g)\n",
              b.seconds / a.seconds <= 1.2 ? "met" : "NOT met",
              c.seconds / a.seconds <= 1.2 ? "met" : "NOT met",
              d.seconds / a.seconds <= 1.2 ? "met" : "NOT met", sink);
  return 0;
}
