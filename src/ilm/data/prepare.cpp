#include "ilm/data/prepare.h"

#include <omp.h>
#include <sys/resource.h>
#include <xxhash.h>

#include <chrono>
#include <optional>

#include "ilm/core/error.h"
#include "ilm/core/rng.h"
#include "ilm/core/threads.h"
#include "ilm/data/example_set.h"
#include "ilm/data/report.h"
#include "ilm/data/script.h"
#include "ilm/data/shard.h"
#include "ilm/io/file.h"
#include "ilm/io/json_config.h"
#include "ilm/io/paths.h"
#include "ilm/io/sha256.h"
#include "ilm/tokenizer/registry.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {
namespace {

// ---- names of enum values, both ways ---------------------------------------------------

template <typename E>
struct Names {
  std::vector<std::pair<const char*, E>> items;

  E parse(const std::string& name, const std::string& where, const char* key) const {
    for (const auto& [n, e] : items)
      if (name == n) return e;
    std::string list;
    for (const auto& [n, e] : items) list += (list.empty() ? "" : ", ") + std::string(n);
    fail("{}: key '{}' = '{}' is not one of: {}", where, key, name, list);
  }
  const char* name(E e) const {
    for (const auto& [n, v] : items)
      if (v == e) return n;
    return "?";
  }
};

const Names<DataTask> kTasks{{{"pretrain", DataTask::pretrain},
                              {"chat", DataTask::chat},
                              {"classify", DataTask::classify}}};
const Names<InputFormat> kFormats{{{"auto", InputFormat::automatic},
                                   {"text", InputFormat::text},
                                   {"jsonl", InputFormat::jsonl},
                                   {"csv", InputFormat::csv},
                                   {"tsv", InputFormat::tsv}}};
const Names<TextUnit> kUnits{
    {{"file", TextUnit::file}, {"paragraph", TextUnit::paragraph}, {"line", TextUnit::line}}};
const Names<OnError> kOnError{{{"skip", OnError::skip}, {"fail", OnError::fail}}};
const Names<Truncation> kTruncations{{{"none", Truncation::none},
                                      {"drop", Truncation::drop},
                                      {"right", Truncation::right},
                                      {"left", Truncation::left}}};
const Names<ShingleUnit> kShingles{{{"word", ShingleUnit::word}, {"character", ShingleUnit::character}}};
const Names<ChatFormat> kChatFormats{{{"chatml", ChatFormat::chatml},
                                      {"llama2", ChatFormat::llama2},
                                      {"llama3", ChatFormat::llama3},
                                      {"plain", ChatFormat::plain}}};
const Names<Utf8Policy> kUtf8Policies{{{"repair", Utf8Policy::repair}, {"drop", Utf8Policy::drop}}};

template <typename E>
void get_enum(JsonFields& f, const char* key, const Names<E>& names, E& out) {
  std::string s = names.name(out);
  f.get(key, s);
  out = names.parse(s, f.where(), key);
}

PrepareConfig config_from_json(const json& root, const std::string& source) {
  PrepareConfig c;
  JsonFields f(root, source);
  f.get("inputs", c.inputs);
  get_enum(f, "format", kFormats, c.reader.format);
  get_enum(f, "text_unit", kUnits, c.reader.text_unit);
  f.get("text_field", c.reader.text_field);
  f.get("label_field", c.reader.label_field);
  get_enum(f, "on_error", kOnError, c.reader.on_error);
  f.get("max_document_bytes", c.reader.max_document_bytes);
  c.clean = clean_config_from_json(f.object("clean"), source);
  {
    JsonFields d(f.object("dedup"), source + ": dedup");
    d.get("exact", c.dedup.exact);
    d.get("near", c.dedup.near);
    get_enum(d, "unit", kShingles, c.dedup.minhash.unit);
    d.get("ngram", c.dedup.minhash.ngram);
    d.get("num_perm", c.dedup.minhash.num_perm);
    d.get("bands", c.dedup.minhash.bands);
    d.get("threshold", c.dedup.minhash.threshold);
    d.get("seed", c.dedup.minhash.seed);
    d.finish();
  }
  f.get("tokenizer", c.tokenizer);
  get_enum(f, "task", kTasks, c.task);
  f.get("separator", c.separator);
  f.get("val_fraction", c.val_fraction);
  f.get("seed", c.seed);
  f.get("shard_tokens", c.shard_tokens);
  f.get("threads", c.threads);
  f.get("batch_bytes", c.batch_bytes);
  std::string out;
  f.get("out", out);
  c.out = out;
  f.get("report", c.report);
  {
    JsonFields s(f.object("chat"), source + ": chat");
    get_enum(s, "format", kChatFormats, c.chat.format);
    s.get("max_tokens", c.chat.max_tokens);
    get_enum(s, "truncation", kTruncations, c.chat.truncation);
    s.get("train_on_prompt", c.chat.train_on_prompt);
    s.finish();
  }
  f.get("labels", c.labels);
  {
    JsonFields s(f.object("classify"), source + ": classify");
    s.get("max_tokens", c.classify.max_tokens);
    get_enum(s, "truncation", kTruncations, c.classify.truncation);
    s.get("add_special", c.classify.add_special);
    s.finish();
  }
  f.finish();
  return c;
}

json clean_config_to_json(const CleanConfig& c) {
  json scripts = json::array();
  for (Script s : c.scripts) scripts.push_back(std::string(script_name(s)));
  return {{"invalid_utf8", kUtf8Policies.name(c.invalid_utf8)},
          {"nfc", c.nfc},
          {"strip_control", c.strip_control},
          {"normalize_whitespace", c.normalize_whitespace},
          {"strip_html", c.strip_html},
          {"min_chars", c.min_chars},
          {"max_chars", c.max_chars},
          {"min_letter_ratio", c.min_letter_ratio},
          {"scripts", scripts},
          {"min_script_fraction", c.min_script_fraction},
          {"max_repeated_line_fraction", c.max_repeated_line_fraction},
          {"max_top_ngram_fraction", c.max_top_ngram_fraction},
          {"max_symbol_ratio", c.max_symbol_ratio}};
}

// ---- the pipeline ------------------------------------------------------------------------

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One document on its way through the stages of a batch.
struct Item {
  Document doc;
  std::string_view dropped;  // the stage that dropped it ("" while kept)
  std::string norm;          // normalized for dedup
  MinHashSignature sig;
  ScriptCounts scripts;
  int split = 0;             // 0 train, 1 val
  int64_t split_index = 0;   // its place among the documents of its split
  int32_t label = -1;
  bool tokenize = false;
  std::vector<int32_t> ids;  // pretrain: the document's tokens (without separator)
  std::optional<Example> example;
  std::string problem;       // tokenization or label error
};

constexpr const char* kSplitNames[2] = {"train", "val"};

// Where a split's packing stands, saved in manifest.json after each finished shard so that
// an interrupted run continues after it.
struct SplitState {
  int64_t shards = 0;        // finished shards
  int64_t docs_done = 0;     // documents whose tokens all lie in finished shards
  int64_t carry = 0;         // tokens of the next document that lie in finished shards
  uint64_t chain = 0;        // hash chain over the texts of the first docs_done documents
  int64_t tokens = 0;        // tokens in finished shards
  json files = json::array();

