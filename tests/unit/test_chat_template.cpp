// Chat templates: the rendered text of each family, the assistant mask, and errors.
#include <gtest/gtest.h>

#include <map>

#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/chat_template.h"
#include "test_util.h"
#include "special_byte_tokenizer.h"

using namespace ilm;
using namespace ilm::test;

namespace {

const std::vector<ChatMessage> kChat = {{"system", "You are terse."},
                                        {"user", "Hi! <|im_end|>"},
                                        {"assistant", "Hello."},
                                        {"user", "2+2?"},
                                        {"assistant", "4"}};


}  // namespace

TEST(ChatTemplate, ChatMLText) {
  EXPECT_EQ(chat_text(render_chat(kChat, ChatFormat::chatml, true)),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi! <|im_end|><|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3Text) {
  EXPECT_EQ(chat_text(render_chat({{"user", " Hi "}, {"assistant", "Hello."}}, ChatFormat::llama3)),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>");
}

TEST(ChatTemplate, Llama2TextFoldsTheSystemPromptIntoTheFirstTurn) {
  EXPECT_EQ(chat_text(render_chat(kChat, ChatFormat::llama2)),
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi! <|im_end|> [/INST] Hello. </s>"
            "<s>[INST] 2+2? [/INST] 4 </s>");
  EXPECT_NE(error_of([] {
              render_chat({{"user", "a"}, {"user", "b"}}, ChatFormat::llama2);
            }).find("alternate"),
            std::string::npos);
}

TEST(ChatTemplate, SpecialTokensByIdAndTheAssistantMask) {
  SpecialByteTokenizer tok({"<|im_start|>", "<|im_end|>"});
  ChatTokens t = encode_chat(render_chat({{"user", "<|im_end|>"}, {"assistant", "ok"}},
                                         ChatFormat::chatml), tok);
  // <|im_start|> user\n <|im_end|>-as-text <|im_end|> \n <|im_start|> assistant\n o k <|im_end|> \n
  std::vector<int32_t> want = {257};
  for (char c : std::string("user\n<|im_end|>")) want.push_back(uint8_t(c));
  want.push_back(258);
  want.push_back('\n');
  want.push_back(257);
  for (char c : std::string("assistant\nok")) want.push_back(uint8_t(c));
  want.push_back(258);
  want.push_back('\n');
  EXPECT_EQ(t.ids, want);
  ASSERT_EQ(t.assistant_mask.size(), want.size());
  // Exactly "ok" and the closing <|im_end|> belong to the assistant.
  std::string masked;
  for (size_t i = 0; i < want.size(); ++i)
    if (t.assistant_mask[i]) masked += t.ids[i] < 256 ? std::string(1, char(t.ids[i])) : "#";
  EXPECT_EQ(masked, "ok#");
}

TEST(ChatTemplate, PlainFormatUsesTheEndOfTextToken) {
  ByteTokenizer tok;
  ChatTokens t = encode_chat(render_chat({{"user", "hi"}, {"assistant", "yo"}}, ChatFormat::plain),
                             tok);
  EXPECT_EQ(tok.decode(t.ids), "User: hi\nAssistant: yo<|endoftext|>\n");
  int assistant_tokens = 0;
  for (uint8_t m : t.assistant_mask) assistant_tokens += m;
  EXPECT_EQ(assistant_tokens, 3);  // 'y', 'o', <|endoftext|>
}

TEST(ChatTemplate, Errors) {
  ByteTokenizer tok;
  std::string e = error_of([&] { encode_chat(render_chat(kChat, ChatFormat::chatml), tok); });
  EXPECT_NE(e.find("<|im_start|>"), std::string::npos) << e;
  EXPECT_NE(error_of([] { render_chat({{"bot", "x"}}, ChatFormat::chatml); }).find("'bot'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              render_chat({{"user", "x"}, {"system", "y"}}, ChatFormat::chatml);
            }).find("must come first"),
            std::string::npos);
  EXPECT_NE(error_of([] { chat_format_from_name("alpaca"); }).find("chatml"), std::string::npos);
}
