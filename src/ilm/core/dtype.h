// Element types. Compute is f32 for now; bf16 and f16 are storage types that
// convert to and from f32 (round to nearest even), as safetensors holds them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ilm {

enum class DType : uint8_t { f32, bf16, f16, i32, u16, u32, u8 };

size_t dtype_size(DType t);
// Names as safetensors writes them: "F32", "BF16", "F16", "I32", "U16", "U32", "U8".
std::string_view dtype_name(DType t);
// Throws ilm::Error naming the unknown name.
DType dtype_from_name(std::string_view name);

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::u16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::u32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace ilm
