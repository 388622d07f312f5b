#include "ilm/data/text_dataset.h"

#include <cmath>
#include <memory>
#include <span>

#include "ilm/core/error.h"
#include "ilm/data/shard.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/char_tokenizer.h"

namespace fs = std::filesystem;

namespace ilm {

TextDatasetInfo prepare_text_dataset(const fs::path& text_file, const std::string& tokenizer_kind,
                                     double val_fraction, const fs::path& out_dir) {
  if (tokenizer_kind != "char" && tokenizer_kind != "byte") {
    fail("{}: unknown tokenizer kind \"{}\", expected \"char\" or \"byte\"", text_file.string(),
         tokenizer_kind);
  }
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
  } else {
    tokenizer = std::make_unique<ByteTokenizer>();
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
