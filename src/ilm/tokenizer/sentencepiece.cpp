#include "ilm/tokenizer/sentencepiece.h"

#include <sentencepiece_processor.h>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace ilm {

namespace {

namespace fs = std::filesystem;

// The protobuf wire format, just enough to read each piece's spelling and type.
struct ProtoReader {
  std::string_view data;
  size_t pos = 0;

  bool done() const { return pos >= data.size(); }
  std::optional<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
      auto b = uint8_t(data[pos++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return std::nullopt;
  }
  // Reads one field; `bytes` is set for length-delimited ones. False on malformed input.
  bool field(uint32_t& number, uint64_t& value, std::string_view& bytes) {
    auto key = varint();
    if (!key) return false;
    number = uint32_t(*key >> 3);
    switch (*key & 7) {
      case 0: {
        auto v = varint();
        if (!v) return false;
        value = *v;
        return true;
      }
      case 1:
        pos += 8;
        return pos <= data.size();
      case 5:
        pos += 4;
        return pos <= data.size();
      case 2: {
        auto n = varint();
        if (!n || *n > data.size() - pos) return false;
        bytes = data.substr(pos, size_t(*n));
        pos += size_t(*n);
        return true;
      }
      default:
        return false;
    }
  }
};

// SentencePiece.Type of sentencepiece_model.proto.
constexpr uint64_t kUnknown = 2, kControl = 3, kUserDefined = 4;

// The control, user-defined and unknown pieces of a model proto that libsentencepiece has
// already accepted, by spelling; `controls` gets the control and unknown ones.
std::unordered_map<std::string, int32_t> special_pieces(
    std::string_view model_proto, std::vector<std::pair<std::string, int32_t>>& controls) {
  std::unordered_map<std::string, int32_t> out;
  ProtoReader model{model_proto};
  int32_t id = 0;
  uint32_t number = 0;
  uint64_t value = 0;
  std::string_view bytes;
  while (!model.done() && model.field(number, value, bytes)) {
    if (number != 1) continue;  // ModelProto.pieces
    ProtoReader piece{bytes};
    std::string_view text;
    uint64_t type = 1;  // NORMAL, the default
    std::string_view sub;
    while (!piece.done() && piece.field(number, value, sub)) {
      if (number == 1) text = sub;
      if (number == 3) type = value;
    }
    if (type == kUnknown || type == kControl || type == kUserDefined) out.emplace(text, id);
    if (type == kUnknown || type == kControl) controls.emplace_back(text, id);
    ++id;
  }
  return out;
}

// NormalizerSpec.add_dummy_prefix of a model proto libsentencepiece has accepted (true when
// absent, the proto's default).
bool dummy_prefix_of(std::string_view model_proto) {
  ProtoReader model{model_proto};
  uint32_t number = 0;
  uint64_t value = 0;
  std::string_view bytes;
  bool add = true;
  while (!model.done() && model.field(number, value, bytes)) {
    if (number != 3) continue;  // ModelProto.normalizer_spec
    ProtoReader spec{bytes};
    std::string_view sub;
    while (!spec.done() && spec.field(number, value, sub))
      if (number == 3) add = value != 0;
  }
  return add;
}

std::optional<int32_t> optional_id(int id) {
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

// Where invalid UTF-8 starts in `text`, if anywhere.
std::optional<size_t> first_invalid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    Utf8Scan s = scan_utf8(text, i);
    if (s.status != Utf8Status::ok) return i;
    i += size_t(s.length);
  }
  return std::nullopt;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::string_view model_proto,
                                               const std::string& source)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()), source_(source) {
  // An empty string parses as an empty ModelProto; say what it is rather than "no pieces".
  if (model_proto.empty()) fail("{}: empty file, expected a SentencePiece model", source);
  auto status = processor_->LoadFromSerializedProto(model_proto);
  if (!status.ok()) {
    fail("{}: not a SentencePiece model, or a truncated one ({})", source, status.ToString());
  }
  bos_id_ = optional_id(processor_->bos_id());
  eos_id_ = optional_id(processor_->eos_id());
  unk_id_ = optional_id(processor_->unk_id());
  specials_ = special_pieces(model_proto, controls_);
  add_dummy_prefix_ = dummy_prefix_of(model_proto);
}

float SentencePieceTokenizer::score(int32_t id) const {
  check_id(id, 0);
  return processor_->GetScore(id);
}

SentencePieceTokenizer::PieceType SentencePieceTokenizer::piece_type(int32_t id) const {
  check_id(id, 0);
  if (processor_->IsUnknown(id)) return PieceType::unknown;
  if (processor_->IsControl(id)) return PieceType::control;
  if (processor_->IsByte(id)) return PieceType::byte;
  if (processor_->IsUnused(id)) return PieceType::unused;
  if (specials_.count(processor_->IdToPiece(id))) return PieceType::user_defined;
  return PieceType::normal;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_file(const fs::path& path) {
  std::string proto = read_file(path);
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer(proto, path.string()));
  t->model_path_ = path;
  return t;
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_serialized(
    std::string_view model_proto, const std::string& source) {
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(model_proto, source));
}

int32_t SentencePieceTokenizer::vocab_size() const {
  return int32_t(processor_->GetPieceSize());
}

