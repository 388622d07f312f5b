#include "ilm/tokenizer/chat_template.h"

#include "ilm/core/error.h"

namespace ilm {

ChatFormat chat_format_from_name(const std::string& name) {
  if (name == "chatml") return ChatFormat::chatml;
  if (name == "llama2") return ChatFormat::llama2;
  if (name == "llama3") return ChatFormat::llama3;
  if (name == "plain") return ChatFormat::plain;
  fail("unknown chat format '{}' (known: chatml, llama2, llama3, plain)", name);
}

namespace {

void check_roles(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    ILM_CHECK(r == "system" || r == "user" || r == "assistant",
              "message {}: unknown role '{}' (expected system, user or assistant)", i, r);
    ILM_CHECK(r != "system" || i == 0, "message {}: a system message must come first", i);
  }
}

// Leading and trailing whitespace removed (Llama templates strip message content).
std::string strip(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n\r"), e = s.find_last_not_of(" \t\n\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

struct Builder {
  std::vector<ChatPart> parts;
  void text(std::string t, bool assistant = false) {
    if (t.empty()) return;
    if (!parts.empty() && !parts.back().special && parts.back().assistant == assistant) {
      parts.back().text += t;  // adjacent text encodes as one piece, as the template's string would
    } else {
      parts.push_back({std::move(t), false, assistant});
    }
  }
  void special(std::string name, bool assistant = false) {
    parts.push_back({std::move(name), true, assistant});
  }
};

}  // namespace

std::vector<ChatPart> render_chat(const std::vector<ChatMessage>& messages, ChatFormat format,
                                  bool add_generation_prompt) {
  check_roles(messages);
  Builder b;
  switch (format) {
    case ChatFormat::chatml:
      for (const ChatMessage& m : messages) {
        bool a = m.role == "assistant";
        b.special("<|im_start|>");
        std::string head = m.role;
        head += '\n';
        b.text(std::move(head));
        b.text(m.content, a);
        b.special("<|im_end|>", a);
        b.text("\n");
      }
      if (add_generation_prompt) {
        b.special("<|im_start|>");
        b.text("assistant\n");
      }
      break;
    case ChatFormat::llama3:
      b.special("<|begin_of_text|>");
      for (const ChatMessage& m : messages) {
        bool a = m.role == "assistant";
        b.special("<|start_header_id|>");
        b.text(m.role);
        b.special("<|end_header_id|>");
        b.text("\n\n");
        b.text(strip(m.content), a);
        b.special("<|eot_id|>", a);
      }
      if (add_generation_prompt) {
        b.special("<|start_header_id|>");
        b.text("assistant");
        b.special("<|end_header_id|>");
        b.text("\n\n");
      }
      break;
    case ChatFormat::llama2: {
      size_t i = 0;
      std::string system;
      if (!messages.empty() && messages[0].role == "system") {
        system = "<<SYS>>\n";
        system += strip(messages[0].content);
        system += "\n<</SYS>>\n\n";
        i = 1;
      }
      for (size_t turn = 0; i < messages.size(); ++i, ++turn) {
        const ChatMessage& m = messages[i];
        const char* expected = turn % 2 == 0 ? "user" : "assistant";
        ILM_CHECK(m.role == expected,
                  "message {}: llama2 turns alternate user/assistant; expected {}, got {}", i,
                  expected, m.role);
        if (m.role == "user") {
          b.special("<s>");
          std::string t = "[INST] ";
          if (turn == 0) t += system;
          t += strip(m.content);
          t += " [/INST]";
          b.text(std::move(t));
        } else {
          std::string t = " ";
          t += strip(m.content);
          t += ' ';
          b.text(std::move(t), true);
          b.special("</s>", true);
        }
      }
      break;
    }
    case ChatFormat::plain:
      for (const ChatMessage& m : messages) {
        bool a = m.role == "assistant";
        std::string who = m.role == "system" ? "System" : a ? "Assistant" : "User";
        who += ": ";
        b.text(std::move(who));
        b.text(m.content, a);
        if (a) b.special("<eot>", true);
        b.text("\n");
      }
      if (add_generation_prompt) b.text("Assistant: ");
      break;
  }
  return b.parts;
}

ChatTokens encode_chat(const std::vector<ChatPart>& parts, const Tokenizer& tok) {
  ChatTokens out;
  for (const ChatPart& p : parts) {
    std::vector<int32_t> ids;
    if (p.special) {
      // "<eot>" stands for the tokenizer's own end-of-text token (the plain format).
      std::optional<int32_t> id = p.text == "<eot>" ? tok.eot_id() : tok.special_token_id(p.text);
      if (!id && p.text == "<eot>") continue;  // no end-of-text token: the newline ends the turn
      ILM_CHECK(id.has_value(), "the {} tokenizer has no special token '{}', which this chat format needs",
                tok.kind(), p.text);
      ids.push_back(*id);
    } else {
      ids = tok.encode(p.text);
    }
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    out.assistant_mask.insert(out.assistant_mask.end(), ids.size(), p.assistant ? 1 : 0);
  }
  return out;
}

std::string chat_text(const std::vector<ChatPart>& parts) {
  std::string s;
  for (const ChatPart& p : parts) s += p.text;
  return s;
}

}  // namespace ilm
