// encode_model_input: template, truncation, padding (see model_input.h).
#include "ilm/tokenizer/model_input.h"

#include "ilm/core/error.h"

namespace ilm {

namespace {

void drop_one(std::vector<int32_t>& ids, Truncation side) {
  if (side == Truncation::left) {
    ids.erase(ids.begin());
  } else {
    ids.pop_back();
  }
}

}  // namespace

ModelInput encode_model_input(const Tokenizer& tokenizer, std::string_view a,
                              std::optional<std::string_view> b,
                              const ModelInputOptions& options) {
  const std::string who = fmt::format("{} tokenizer", tokenizer.kind());
  if (options.max_length < 0) fail("{}: max_length {} is negative", who, options.max_length);
  if (options.pad_to_max_length && options.max_length == 0)
    fail("{}: padding to max_length needs a max_length > 0", who);

  auto encode = [&](std::string_view text) {
    return options.encode ? tokenizer.encode(text, *options.encode) : tokenizer.encode(text);
  };
  std::vector<int32_t> seq[2];
  seq[0] = encode(a);
  if (b) seq[1] = encode(*b);

  std::vector<ModelTemplateItem> items;
  if (options.add_special_tokens) {
    items = tokenizer.model_template(b.has_value());
  } else {
    items.push_back({-1, 0, 0});
    if (b) items.push_back({-1, 1, 1});
  }
  size_t added = 0;
  for (const ModelTemplateItem& it : items) added += it.sequence < 0 ? 1 : 0;

  if (options.truncation != Truncation::none && options.max_length > 0) {
    if (size_t(options.max_length) < added) {
      fail("{}: max_length {} leaves no room for the {} special tokens of the model input", who,
           options.max_length, added);
    }
    const size_t room = size_t(options.max_length) - added;
    while (seq[0].size() + seq[1].size() > room) {
      drop_one(seq[0].size() > seq[1].size() ? seq[0] : seq[1], options.truncation);
    }
  }

  ModelInput in;
  for (const ModelTemplateItem& it : items) {
    if (it.sequence < 0) {
      in.ids.push_back(it.id);
      in.token_type_ids.push_back(it.type_id);
    } else if (it.sequence < 2) {
      const std::vector<int32_t>& s = seq[it.sequence];
      in.ids.insert(in.ids.end(), s.begin(), s.end());
      in.token_type_ids.insert(in.token_type_ids.end(), s.size(), it.type_id);
    }
  }
  in.attention_mask.assign(in.ids.size(), 1);

  if (options.pad_to_max_length && in.ids.size() < size_t(options.max_length)) {
    const std::optional<int32_t> pad = options.pad_id ? options.pad_id : tokenizer.pad_id();
    if (!pad) fail("{}: padding needs a pad token; the tokenizer has none, so give pad_id", who);
    const size_t n = size_t(options.max_length) - in.ids.size();
    const bool left = options.padding_side == PaddingSide::left;
    auto pad_with = [&](std::vector<int32_t>& v, int32_t value) {
      v.insert(left ? v.begin() : v.end(), n, value);
    };
    pad_with(in.ids, *pad);
    pad_with(in.attention_mask, 0);
    pad_with(in.token_type_ids, 0);
  }
  return in;
}

}  // namespace ilm