void SentencePieceTokenizer::check_id(int32_t id, size_t position) const {
  if (id < 0 || id >= vocab_size()) {
    fail("{}: token id {} at position {} is not a token (vocab size {})", source_, id, position,
         vocab_size());
  }
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  if (auto bad = first_invalid_utf8(text)) {
    fail("{}: cannot encode {}", source_, describe_invalid_utf8(text, *bad));
  }
  std::vector<int> ids;
  auto status = processor_->Encode(text, &ids);
  if (!status.ok()) fail("{}: encoding failed: {}", source_, status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::vector<int32_t> SentencePieceTokenizer::encode_for_model(std::string_view text, bool add_bos,
                                                              bool add_eos) const {
  if (add_bos && !bos_id_) fail("{}: the model has no BOS token to add", source_);
  if (add_eos && !eos_id_) fail("{}: the model has no EOS token to add", source_);
  std::vector<int32_t> ids;
  if (add_bos) ids.push_back(*bos_id_);
  std::vector<int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (add_eos) ids.push_back(*eos_id_);
  return ids;
}

std::vector<ModelTemplateItem> SentencePieceTokenizer::model_template(bool pair) const {
  std::vector<ModelTemplateItem> items;
  if (bos_id_) items.push_back({*bos_id_, -1, 0});
  items.push_back({-1, 0, 0});
  if (pair) {
    if (bos_id_) items.push_back({*bos_id_, -1, 1});
    items.push_back({-1, 1, 1});
  }
  return items;
}

std::vector<std::string> SentencePieceTokenizer::encode_as_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int32_t id : encode(text)) pieces.push_back(processor_->IdToPiece(id));
  return pieces;
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  for (size_t i = 0; i < ids.size(); ++i) check_id(ids[i], i);
  std::vector<int> v(ids.begin(), ids.end());
  std::string text;
  auto status = processor_->Decode(v, &text);
  if (!status.ok()) fail("{}: decoding failed: {}", source_, status.ToString());
  return text;
}

std::string SentencePieceTokenizer::piece(int32_t id) const {
  check_id(id, 0);
  return processor_->IdToPiece(id);
}

std::string SentencePieceTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    fail("{}: token id {} is not a token (vocab size {})", source_, id, vocab_size());
  }
  const std::string& p = processor_->IdToPiece(id);
  if (processor_->IsByte(id)) {
    // "<0xAB>": the byte fallback's spelling, fixed by the format.
    return std::string(1, char(std::stoi(p.substr(3, 2), nullptr, 16)));
  }
  if (processor_->IsControl(id)) return "";
  if (processor_->IsUnknown(id)) return " \xE2\x81\x87 ";  // " ⁇ ", as Decode gives
  std::string out;
  static constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 '▁'
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += p[i++];
    }
  }
  return out;
}

std::optional<int32_t> SentencePieceTokenizer::special_token_id(std::string_view name) const {
  auto it = specials_.find(std::string(name));
  if (it == specials_.end()) return std::nullopt;
  return it->second;
}

nlohmann::json SentencePieceTokenizer::to_json() const {
  if (model_path_.empty()) {
    fail("{}: made from a serialized model, so no model file to name in tokenizer.json", source_);
  }
  return to_json_in(fs::absolute(model_path_).parent_path());
}

nlohmann::json SentencePieceTokenizer::to_json_in(const fs::path& json_folder) const {
  if (model_path_.empty()) {
    fail("{}: made from a serialized model, so no model file to name in tokenizer.json", source_);
  }
  fs::path model = fs::absolute(model_path_).lexically_normal();
  fs::path rel = model.lexically_relative(fs::absolute(json_folder).lexically_normal());
  // lexically_relative is empty across roots; the absolute path still names the file.
  return nlohmann::json{{"ilm_tokenizer", 1},
                        {"kind", "sentencepiece"},
                        {"model", (rel.empty() ? model : rel).generic_string()}};
}

std::string sentencepiece_precompiled_charsmap(std::string_view model_proto) {
  ProtoReader model{model_proto};
  uint32_t number = 0;
  uint64_t value = 0;
  std::string_view bytes;
  std::string charsmap;
  while (!model.done()) {
    if (!model.field(number, value, bytes)) fail("not a SentencePiece model (malformed proto)");
    if (number != 3) continue;  // ModelProto.normalizer_spec
    ProtoReader spec{bytes};
    std::string_view sub;
    while (!spec.done()) {
      if (!spec.field(number, value, sub))
        fail("not a SentencePiece model (malformed normalizer_spec)");
      if (number == 2) charsmap = std::string(sub);  // NormalizerSpec.precompiled_charsmap
    }
  }
  return charsmap;
}

std::unique_ptr<SentencePieceTokenizer> sentencepiece_from_json(const nlohmann::json& j,
                                                                const std::string& source) {
  if (!j.is_object()) fail("{}: expected a JSON object", source);
  for (const auto& [key, value] : j.items()) {
    if (key != "ilm_tokenizer" && key != "kind" && key != "model") {
      fail("{}: unknown field \"{}\" for tokenizer kind \"sentencepiece\"", source, key);
    }
  }
  auto it = j.find("model");
  if (it == j.end()) fail("{}: missing field \"model\" (the .model file)", source);
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    fail("{}: field \"model\": expected the path of a .model file, found {}", source, it->dump());
  }
  fs::path model = it->get<std::string>();
  if (model.is_relative()) model = fs::path(source).parent_path() / model;
  try {
    return SentencePieceTokenizer::from_file(model);
  } catch (const Error& e) {
    throw e.with_context(fmt::format("{}: field \"model\"", source));
  }
}

}  // namespace ilm