  json to_json() const {
    return {{"shards", shards}, {"docs_done", docs_done}, {"carry", carry},
            {"chain", fmt::format("{:016x}", chain)}, {"tokens", tokens}, {"files", files}};
  }
  static SplitState from_json(const json& j, const std::string& where) {
    try {
      SplitState s;
      s.shards = j.at("shards").get<int64_t>();
      s.docs_done = j.at("docs_done").get<int64_t>();
      s.carry = j.at("carry").get<int64_t>();
      s.chain = std::stoull(j.at("chain").get<std::string>(), nullptr, 16);
      s.tokens = j.at("tokens").get<int64_t>();
      s.files = j.at("files");
      return s;
    } catch (const std::exception& e) {
      fail("{}: cannot read the saved progress: {}", where, e.what());
    }
  }
};

class Pipeline {
 public:
  Pipeline(const PrepareConfig& config, bool write_data)
      : c_(config), write_(write_data), transform_(transform_config(config.clean)),
        filter_(filter_config(config.clean)), lsh_(config.dedup.minhash) {}

  PrepareResult run(const PrepareProgress& progress);

 private:
  static CleanConfig transform_config(CleanConfig c) {
    c.min_chars = c.max_chars = 0;
    c.min_letter_ratio = c.min_script_fraction = 0;
    c.scripts.clear();
    c.max_repeated_line_fraction = c.max_top_ngram_fraction = c.max_symbol_ratio = 0;
    return c;
  }
  static CleanConfig filter_config(CleanConfig c) {
    c.invalid_utf8 = Utf8Policy::repair;  // already valid after the transforms
    c.nfc = c.strip_control = c.normalize_whitespace = c.strip_html = false;
    return c;
  }

