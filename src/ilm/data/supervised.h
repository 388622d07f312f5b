// Supervised examples from records: chat messages from the JSON shapes instruction data comes
// in, rendered by a chat template into ids with a loss mask; classification texts into ids
// with a label, through a LabelMap of label names. The files they go into: example_set.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ilm/data/example_set.h"
#include "ilm/tokenizer/chat_template.h"
#include "ilm/tokenizer/model_input.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// The chat messages of one JSON record, the first of these shapes that it has:
//   {"messages": [{"role": "user", "content": "..."}, ...]}    (OpenAI; content may also be
//                                                  a list of {"type": "text", "text": "..."})
//   {"conversations": [{"from": "human", "value": "..."}, ...]} (ShareGPT; human/user,
//                                                  gpt/assistant, system)
//   {"instruction": "...", "input": "...", "output": "..."}     (Alpaca; input optional: the user
//                                                  turn is instruction, or instruction "\n\n"
//                                                  input)
//   {"prompt": "...", "completion": "..."}
// An optional "system" string becomes the first message (an error if the messages already
// start with one). Other fields are ignored. Throws ilm::Error naming the missing or bad
// field ("messages[2].role: ..."); the caller adds file:line.
std::vector<ChatMessage> chat_messages_from_record(const nlohmann::json& record);

// Truncation (ilm/tokenizer/model_input.h) of an example longer than max_tokens: drop it,
// keep its first (right) or last (left, which keeps the last turn's answer) max_tokens,
// or none (keep it whole).
// "none", "drop", "right", "left"; throws listing them on another name.
Truncation truncation_from_name(const std::string& name);

struct ChatExampleOptions {
  ChatFormat format = ChatFormat::chatml;
  int64_t max_tokens = 0;  // 0: no limit
  Truncation truncation = Truncation::drop;
  bool train_on_prompt = false;  // loss on every token, not only the assistant's
};

// `messages` rendered in o.format and encoded; loss_mask is the assistant mask (all 1 with
// train_on_prompt). nullopt when the example is dropped: longer than max_tokens under drop,
// or no assistant token (none at all, or none left after truncation).
std::optional<Example> chat_example(const std::vector<ChatMessage>& messages, const Tokenizer& tok,
                                    const ChatExampleOptions& o);

// Label names <-> ids 0..n-1.
class LabelMap {
 public:
  // Ids in the given order. Throws on no names, an empty name or a duplicate.
  static LabelMap from_names(std::vector<std::string> names);
  // {"labels": ["negative", "positive"]}: entry i is the name of id i.
  static LabelMap load(const std::filesystem::path& label_map_json);
  // Writes that JSON atomically.
  void save(const std::filesystem::path& label_map_json) const;
  nlohmann::json to_json() const;

  // nullopt for a name not in the map (the caller reports it with its file and line).
  std::optional<int32_t> id(std::string_view name) const;
  // Throws naming an id outside [0, size()).
  const std::string& name(int32_t id) const;
  int32_t size() const { return static_cast<int32_t>(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int32_t> ids_;
};

struct ClassificationOptions {
  int64_t max_tokens = 0;  // 0: no limit; counts the special tokens added
  Truncation truncation = Truncation::right;
  // [CLS] text [SEP] when the tokenizer has both (BERT); otherwise the first of <s>,
  // <|begin_of_text|>, <bos> it has before the text and its end-of-text token after.
  bool add_special = true;
};

// The ids of `text` with the special tokens, truncated as asked, and `label` (>= 0; checked
// against the number of labels by ExampleSetWriter). nullopt when dropped: too long under drop,
// or no token at all (empty text and no special tokens). Throws when max_tokens cannot hold
// the special tokens and one token of text.
std::optional<Example> classification_example(std::string_view text, int32_t label,
                                              const Tokenizer& tok, const ClassificationOptions& o);

}  // namespace ilm
