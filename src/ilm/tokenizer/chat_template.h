// Chat templates: a list of messages rendered as the token sequence a chat model was
// trained on, with a mask of the tokens the assistant wrote (the ones fine-tuning
// puts loss on). Special tokens are placed by id, so a user who types "<|im_end|>"
// in a message gets text, not a control token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The families:
//   chatml   <|im_start|>role\ncontent<|im_end|>\n              (Qwen, many fine-tunes)
//   llama2   <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s>
//   llama3   <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
//   plain    "User: ...\nAssistant: ...<eot>\n" for tokenizers without chat tokens
enum class ChatFormat { chatml, llama2, llama3, plain };

// "chatml", "llama2", "llama3", "plain"; throws listing them on another name.
ChatFormat chat_format_from_name(const std::string& name);

// One piece of a rendered chat: text to encode, or a special token by name.
struct ChatPart {
  std::string text;
  bool special = false;
  bool assistant = false;  // part of what the assistant wrote (its answer and end token)
};

// The parts of `messages` in `format`. With add_generation_prompt, ends with the opening
// of an assistant turn (for generation). Throws on an unknown role, a system message
// that is not first, or (llama2) turns that do not alternate user/assistant.
std::vector<ChatPart> render_chat(const std::vector<ChatMessage>& messages, ChatFormat format,
                                  bool add_generation_prompt = false);

struct ChatTokens {
  std::vector<int32_t> ids;
  std::vector<uint8_t> assistant_mask;  // 1 where ids[i] was written by the assistant
};

// Encodes rendered parts with `tok`; a special token the tokenizer lacks is an error
// naming it and the format.
ChatTokens encode_chat(const std::vector<ChatPart>& parts, const Tokenizer& tok);

// render_chat's text with special tokens spelled out (for display and tests).
std::string chat_text(const std::vector<ChatPart>& parts);

}  // namespace ilm