  void open_output();
  void process_batch(std::vector<Item>& batch);
  void clean_and_hash(Item& item, CleanStats& transform_stats, CleanStats& filter_stats) const;
  void dedup_hash(Item& item) const;
  void tokenize(Item& item) const;
  void write(Item& item);
  void pack(int split, Item& item);
  void finish_shard(int split);
  void write_manifest(bool complete);
  void problem(const Item& item, const std::string& kind, const std::string& message);

  const PrepareConfig& c_;
  bool write_;
  Cleaner transform_, filter_;
  ExactDedup exact_;
  MinHashLsh lsh_;
  std::unique_ptr<Tokenizer> tok_;
  std::optional<LabelMap> labels_;
  int32_t separator_ = -1;

  std::vector<CleanStats> transform_stats_, filter_stats_;  // one per thread
  DedupStats dedup_stats_;
  DataStats stats_;
  PrepareResult result_;
  ReadStats own_problems_;  // the pipeline's (labels, tokenizer); the reader counts its own
  int64_t kept_ = 0;  // documents past dedup, numbered for the split

  // pretrain packing, per split
  SplitState state_[2], resume_[2];
  std::optional<TokenShardWriter> shard_[2];
  int64_t shard_docs_[2] = {0, 0};
  int64_t split_docs_[2] = {0, 0};
  uint64_t chain_[2] = {0, 0};
  // chat and classify
  std::optional<ExampleSetWriter> examples_[2];
  json config_json_;
};

void Pipeline::problem(const Item& item, const std::string& kind, const std::string& message) {
  if (c_.reader.on_error == OnError::fail) fail("{}:{}: {}", item.doc.file, item.doc.line, message);
  ++own_problems_.problems[kind];
  ++own_problems_.skipped;
  if (own_problems_.first_problems.size() < 20)
    own_problems_.first_problems.push_back({item.doc.file, item.doc.line, kind, message});
}

void Pipeline::open_output() {
  config_json_ = prepare_config_to_json(c_);
  const fs::path manifest = c_.out / "manifest.json";
  if (fs::exists(manifest)) {
    json m;
    try {
      m = json::parse(read_file(manifest));
    } catch (const json::exception& e) {
      fail("{}: not valid JSON ({}); remove the folder to start over", manifest.string(), e.what());
    }
    json old = m.value("config", json::object());
    old.erase("threads");
    json now = config_json_;
    now.erase("threads");
    if (old != now) {
      std::string diff;
      for (const auto& [k, v] : now.items()) {
        json was = old.contains(k) ? old[k] : json();
        if (was != v) diff += fmt::format("\n  {}: {} -> {}", k, was.dump(), v.dump());
      }
      fail("{} holds data prepared with another config; remove it or choose another --out. "
           "Changed:{}", c_.out.string(), diff);
    }
    if (m.value("complete", false)) {
      result_.already_complete = true;
      return;
    }
    if (c_.task == DataTask::pretrain && m.contains("progress")) {
      for (int s = 0; s < 2; ++s) {
        resume_[s] = SplitState::from_json(m["progress"][kSplitNames[s]], manifest.string());
        // The shards it lists must still be there, whole.
        for (const auto& f : resume_[s].files) {
          const fs::path p = c_.out / f.at("file").get<std::string>();
          if (!fs::exists(p) || sha256_file(p) != f.at("sha256").get<std::string>())
            fail("{}: shard {} is missing or changed since the interrupted run; remove the folder "
                 "to start over", manifest.string(), p.string());
        }
        state_[s] = resume_[s];
        result_.shards_reused += resume_[s].shards;
      }
    }
  } else if (fs::exists(c_.out) && !fs::is_empty(c_.out)) {
    fail("{} exists and is not empty, but has no manifest.json: choose an empty or new folder",
         c_.out.string());
  }
  fs::create_directories(c_.out);
}

void Pipeline::clean_and_hash(Item& item, CleanStats& ts, CleanStats& fs_) const {
  if (!item.doc.messages.empty()) {
    // Chat records: each message is cleaned; the filters judge the whole conversation.
    item.doc.text.clear();
    for (ChatMessage& m : item.doc.messages) {
      std::string_view why = transform_.apply(m.content, ts);
      if (!why.empty()) {
        item.dropped = why;
        return;
      }
      if (!item.doc.text.empty()) item.doc.text += "\n\n";
      item.doc.text += m.content;
    }
  } else {
    item.dropped = transform_.apply(item.doc.text, ts);
    if (!item.dropped.empty()) return;
  }
  item.dropped = filter_.apply(item.doc.text, fs_);
  if (!item.dropped.empty()) return;
  item.scripts = count_scripts(item.doc.text);
}

void Pipeline::dedup_hash(Item& item) const {
  if (!item.dropped.empty()) return;
  if (c_.dedup.exact || c_.dedup.near) item.norm = normalize_for_dedup(item.doc.text);
  if (c_.dedup.near) item.sig = minhash_signature(item.norm, c_.dedup.minhash);
}

void Pipeline::tokenize(Item& item) const {
  try {
    switch (c_.task) {
      case DataTask::pretrain:
        item.ids = tok_->encode(item.doc.text);
        break;
      case DataTask::chat:
        item.example = chat_example(item.doc.messages, *tok_, c_.chat);
        break;
      case DataTask::classify:
        item.example = classification_example(item.doc.text, item.label, *tok_, c_.classify);
        break;
    }
  } catch (const std::exception& e) {
    item.problem = e.what();
  }
}

void Pipeline::process_batch(std::vector<Item>& batch) {
  const int n = static_cast<int>(batch.size());
  auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; ++i) {
    const int t = omp_get_thread_num();
    clean_and_hash(batch[size_t(i)], transform_stats_[size_t(t)], filter_stats_[size_t(t)]);
  }
  result_.stage_seconds["clean"] += seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  if (c_.dedup.exact || c_.dedup.near) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; ++i) dedup_hash(batch[size_t(i)]);
  }
  // In document order, so that the result never depends on the thread count.
  for (Item& item : batch) {
    if (!item.dropped.empty()) continue;
    if (c_.dedup.exact) {
      ++dedup_stats_.exact_seen;
      if (!exact_.insert(item.norm)) {
        ++dedup_stats_.exact_removed;
        stats_.add_duplicate(XXH3_64bits(item.norm.data(), item.norm.size()), item.doc.text, false);
        if (write_) {
          item.dropped = "dedup_exact";
          continue;
        }
      }
    }
    if (c_.dedup.near) {
      ++dedup_stats_.near_seen;
      if (auto of = lsh_.insert(result_.documents_in + (&item - batch.data()), item.sig)) {
        ++dedup_stats_.near_removed;
        stats_.add_duplicate(static_cast<uint64_t>(*of), item.doc.text, true);
        if (write_) {
          item.dropped = "dedup_near";
          continue;
        }
      }
    }
    if (!write_) continue;
    if (c_.task == DataTask::classify) {
      std::optional<int32_t> id = item.doc.label ? labels_->id(*item.doc.label) : std::nullopt;
      if (!id) {
        problem(item, item.doc.label ? "unknown label" : "missing label",
                item.doc.label ? fmt::format("label '{}' is not one of the {} labels", *item.doc.label,
                                             labels_->size())
                               : fmt::format("no label field '{}'", c_.reader.label_field));
        item.dropped = "label";
        continue;
      }
      item.label = *id;
    }
    const double u = static_cast<double>(hash64(c_.seed, static_cast<uint64_t>(kept_++)) >> 11) *
                     0x1.0p-53;
    item.split = u < c_.val_fraction ? 1 : 0;
    item.split_index = split_docs_[item.split]++;
    // Documents already packed by an interrupted run are not tokenized again.
    item.tokenize = !(c_.task == DataTask::pretrain &&
                      item.split_index < resume_[item.split].docs_done);
  }
  result_.stage_seconds["dedup"] += seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  if (tok_) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; ++i) {
      Item& item = batch[size_t(i)];
      if (item.dropped.empty() && (item.tokenize || !write_)) tokenize(item);
    }
  }
  result_.stage_seconds["tokenize"] += seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  for (Item& item : batch) {
    if (!item.dropped.empty()) continue;
    write(item);
  }
  result_.stage_seconds["write"] += seconds_since(t0);
}

