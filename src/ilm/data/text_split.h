// Where to cut a text that is longer than a document may be: at the last blank line
// before the limit, else at the last newline, else at the last UTF-8 character boundary.
// The pieces, put back together, are the text exactly.
#pragma once

#include <cstddef>
#include <string_view>

namespace ilm {

// The length (in 1..max_bytes) of the first piece of `text`, which is longer than
// max_bytes (> 0). The piece keeps the blank line or newline it is cut after.
size_t document_cut(std::string_view text, size_t max_bytes);

}  // namespace ilm
