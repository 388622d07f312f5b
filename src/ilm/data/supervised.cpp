#include "ilm/data/supervised.h"

#include <algorithm>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {

namespace {

// The string at obj[key], named `field` in errors; nullopt when absent (or null) and optional.
std::optional<std::string> string_field(const json& obj, const char* key, const std::string& field,
                                        bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) fail("{}: missing", field);
    return std::nullopt;
  }
  if (!it->is_string()) fail("{}: expected a string, got {}", field, it->type_name());
  return it->get<std::string>();
}

// A message's content: a string, or OpenAI's list of parts of which only text ones are taken.
std::string content_of(const json& message, const std::string& field) {
  auto it = message.find("content");
  if (it == message.end()) fail("{}.content: missing", field);
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) {
    fail("{}.content: expected a string or a list of text parts, got {}", field, it->type_name());
  }
  std::string text;
  for (size_t k = 0; k < it->size(); ++k) {
    const json& part = (*it)[k];
    const std::string where = fmt::format("{}.content[{}]", field, k);
    if (!part.is_object()) fail("{}: expected an object, got {}", where, part.type_name());
    const std::optional<std::string> type = string_field(part, "type", where + ".type", true);
    if (*type != "text") fail("{}.type: '{}' is not supported, only 'text'", where, *type);
    text += *string_field(part, "text", where + ".text", true);
  }
  return text;
}

void check_role(const std::string& role, size_t i, const std::string& field) {
  if (role != "system" && role != "user" && role != "assistant") {
    fail("{}: unknown role '{}' (expected system, user or assistant)", field, role);
  }
  if (role == "system" && i != 0) fail("{}: a system message must come first", field);
}

const json& array_field(const json& record, const char* key) {
  const json& a = record.at(key);
  if (!a.is_array()) fail("{}: expected a list of messages, got {}", key, a.type_name());
  if (a.empty()) fail("{}: no messages", key);
  return a;
}

std::vector<ChatMessage> openai_messages(const json& record) {
  const json& list = array_field(record, "messages");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = fmt::format("messages[{}]", i);
    const json& m = list[i];
    if (!m.is_object()) fail("{}: expected an object, got {}", field, m.type_name());
    std::string role = *string_field(m, "role", field + ".role", true);
    check_role(role, i, field + ".role");
    out.push_back({std::move(role), content_of(m, field)});
  }
  return out;
}

std::vector<ChatMessage> sharegpt_messages(const json& record) {
  const json& list = array_field(record, "conversations");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = fmt::format("conversations[{}]", i);
    const json& m = list[i];
    if (!m.is_object()) fail("{}: expected an object, got {}", field, m.type_name());
    const std::string from = *string_field(m, "from", field + ".from", true);
    std::string role;
    if (from == "human" || from == "user") {
      role = "user";
    } else if (from == "gpt" || from == "assistant") {
      role = "assistant";
    } else if (from == "system") {
      role = "system";
    } else {
      fail("{}.from: unknown speaker '{}' (expected human, gpt or system)", field, from);
    }
    check_role(role, i, field + ".from");
    out.push_back({std::move(role), *string_field(m, "value", field + ".value", true)});
  }
  return out;
}

}  // namespace

std::vector<ChatMessage> chat_messages_from_record(const json& record) {
  if (!record.is_object()) {
    fail("expected a JSON object (with messages, instruction/output or prompt/completion), got {}",
         record.type_name());
  }
  std::vector<ChatMessage> messages;
  if (record.contains("messages")) {
    messages = openai_messages(record);
  } else if (record.contains("conversations")) {
    messages = sharegpt_messages(record);
  } else if (record.contains("instruction") || record.contains("output")) {
    std::string user = *string_field(record, "instruction", "instruction", true);
    const std::optional<std::string> input = string_field(record, "input", "input", false);
    if (input && !input->empty()) {
      user += "\n\n";
      user += *input;
    }
    messages.push_back({"user", std::move(user)});
    messages.push_back({"assistant", *string_field(record, "output", "output", true)});
  } else if (record.contains("prompt") || record.contains("completion")) {
    messages.push_back({"user", *string_field(record, "prompt", "prompt", true)});
    messages.push_back({"assistant", *string_field(record, "completion", "completion", true)});
  } else {
    std::string keys;
    for (auto it = record.begin(); it != record.end(); ++it) {
      if (!keys.empty()) keys += ", ";
      keys += it.key();
    }
    fail(
        "no chat fields: expected messages, conversations, instruction/output or "
        "prompt/completion; the record has {}",
        keys.empty() ? std::string("no fields") : keys);
  }
  const std::optional<std::string> system = string_field(record, "system", "system", false);
  if (system && !system->empty()) {
    if (messages.front().role == "system") {
      fail("system: the record has a system field and its messages start with a system message");
    }
    messages.insert(messages.begin(), ChatMessage{"system", *system});
  }
  return messages;
}

Truncation truncation_from_name(const std::string& name) {
  if (name == "none") return Truncation::none;
  if (name == "drop") return Truncation::drop;
  if (name == "right") return Truncation::right;
  if (name == "left") return Truncation::left;
  fail("unknown truncation '{}' (known: none, drop, right, left)", name);
}