void Pipeline::write(Item& item) {
  if (!item.problem.empty()) {
    problem(item, "tokenizer", item.problem);
    return;
  }
  int64_t tokens = -1;
  if (!write_) {
    if (tok_) tokens = item.example ? static_cast<int64_t>(item.example->ids.size())
                                    : static_cast<int64_t>(item.ids.size());
  } else if (c_.task == DataTask::pretrain) {
    pack(item.split, item);
    tokens = item.tokenize ? static_cast<int64_t>(item.ids.size()) : -1;
  } else {
    if (!item.example) {  // too long for max_tokens, or nothing left to learn from
      ++own_problems_.problems["dropped: too long"];
      return;
    }
    examples_[item.split]->add(*item.example);
    tokens = static_cast<int64_t>(item.example->ids.size());
    SplitResult& r = item.split ? result_.val : result_.train;
    ++r.documents;
    r.tokens += tokens;
  }
  ++result_.documents_kept;
  stats_.add_document(item.doc.text, tokens, item.scripts);
}

void Pipeline::pack(int s, Item& item) {
  SplitResult& r = s ? result_.val : result_.train;
  ++r.documents;
  const uint64_t chain_before = chain_[s];
  chain_[s] = XXH3_64bits_withSeed(item.doc.text.data(), item.doc.text.size(), chain_[s]);
  if (!item.tokenize) return;  // in a finished shard already
  if (item.split_index == resume_[s].docs_done && chain_before != resume_[s].chain) {
    fail("{}: the inputs differ from those of the interrupted run (documents before #{} of the {} "
         "split changed); remove the folder to start over",
         c_.out.string(), item.split_index, kSplitNames[s]);
  }
  std::vector<int32_t>& ids = item.ids;
  ids.insert(ids.begin(), separator_);
  // The part an interrupted run wrote into its last finished shard is skipped.
  size_t pos = item.split_index == resume_[s].docs_done ? static_cast<size_t>(resume_[s].carry) : 0;
  while (pos < ids.size()) {
    if (!shard_[s]) {
      shard_[s].emplace(c_.out / fmt::format("{}_{:06d}.bin", kSplitNames[s], state_[s].shards),
                        tok_->vocab_size());
      shard_docs_[s] = 0;
    }
    ++shard_docs_[s];
    const size_t room = static_cast<size_t>(c_.shard_tokens - shard_[s]->size());
    const size_t n = std::min(room, ids.size() - pos);
    shard_[s]->add(std::span<const int32_t>(ids.data() + pos, n));
    pos += n;
    if (shard_[s]->size() == c_.shard_tokens) {
      const bool whole = pos == ids.size();
      state_[s].docs_done = whole ? item.split_index + 1 : item.split_index;
      state_[s].carry = whole ? 0 : static_cast<int64_t>(pos);
      state_[s].chain = whole ? chain_[s] : chain_before;
      finish_shard(s);
    }
  }
}

