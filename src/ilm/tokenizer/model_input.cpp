// encode_model_input: template, truncation, padding (see model_input.h).
#include "ilm/tokenizer/model_input.h"

#include <algorithm>

#include "ilm/core/error.h"

namespace ilm {

namespace {

// Keeps `keep` tokens of `ids`: the first ones, or the last for left truncation.
void keep_only(std::vector<int32_t>& ids, size_t keep, Truncation side) {
  if (keep >= ids.size()) return;
  if (side == Truncation::left) {
    ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(keep));
  } else {
    ids.resize(keep);
  }
}

}  // namespace

ModelInput encode_model_input(const Tokenizer& tokenizer, std::string_view a,
                              std::optional<std::string_view> b, const ModelInputOptions& options) {
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

  ILM_CHECK(options.truncation != Truncation::drop,
            "{}: truncation 'drop' is for example sets; a model input is cut right or left", who);
  if (options.truncation != Truncation::none && options.max_length > 0) {
    if (size_t(options.max_length) < added) {
      fail("{}: max_length {} leaves no room for the {} special tokens of the model input", who,
           options.max_length, added);
    }
    const size_t room = size_t(options.max_length) - added;
    if (seq[0].size() + seq[1].size() > room) {
      if (!b) {
        keep_only(seq[0], room, options.truncation);
      } else {
        // Hugging Face's "longest first" for a pair: the shorter keeps its length when the
        // longer can give up the rest; else each keeps half, the longer (B on a tie) the odd one.
        size_t n_short = seq[0].size(), n_long = seq[1].size();
        const bool swapped = n_short > n_long;
        if (swapped) std::swap(n_short, n_long);
        n_long = n_short > room ? n_short : std::max(n_short, room - n_short);
        if (n_short + n_long > room) {
          n_short = room / 2;
          n_long = n_short + room % 2;
        }
        if (swapped) std::swap(n_short, n_long);
        keep_only(seq[0], n_short, options.truncation);
        keep_only(seq[1], n_long, options.truncation);
      }
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