namespace {

// [begin, end) of n tokens kept under max_tokens (0: no limit); nullopt when dropped.
std::optional<std::pair<size_t, size_t>> kept_range(size_t n, int64_t max_tokens,
                                                    Truncation truncation) {
  if (max_tokens <= 0 || n <= size_t(max_tokens)) return std::pair<size_t, size_t>{0, n};
  const size_t max = size_t(max_tokens);
  switch (truncation) {
    case Truncation::none:
      return std::pair<size_t, size_t>{0, n};
    case Truncation::drop:
      return std::nullopt;
    case Truncation::right:
      return std::pair<size_t, size_t>{0, max};
    case Truncation::left:
      return std::pair<size_t, size_t>{n - max, n};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Example> chat_example(const std::vector<ChatMessage>& messages, const Tokenizer& tok,
                                    const ChatExampleOptions& o) {
  ILM_CHECK(o.max_tokens >= 0, "max_tokens is {}, expected >= 0 (0: no limit)", o.max_tokens);
  const ChatTokens ct = encode_chat(render_chat(messages, o.format), tok);
  const auto range = kept_range(ct.ids.size(), o.max_tokens, o.truncation);
  if (!range) return std::nullopt;
  const auto [begin, end] = *range;
  const auto mask_begin = ct.assistant_mask.begin() + std::ptrdiff_t(begin);
  const auto mask_end = ct.assistant_mask.begin() + std::ptrdiff_t(end);
  if (std::find(mask_begin, mask_end, uint8_t(1)) == mask_end) return std::nullopt;
  Example e;
  e.ids.assign(ct.ids.begin() + std::ptrdiff_t(begin), ct.ids.begin() + std::ptrdiff_t(end));
  if (o.train_on_prompt) {
    e.loss_mask.assign(e.ids.size(), 1);
  } else {
    e.loss_mask.assign(mask_begin, mask_end);
  }
  return e;
}

// ---- LabelMap -------------------------------------------------------------------------------

LabelMap LabelMap::from_names(std::vector<std::string> names) {
  ILM_CHECK(!names.empty(), "a label map needs at least one label");
  LabelMap m;
  for (size_t i = 0; i < names.size(); ++i) {
    ILM_CHECK(!names[i].empty(), "label {} is an empty string", i);
    auto [it, inserted] = m.ids_.emplace(names[i], int32_t(i));
    ILM_CHECK(inserted, "label '{}' appears twice (ids {} and {})", names[i], it->second, i);
  }
  m.names_ = std::move(names);
  return m;
}

LabelMap LabelMap::load(const fs::path& label_map_json) {
  const std::string name = label_map_json.string();
  json j;
  try {
    j = json::parse(read_file(label_map_json));
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON: {}", name, e.what());
  }
  if (!j.is_object())
    fail("{}: expected an object {{\"labels\": [...]}}, got {}", name, j.type_name());
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "labels")
      fail("{}: unknown field '{}' (expected only 'labels')", name, it.key());
  }
  auto it = j.find("labels");
  if (it == j.end()) fail("{}: missing field 'labels'", name);
  if (!it->is_array())
    fail("{}: labels: expected a list of strings, got {}", name, it->type_name());
  std::vector<std::string> names;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string()) fail("{}: labels[{}]: expected a string, got {}", name, i, v.type_name());
    names.push_back(v.get<std::string>());
  }
  try {
    return from_names(std::move(names));
  } catch (const Error& e) {
    throw e.with_context(name);
  }
}

json LabelMap::to_json() const {
  return json{{"labels", names_}};
}

void LabelMap::save(const fs::path& label_map_json) const {
  write_file_atomic(label_map_json, to_json().dump(2) + "\n");
}

std::optional<int32_t> LabelMap::id(std::string_view name) const {
  auto it = ids_.find(std::string(name));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& LabelMap::name(int32_t id) const {
  ILM_CHECK(id >= 0 && id < size(), "label id {} is out of range [0, {})", id, size());
  return names_[size_t(id)];
}

// ---- classification -------------------------------------------------------------------------

std::optional<Example> classification_example(std::string_view text, int32_t label,
                                              const Tokenizer& tok,
                                              const ClassificationOptions& o) {
  ILM_CHECK(label >= 0, "label {}, expected >= 0", label);
  ILM_CHECK(o.max_tokens >= 0, "max_tokens is {}, expected >= 0 (0: no limit)", o.max_tokens);
  std::vector<int32_t> prefix, suffix;
  if (o.add_special) {
    const std::optional<int32_t> cls = tok.special_token_id("[CLS]");
    const std::optional<int32_t> sep = tok.special_token_id("[SEP]");
    if (cls && sep) {
      prefix = {*cls};
      suffix = {*sep};
    } else {
      for (const char* bos : {"<s>", "<|begin_of_text|>", "<bos>"}) {
        if (const std::optional<int32_t> id = tok.special_token_id(bos)) {
          prefix = {*id};
          break;
        }
      }
      if (const std::optional<int32_t> eot = tok.eot_id()) suffix = {*eot};
    }
  }
  const int64_t specials = int64_t(prefix.size() + suffix.size());
  ILM_CHECK(o.max_tokens == 0 || o.max_tokens > specials,
            "max_tokens {} cannot hold the {} special tokens and one token of text", o.max_tokens,
            specials);
  const std::vector<int32_t> ids = tok.encode(text);
  const auto range =
      kept_range(ids.size(), o.max_tokens == 0 ? 0 : o.max_tokens - specials, o.truncation);
  if (!range) return std::nullopt;
  Example e;
  e.label = label;
  e.ids = prefix;
  e.ids.insert(e.ids.end(), ids.begin() + std::ptrdiff_t(range->first),
               ids.begin() + std::ptrdiff_t(range->second));
  e.ids.insert(e.ids.end(), suffix.begin(), suffix.end());
  if (e.ids.empty()) return std::nullopt;
  return e;
}

}  // namespace ilm