void Pipeline::finish_shard(int s) {
  TokenShardWriter& w = *shard_[s];
  w.commit();
  state_[s].files.push_back({{"file", w.path().filename().string()},
                             {"tokens", w.size()},
                             {"documents", shard_docs_[s]},
                             {"sha256", sha256_file(w.path())}});
  state_[s].tokens += w.size();
  ++state_[s].shards;
  shard_[s].reset();
  write_manifest(false);
}

void Pipeline::write_manifest(bool complete) {
  json m = {{"format", "ilm-data"},
            {"version", 1},
            {"complete", complete},
            {"task", kTasks.name(c_.task)},
            {"config", config_json_}};
  if (tok_) {
    m["tokenizer"] = {{"file", "tokenizer.json"}, {"kind", tok_->kind()},
                      {"vocab_size", tok_->vocab_size()}};
    if (separator_ >= 0) m["tokenizer"]["separator"] = separator_;
  }
  if (c_.task == DataTask::pretrain) {
    m["progress"] = {{"train", state_[0].to_json()}, {"val", state_[1].to_json()}};
  }
  if (complete) {
    json splits = json::object();
    for (int s = 0; s < 2; ++s) {
      const SplitResult& r = s ? result_.val : result_.train;
      json files = json::array();
      if (c_.task == DataTask::pretrain) {
        files = state_[s].files;
      } else if (!r.files.empty()) {
        files.push_back({{"file", r.files[0].filename().string()},
                         {"sha256", sha256_file(r.files[0])}});
      }
      splits[kSplitNames[s]] = {{"documents", r.documents}, {"tokens", r.tokens}, {"files", files}};
    }
    m["splits"] = splits;
    m["counts"] = {{"files", result_.read.files},
                   {"records", result_.read.records},
                   {"documents_in", result_.documents_in},
                   {"documents_kept", result_.documents_kept},
                   {"skipped", result_.read.skipped},
                   {"dedup_exact_removed", dedup_stats_.exact_removed},
                   {"dedup_near_removed", dedup_stats_.near_removed}};
    if (labels_) m["labels"] = "label_map.json";
  }
  write_file_atomic(c_.out / "manifest.json", m.dump(2) + "\n");
}

