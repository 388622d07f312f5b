// The cleaning stages alone and the Cleaner end to end, in MB/s (10^6 bytes), on ~2.5 MB of
// documents: tinyshakespeare (read from ../shared/data next to the repository; skipped when
// absent) and as much Arabic built from sentences written here, some with diacritics,
// tatweel and a decomposed hamza.
//   build/bench/bench_data
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ilm/data/clean.h"
#include "ilm/data/clean_stages.h"

using namespace ilm;

namespace {

const char* const kArabic[] = {
    "ذهب الطالب إلى المكتبة صباحاً ليقرأ كتاباً عن تاريخ العلوم عند العرب.",
    "تُعدّ اللغة العربية من أكثر اللغات انتشاراً في العالم، ويتحدث بها أكثر من أربعمئة مليون "
    "إنسان.",
    "قال المعلّم: إنّ العِلمَ نورٌ يهدي صاحبه إلى الحق.",
    "كانت بغداد في العصر العباسي مركزاً للترجمة والفلسفة والطب والفلك.",
    "يستخدم المهندسون الحواسيب لتصميم الجسور والمباني الحديثة.",
    "في فصل الربيع تتفتح الأزهار وتغرد الطيور على أغصان الأشجار.",
    "السَّلامُ عَلَيْكُمْ وَرَحْمَةُ اللهِ وَبَرَكاتُهُ.",
    "هل قرأت الرواية الجديدة التي صدرت الأسبوع الماضي؟",
    "تعلّم البرمجة يحتاج إلى صبر وممارسة يومية ومشاريع صغيرة.",
    "جمــــيل جداً هذا المكان، سأعود إليه مرة أخرى!",
    "يبلغ عدد سكان المدينة نحو ٣٫٥ مليون نسمة حسب إحصاء عام ٢٠٢٠.",
    "النموذج اللغوي يتعلم من النصوص الكثيرة كيف يتوقع الكلمة التالية.",
    "سا\u0654ل الولد أباه عن النجوم فا\u0654جابه بصبر.",  // decomposed hamza: NFC composes it
    "يكتب الشاعر قصيدته على مهل، ثم يقرؤها على أصدقائه في المساء.  ",
};

std::string read_shakespeare() {
  const std::filesystem::path repo = std::filesystem::path(__FILE__).parent_path().parent_path();
  for (const std::filesystem::path& p :
       {repo / "../shared/data/tinyshakespeare.txt",
        std::filesystem::path("../shared/data/tinyshakespeare.txt")}) {
    std::ifstream f(p, std::ios::binary);
    if (!f) continue;
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  return "";
}

// Documents of ~2 KB, English and Arabic alternating.
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> docs = [] {
    std::vector<std::string> out;
    const std::string english = read_shakespeare();
    if (english.empty()) return out;
    uint64_t state = 12345;
    auto next = [&] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return state >> 33;
    };
    size_t i = 0;
    while (i < english.size()) {
      size_t end = english.find("\n\n", std::min(english.size(), i + 2000));
      if (end == std::string::npos) end = english.size();
      std::string doc = english.substr(i, end - i);
      if (next() % 4 == 0) {  // some documents with Windows line ends
        std::string crlf;
        for (char c : doc) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
        doc = crlf;
      }
      out.push_back(doc);
      i = end + 2;
      std::string arabic;
      while (arabic.size() < 2000) {
        arabic += kArabic[next() % std::size(kArabic)];
        arabic += next() % 5 == 0 ? "\n\n" : " ";
      }
      out.push_back(arabic);
    }
    return out;
  }();
  return docs;
}

size_t corpus_bytes() {
  size_t n = 0;
  for (const std::string& d : corpus()) n += d.size();
  return n;
}

void set_rate(benchmark::State& st) {
  st.counters["MB/s"] = benchmark::Counter(static_cast<double>(corpus_bytes()),
                                           benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
}

// One stage over every document (a copy, as the pipeline owns each document's string).
template <typename F>
void run_stage(benchmark::State& st, F&& stage) {
  if (corpus().empty()) {
    st.SkipWithError("../shared/data/tinyshakespeare.txt not found");
    return;
  }
  std::string text;
  for (auto _ : st) {
    for (const std::string& d : corpus()) {
      text.assign(d);
      benchmark::DoNotOptimize(stage(text));
    }
  }
  set_rate(st);
}

void BM_stage_utf8(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::repair_utf8(t); });
}
void BM_stage_nfc(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::to_nfc(t); });
}
void BM_stage_control(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::strip_controls(t); });
}
void BM_stage_whitespace(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::normalize_whitespace(t); });
}
void BM_stage_html(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::strip_html(t, true); });
}
void BM_stage_length(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::count_code_points(t); });
}
void BM_stage_letter_ratio(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::letter_ratio(t); });
}
void BM_stage_script(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::script_counts(t).dominant(); });
}
void BM_stage_repeated_lines(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::repeated_line_fraction(t); });
}
void BM_stage_top_ngram(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::top_ngram_fraction(t); });
}
void BM_stage_symbol_ratio(benchmark::State& st) {
  run_stage(st, [](std::string& t) { return clean::symbol_word_ratio(t); });
}
BENCHMARK(BM_stage_utf8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_nfc)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_control)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_whitespace)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_html)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_length)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_letter_ratio)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_script)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_repeated_lines)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_top_ngram)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stage_symbol_ratio)->Unit(benchmark::kMillisecond);

// The Cleaner: the default stages (range 0) or every stage (range 1); with ->Threads(2) each
// thread cleans the whole corpus and MB/s counts both.
void BM_cleaner(benchmark::State& st) {
  CleanConfig c;
  if (st.range(0) == 1) {
    c.strip_html = true;
    c.min_chars = 10;
    c.max_chars = 100000;
    c.min_letter_ratio = 0.3;
    c.scripts = {Script::latin, Script::arabic};
    c.max_repeated_line_fraction = 0.9;
    c.max_top_ngram_fraction = 0.9;
    c.max_symbol_ratio = 0.5;
  }
  const Cleaner cleaner(c);
  CleanStats stats = cleaner.new_stats();
  run_stage(st, [&](std::string& t) { return cleaner.apply(t, stats).size(); });
  st.SetLabel(st.range(0) == 1 ? "all stages" : "default stages");
}
BENCHMARK(BM_cleaner)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cleaner)->Arg(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
