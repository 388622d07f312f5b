// Loading a model's weights from safetensors against the list of tensors the model expects.
// Every problem is collected first and reported in one error (one line, the first 20 listed),
// so a wrong checkpoint shows its differences at once:
//
//   model.safetensors: 3 problems loading weights: missing: 'h.1.mlp.c_fc.weight' (expected
//   F32 [768, 3072]); unexpected: 'h.12.ln_1.weight' (F32 [768]); shape mismatch: 'wte.weight'
//   expected [50257, 768], found [50304, 768]
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ilm/core/dtype.h"
#include "ilm/core/shape.h"
#include "ilm/core/tensor.h"
#include "ilm/io/safetensors_index.h"

namespace ilm {

struct ExpectedTensor {
  std::string name;
  Shape shape;
  DType dtype = DType::f32;
};

struct ExpectOptions {
  // Names in the file that the model does not need, as shell-style patterns ('*' any run of
  // characters, '?' one character), for example GPT-2's buffers "*.attn.bias",
  // "*.attn.masked_bias". Other extra tensors are errors.
  std::vector<std::string> ignore;
  // Stored F32/BF16/F16 tensors load converted to the expected float dtype (round to nearest
  // even). False: any dtype difference is a mismatch.
  bool convert_floats = true;
};

// Shell-style match of the whole name ('*', '?'); no character classes.
bool name_matches(const std::string& pattern, const std::string& name);

// The expected tensors by name, each with the expected shape and dtype (stored F32 as a
// zero-copy view of the map when it is aligned). Throws one ilm::Error naming the checkpoint
// and listing every missing, unexpected, shape-mismatched and dtype-mismatched tensor with
// expected versus found.
std::map<std::string, Tensor> load_expected(const SafetensorsIndex& source,
                                            const std::vector<ExpectedTensor>& expected,
                                            const ExpectOptions& options = {});

}  // namespace ilm