PrepareResult Pipeline::run(const PrepareProgress& progress) {
  const auto t_start = std::chrono::steady_clock::now();
  c_.validate();
  if (c_.threads > 0) set_num_threads(c_.threads);
  const std::vector<fs::path> files = expand_inputs(c_.inputs);
  if (!c_.tokenizer.empty()) tok_ = resolve_tokenizer(c_.tokenizer);
  if (write_) {
    ILM_CHECK(tok_ != nullptr, "data prepare: no tokenizer; set one (--tokenizer gpt2, a "
              "tokenizer.json, ...)");
    if (c_.task == DataTask::pretrain) {
      std::optional<int32_t> sep = c_.separator.empty() ? tok_->eot_id()
                                                         : tok_->special_token_id(c_.separator);
      if (!sep) {
        fail("data prepare: the tokenizer ({}) has {}; name the token to put between documents "
             "with separator: <token>",
             c_.tokenizer, c_.separator.empty() ? "no end-of-text token"
                                                : fmt::format("no special token '{}'", c_.separator));
      }
      separator_ = *sep;
    }
    if (c_.task == DataTask::classify) labels_ = LabelMap::from_names(c_.labels);
    open_output();
    if (result_.already_complete) return result_;
    save_tokenizer(*tok_, c_.out / "tokenizer.json");
    if (labels_) labels_->save(c_.out / "label_map.json");
    if (c_.task != DataTask::pretrain) {
      const ExampleKind kind = c_.task == DataTask::chat ? ExampleKind::chat
                                                         : ExampleKind::classification;
      for (int s = 0; s < 2; ++s) {
        examples_[s].emplace(c_.out / fmt::format("{}.examples", kSplitNames[s]), kind,
                             tok_->vocab_size(), labels_ ? labels_->size() : 0);
      }
    }
  }

  const int threads = num_threads();
  transform_stats_.assign(size_t(threads), transform_.new_stats());
  filter_stats_.assign(size_t(threads), filter_.new_stats());
  ReaderOptions ro = c_.reader;
  if (c_.task == DataTask::classify && ro.label_field.empty()) ro.label_field = "label";
  DocumentReader reader(files, ro);

  std::vector<Item> batch;
  bool more = true;
  while (more) {
    auto t0 = std::chrono::steady_clock::now();
    batch.clear();
    int64_t bytes = 0;
    while (bytes < c_.batch_bytes) {
      Item item;
      if (!reader.next(item.doc)) {
        more = false;
        break;
      }
      bytes += static_cast<int64_t>(item.doc.text.size());
      batch.push_back(std::move(item));
    }
    result_.stage_seconds["read"] += seconds_since(t0);
    process_batch(batch);
    result_.documents_in += static_cast<int64_t>(batch.size());
    result_.read = reader.stats();
    result_.read.merge(own_problems_);
    if (progress) progress(reader.bytes_read(), reader.total_bytes(), result_);
  }

  if (write_) {
    if (result_.documents_kept == 0) {
      std::string why;
      for (const auto& [kind, n] : result_.read.problems) why += fmt::format("; {}: {}", kind, n);
      fail("data prepare: no document is left from {} read ({} files) after cleaning and "
           "deduplication{}; nothing was written",
           result_.documents_in, result_.read.files, why);
    }
    if (c_.task == DataTask::pretrain) {
      for (int s = 0; s < 2; ++s) {
        if (shard_[s] && shard_[s]->size() > 0) {
          state_[s].docs_done = split_docs_[s];
          state_[s].carry = 0;
          state_[s].chain = chain_[s];
          finish_shard(s);
        }
        if (split_docs_[s] < resume_[s].docs_done) {
          fail("{}: the inputs hold fewer {} documents ({}) than the interrupted run had packed "
               "({}); remove the folder to start over",
               c_.out.string(), kSplitNames[s], split_docs_[s], resume_[s].docs_done);
        }
        SplitResult& r = s ? result_.val : result_.train;
        r.tokens = state_[s].tokens;
        for (const auto& f : state_[s].files) r.files.push_back(c_.out / f.at("file").get<std::string>());
      }
    } else {
      for (int s = 0; s < 2; ++s) {
        examples_[s]->finish();
        (s ? result_.val : result_.train).files.push_back(examples_[s]->path());
      }
    }
  }

  // The report.
  CleanStats ts = transform_.new_stats(), fs_ = filter_.new_stats();
  for (const auto& s : transform_stats_) ts.merge(s);
  for (const auto& s : filter_stats_) fs_.merge(s);
  for (const auto& st : ts.stages) stats_.stages.push_back({st.stage, st.seen, st.modified, st.dropped});
  for (const auto& st : fs_.stages)
    if (st.stage != "utf8") stats_.stages.push_back({st.stage, st.seen, st.modified, st.dropped});
  if (c_.dedup.exact)
    stats_.stages.push_back({"dedup_exact", dedup_stats_.exact_seen, 0, dedup_stats_.exact_removed});
  if (c_.dedup.near)
    stats_.stages.push_back({"dedup_near", dedup_stats_.near_seen, 0, dedup_stats_.near_removed});
  stats_.input_files = result_.read.files;
  stats_.input_records = result_.read.records;
  stats_.input_bytes = result_.read.bytes;
  stats_.problem_counts = result_.read.problems;
  for (const auto& p : result_.read.first_problems)
    stats_.first_problems.push_back({p.file, p.line, p.kind, p.message});
  result_.seconds = seconds_since(t_start);
  result_.peak_rss_bytes = peak_rss_bytes();
  stats_.title = write_ ? "Data report: ilm data prepare" : "Data report: ilm data stats";
  std::string inputs;
  for (const auto& i : c_.inputs) inputs += (inputs.empty() ? "" : ", ") + i;
  stats_.summary.emplace_back("inputs", inputs);
  if (tok_) stats_.summary.emplace_back("tokenizer", fmt::format("{} ({}, vocabulary {})", c_.tokenizer, tok_->kind(), tok_->vocab_size()));
  if (write_) {
    stats_.summary.emplace_back("task", kTasks.name(c_.task));
    stats_.summary.emplace_back("train", fmt::format("{} documents, {} tokens", result_.train.documents, result_.train.tokens));
    stats_.summary.emplace_back("validation", fmt::format("{} documents, {} tokens", result_.val.documents, result_.val.tokens));
    if (result_.shards_reused > 0)
      stats_.summary.emplace_back("resumed", fmt::format("{} shards kept from an interrupted run; token counts per document cover the documents tokenized in this run", result_.shards_reused));
  } else if (c_.dedup.exact || c_.dedup.near) {
    stats_.summary.emplace_back("duplicates", "counted, not removed: the histograms include them");
  }
  stats_.summary.emplace_back("time", fmt::format("{:.1f} s, peak memory {} MiB", result_.seconds, result_.peak_rss_bytes >> 20));
  if (c_.report || !write_) {
    result_.report_md = c_.out / "report.md";
    result_.report_html = c_.out / "report.html";
    write_report_markdown(stats_, result_.report_md);
    write_report_html(stats_, result_.report_html);
  }
  if (write_) write_manifest(true);
  return result_;
}

}  // namespace

