// Dedup speed on tinyshakespeare cut into documents of about 4 KB: normalization and MinHash
// signatures in MB/s of input on 1 and 2 threads (OpenMP over documents, as the pipeline
// does), the whole near-dedup stage (normalize + signature + LSH insert), and the LSH insert
// rate into a large index. Rates are per second of wall time; the CPU column is that of all
// threads, so bytes / CPU time is the rate of one unshared core. Run from the repository root
// (it reads ../shared/data/tinyshakespeare.txt, or the file named by ILM_DEDUP_BENCH_TEXT;
// skipped when missing):
//   build/bench/bench_dedup
//   bench/make_arabic_text.py /tmp/ar.txt 2 && ILM_DEDUP_BENCH_TEXT=/tmp/ar.txt
//   build/bench/bench_dedup
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ilm/data/dedup.h"

using namespace ilm;

namespace {

constexpr size_t kDocumentBytes = 4096;

// Lines grouped into documents of at least kDocumentBytes.
const std::vector<std::string>& documents() {
  static const std::vector<std::string> docs = [] {
    std::vector<std::string> out;
    const char* path = std::getenv("ILM_DEDUP_BENCH_TEXT");
    std::ifstream in(path ? path : "../shared/data/tinyshakespeare.txt", std::ios::binary);
    if (!in) return out;
    std::string doc, line;
    while (std::getline(in, line)) {
      doc += line;
      doc += '\n';
      if (doc.size() >= kDocumentBytes) out.push_back(std::move(doc)), doc.clear();
    }
    if (!doc.empty()) out.push_back(std::move(doc));
    return out;
  }();
  return docs;
}

const std::vector<std::string>& normalized_documents() {
  static const std::vector<std::string> docs = [] {
    std::vector<std::string> out;
    for (const auto& d : documents()) out.push_back(normalize_for_dedup(d));
    return out;
  }();
  return docs;
}

int64_t total_bytes(const std::vector<std::string>& docs) {
  int64_t n = 0;
  for (const auto& d : docs) n += static_cast<int64_t>(d.size());
  return n;
}

bool skip_without_data(benchmark::State& st) {
  if (!documents().empty()) return false;
  st.SkipWithError("../shared/data/tinyshakespeare.txt not found (run from the repository root)");
  return true;
}

void BM_normalize(benchmark::State& st) {
  if (skip_without_data(st)) return;
  const auto& docs = documents();
  const int threads = static_cast<int>(st.range(0));
  for (auto _ : st) {
    int64_t out = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8) reduction(+ : out)
    for (size_t i = 0; i < docs.size(); ++i)
      out += static_cast<int64_t>(normalize_for_dedup(docs[i]).size());
    benchmark::DoNotOptimize(out);
  }
  st.SetBytesProcessed(st.iterations() * total_bytes(docs));
}
BENCHMARK(BM_normalize)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

// range(0): threads; range(1): 0 word 5-grams, 1 character 5-grams.
void BM_signature(benchmark::State& st) {
  if (skip_without_data(st)) return;
  const auto& docs = normalized_documents();
  const int threads = static_cast<int>(st.range(0));
  MinHashConfig config;
  if (st.range(1) == 1) config.unit = ShingleUnit::character;
  for (auto _ : st) {
    uint64_t x = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8) reduction(^ : x)
    for (size_t i = 0; i < docs.size(); ++i) x ^= minhash_signature(docs[i], config)[0];
    benchmark::DoNotOptimize(x);
  }
  st.SetBytesProcessed(st.iterations() * total_bytes(docs));
}
BENCHMARK(BM_signature)
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->ArgNames({"threads", "char"})
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

// The near-dedup stage as the pipeline runs it: normalize and sign on `threads` threads,
// then insert in document order. Every document is inserted twice, so half are removed.
void BM_near_dedup(benchmark::State& st) {
  if (skip_without_data(st)) return;
  const auto& docs = documents();
  const int threads = static_cast<int>(st.range(0));
  const MinHashConfig config;
  std::vector<MinHashSignature> sigs(docs.size());
  for (auto _ : st) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
    for (size_t i = 0; i < docs.size(); ++i)
      sigs[i] = minhash_signature(normalize_for_dedup(docs[i]), config);
    MinHashLsh lsh(config);
    int64_t removed = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < sigs.size(); ++i)
        removed += lsh.insert(static_cast<int64_t>(i), sigs[i]).has_value();
    }
    if (removed != static_cast<int64_t>(docs.size())) st.SkipWithError("unexpected removals");
  }
  st.SetBytesProcessed(st.iterations() * total_bytes(docs));
}
BENCHMARK(BM_near_dedup)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

// Inserts of range(0) random signatures (none near another) into one index: documents a
// second and bytes a kept document.
void BM_lsh_insert(benchmark::State& st) {
  const auto n = static_cast<size_t>(st.range(0));
  const MinHashConfig config;
  std::mt19937_64 rng(7);
  std::vector<MinHashSignature> sigs(n, MinHashSignature(static_cast<size_t>(config.num_perm)));
  for (auto& s : sigs) {
    for (auto& v : s) v = static_cast<uint32_t>(rng());
  }
  size_t memory = 0;
  for (auto _ : st) {
    MinHashLsh lsh(config);
    for (size_t i = 0; i < n; ++i)
      benchmark::DoNotOptimize(lsh.insert(static_cast<int64_t>(i), sigs[i]));
    memory = lsh.memory_bytes();
  }
  st.SetItemsProcessed(st.iterations() * static_cast<int64_t>(n));
  st.counters["bytes_per_doc"] = static_cast<double>(memory) / static_cast<double>(n);
}
BENCHMARK(BM_lsh_insert)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_exact_dedup(benchmark::State& st) {
  if (skip_without_data(st)) return;
  const auto& docs = documents();
  for (auto _ : st) {
    ExactDedup d;
    for (const auto& doc : docs) benchmark::DoNotOptimize(d.insert(doc));
  }
  st.SetBytesProcessed(st.iterations() * total_bytes(docs));
}
BENCHMARK(BM_exact_dedup)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

}  // namespace
BENCHMARK_MAIN();
