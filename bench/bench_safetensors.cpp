// Loading safetensors against reading the file: writes a ~1 GiB F32 file (64 tensors of
// 4M floats) under $TMPDIR or /tmp, warms the page cache, then times, best of 5:
//   (a) read():   open + read() of the whole file into a new buffer (a0: into a buffer
//                 allocated and touched beforehand: the bare copy from the page cache);
//   (b) view:     SafetensorsFile::open + view_f32 of every tensor, touching one float per
//                 4 KiB page (b1) or summing every float (b2);
//   (c) bf16:     open + load(name, BF16) of every tensor (conversion into new buffers).
// Prints the times and the ratio (b)/(a); the goal is <= 1.2. Skips (exit 0) with fewer than
// 3 GB free. Not a Google Benchmark: each case must start from a fresh map, once.
//   build/bench/bench_safetensors [folder]
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ilm/io/safetensors.h"

namespace fs = std::filesystem;
using namespace ilm;

namespace {

constexpr int kTensors = 64;
constexpr int64_t kFloats = int64_t(1) << 22;  // 16 MiB per tensor, 1 GiB in all

double seconds_best_of(int runs, const std::function<double()>& body, double* sink) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    *sink += body();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::path(tmp ? tmp : "/tmp");
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) != 0 || double(vfs.f_bavail) * double(vfs.f_frsize) < 3e9) {
    std::printf("skip: %s has less than 3 GB free\n", dir.c_str());
    return 0;
  }
  const fs::path path = dir / ("ilm_bench_" + std::to_string(getpid()) + ".safetensors");
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove(p); }
  } remove{path};

  {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (int i = 0; i < kTensors; ++i) {
      Tensor t = Tensor::zeros(Shape({kFloats / 1024, 1024}), DType::f32);
      float* p = t.f32();
      for (int64_t j = 0; j < kFloats; ++j) p[j] = float((j + i) % 1000) * 0.001f;
      tensors.emplace_back("layer." + std::to_string(i) + ".weight", t);
    }
    auto t0 = std::chrono::steady_clock::now();
    save_safetensors(path, tensors);
    std::printf("write %.2f GiB: %.3f s (atomic, fsync)\n",
                double(fs::file_size(path)) / double(1 << 30),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const size_t size = fs::file_size(path);
  double sink = 0;

  // fresh: a new buffer each time, as a loader that reads must allocate (its page faults
  // count); reused: one buffer touched beforehand, the bare copy from the page cache.
  std::unique_ptr<char[]> reused(new char[size]);
  std::fill(reused.get(), reused.get() + size, 0);
  bool fresh = true;
  auto read_once = [&] {
    int fd = ::open(path.c_str(), O_RDONLY);
    std::unique_ptr<char[]> owned(fresh ? new char[size] : nullptr);
    char* buf = fresh ? owned.get() : reused.get();
    size_t got = 0;
    while (got < size) {
      ssize_t n = ::read(fd, buf + got, size - got);
      if (n <= 0) break;
      got += size_t(n);
    }
    ::close(fd);
    return double(buf[size / 2]) + double(got);
  };
  read_once();  // warm the page cache
  const double a = seconds_best_of(5, read_once, &sink);
  fresh = false;
  const double a0 = seconds_best_of(5, read_once, &sink);
  reused.reset();

  auto view = [&](bool every_float) {
    SafetensorsFile f = SafetensorsFile::open(path);
    double s = 0;
    for (const TensorInfo& ti : f.tensors()) {
      Tensor t = f.view_f32(ti.name);
      const float* p = t.f32();
      const int64_t n = t.numel();
      if (every_float) {
        float acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += p[j];
        s += acc;
      } else {
        for (int64_t j = 0; j < n; j += 1024) s += p[j];
      }
    }
    return s;
  };
  const double b1 = seconds_best_of(
      5, [&] { return view(false); }, &sink);
  const double b2 = seconds_best_of(
      5, [&] { return view(true); }, &sink);
  const double c = seconds_best_of(
      3,
      [&] {
        SafetensorsFile f = SafetensorsFile::open(path);
        double s = 0;
        for (const TensorInfo& ti : f.tensors()) s += double(f.load(ti.name, DType::bf16).numel());
        return s;
      },
      &sink);

  const double gib = double(size) / double(1 << 30);
  std::printf("(a) read() into a new buffer:       %.3f s  %.2f GiB/s\n", a, gib / a);
  std::printf("(a0) read() into a touched buffer:  %.3f s  %.2f GiB/s\n", a0, gib / a0);
  std::printf("(b1) open + view_f32, 1 float/page: %.3f s  ratio (b1)/(a) %.2f\n", b1, b1 / a);
  std::printf("(b2) open + view_f32, sum all:      %.3f s  ratio (b2)/(a) %.2f\n", b2, b2 / a);
  std::printf("(c) open + load as BF16:            %.3f s  ratio (c)/(a) %.2f\n", c, c / a);
  std::printf("vs (a0): (b1) %.2f  (b2) %.2f  (c) %.2f\n", b1 / a0, b2 / a0, c / a0);
  std::printf("goal (b1)/(a) <= 1.2: %s   (checksum %g)\n", b1 / a <= 1.2 ? "met" : "NOT met",
              sink);
  return 0;
}