void PrepareConfig::validate() const {
  if (inputs.empty()) fail("data: no inputs: set inputs (or --input) to files, folders or globs");
  if (out.empty()) fail("data: no output folder: set out (or --out)");
  if (!(val_fraction >= 0 && val_fraction < 1))
    fail("data: val_fraction = {} must be in [0, 1)", val_fraction);
  if (shard_tokens < 1024)
    fail("data: shard_tokens = {} is too small; expected at least 1024", shard_tokens);
  if (shard_tokens > INT32_MAX)
    fail("data: shard_tokens = {} is more than a shard can count ({})", shard_tokens, INT32_MAX);
  if (threads < 0) fail("data: threads = {} must be >= 0 (0: all cores)", threads);
  if (batch_bytes < 1) fail("data: batch_bytes = {} must be >= 1", batch_bytes);
  if (dedup.near) dedup.minhash.validate();
  if (task == DataTask::classify && labels.empty())
    fail("data: task classify needs labels: the label names in id order (labels: [neg, pos])");
  if (task != DataTask::classify && !labels.empty())
    fail("data: labels are for task classify, but task is {}", kTasks.name(task));
}

PrepareConfig load_prepare_config(const fs::path& path, const std::vector<std::string>& overrides) {
  json root = path.empty() ? json::object() : load_yaml_as_json(path);
  for (const std::string& o : overrides) apply_override(root, o, "--set");
  PrepareConfig c = config_from_json(root, path.empty() ? "data config" : path.string());
  // Paths in a config file are relative to the working folder, as in `ilm train`.
  return c;
}

