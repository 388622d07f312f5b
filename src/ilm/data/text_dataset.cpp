#include "ilm/data/text_dataset.h"

#include <cmath>
#include <memory>
#include <span>

#include "ilm/core/error.h"
#include "ilm/data/shard.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/char_tokenizer.h"
#include "ilm/tokenizer/registry.h"

namespace fs = std::filesystem;

namespace ilm {

TextDatasetInfo prepare_text_dataset(const fs::path& text_file, const std::string& tokenizer_kind,
                                     double val_fraction, const fs::path& out_dir) {
  if (tokenizer_kind.empty()) fail("{}: no tokenizer given", text_file.string());
  if (!(val_fraction >= 0.0 && val_fraction < 1.0)) {
    fail("{}: val_fraction {} is outside [0, 1)", text_file.string(), val_fraction);
  }
  const std::string text = read_file(text_file);
  if (text.empty()) fail("{}: the file is empty; there is nothing to tokenize", text_file.string());

  std::unique_ptr<Tokenizer> tokenizer;
  if (tokenizer_kind == "char") {
    try {
      tokenizer = std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(text));
    } catch (const Error& e) {
      throw e.with_context(text_file.string());
    }
  } else if (tokenizer_kind == "byte") {
    tokenizer = std::make_unique<ByteTokenizer>();
  } else {
    // Any other tokenizer (a BPE encoding, a tokenizer.json): tokens span several bytes,
    // so the text is split first, at the byte where the validation part begins (moved
    // back to the start of its line, or at least of a UTF-8 character), and each part
    // is encoded on its own.
    tokenizer = resolve_tokenizer(tokenizer_kind);
    size_t cut = std::min(text.size(), size_t(std::floor(double(text.size()) * (1.0 - val_fraction))));
    if (cut < text.size()) {
      size_t nl = text.rfind('\n', cut);
      if (nl != std::string::npos && cut - nl < 4096) cut = nl + 1;
      while (cut > 0 && cut < text.size() && (uint8_t(text[cut]) & 0xC0) == 0x80) --cut;
    }
    std::vector<int32_t> train_ids, val_ids;
    try {
      train_ids = tokenizer->encode(std::string_view(text).substr(0, cut));
      val_ids = tokenizer->encode(std::string_view(text).substr(cut));
    } catch (const Error& e) {
      throw e.with_context(text_file.string());
    }
    write_token_shard(out_dir / "train.bin", train_ids, tokenizer->vocab_size());
    write_token_shard(out_dir / "val.bin", val_ids, tokenizer->vocab_size());
    save_tokenizer(*tokenizer, out_dir / "tokenizer.json");
    return {int64_t(train_ids.size()), int64_t(val_ids.size()), tokenizer->vocab_size(),
            tokenizer->kind()};
  }

  // Both kinds give one token per unit (code point or byte), so splitting the tokens at
  // index floor(n * (1 - val_fraction)) is splitting the text as nanoGPT does.
  std::vector<int32_t> ids;
  try {
    ids = tokenizer->encode(text);
  } catch (const Error& e) {
    throw e.with_context(text_file.string());
  }
  const size_t n = ids.size();
  const size_t n_train = std::min(n, size_t(std::floor(double(n) * (1.0 - val_fraction))));
  const std::span<const int32_t> all(ids);

  write_token_shard(out_dir / "train.bin", all.first(n_train), tokenizer->vocab_size());
  write_token_shard(out_dir / "val.bin", all.subspan(n_train), tokenizer->vocab_size());
  save_tokenizer(*tokenizer, out_dir / "tokenizer.json");
  return {int64_t(n_train), int64_t(n - n_train), tokenizer->vocab_size(), tokenizer->kind()};
}

}  // namespace ilm
