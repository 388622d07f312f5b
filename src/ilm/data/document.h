// Document: one unit of input text as the readers of `ilm data` give it to the pipeline
// (a whole file, a paragraph, a line, a JSON Lines record or a CSV row), with where it
// came from, so that every later report can name the file and line.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ilm/tokenizer/chat_template.h"

namespace ilm {

struct Document {
  std::string text;  // the text; for a chat record, its messages' contents joined by "\n\n"
  std::string file;  // the input path as given
  int64_t line = 0;  // 1-based line where the record (or this piece of a split one) starts
  std::optional<std::string>
      label;  // the label field's value (numbers and bools as JSON spells them)
  std::vector<ChatMessage> messages;  // a chat record's messages; empty otherwise
  nlohmann::json record;  // the whole JSON or CSV record, only with ReaderOptions::keep_record
};

}  // namespace ilm