json prepare_config_to_json(const PrepareConfig& c) {
  json dedup = {{"exact", c.dedup.exact}, {"near", c.dedup.near}};
  if (c.dedup.near) {
    dedup["unit"] = kShingles.name(c.dedup.minhash.unit);
    dedup["ngram"] = c.dedup.minhash.ngram;
    dedup["num_perm"] = c.dedup.minhash.num_perm;
    dedup["bands"] = c.dedup.minhash.bands;
    dedup["threshold"] = c.dedup.minhash.threshold;
    dedup["seed"] = c.dedup.minhash.seed;
  }
  json j = {{"inputs", c.inputs},
            {"format", kFormats.name(c.reader.format)},
            {"text_unit", kUnits.name(c.reader.text_unit)},
            {"text_field", c.reader.text_field},
            {"label_field", c.reader.label_field},
            {"on_error", kOnError.name(c.reader.on_error)},
            {"max_document_bytes", c.reader.max_document_bytes},
            {"clean", clean_config_to_json(c.clean)},
            {"dedup", dedup},
            {"tokenizer", c.tokenizer},
            {"task", kTasks.name(c.task)},
            {"separator", c.separator},
            {"val_fraction", c.val_fraction},
            {"seed", c.seed},
            {"shard_tokens", c.shard_tokens},
            {"threads", c.threads},
            {"out", c.out.string()}};
  if (c.task == DataTask::chat) {
    j["chat"] = {{"format", kChatFormats.name(c.chat.format)},
                 {"max_tokens", c.chat.max_tokens},
                 {"truncation", kTruncations.name(c.chat.truncation)},
                 {"train_on_prompt", c.chat.train_on_prompt}};
  }
  if (c.task == DataTask::classify) {
    j["labels"] = c.labels;
    j["classify"] = {{"max_tokens", c.classify.max_tokens},
                     {"truncation", kTruncations.name(c.classify.truncation)},
                     {"add_special", c.classify.add_special}};
  }
  return j;
}

PrepareResult prepare_dataset(const PrepareConfig& config, const PrepareProgress& progress) {
  return Pipeline(config, true).run(progress);
}

PrepareResult collect_data_stats(const PrepareConfig& config, const PrepareProgress& progress) {
  return Pipeline(config, false).run(progress);
}

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

}  // namespace ilm
