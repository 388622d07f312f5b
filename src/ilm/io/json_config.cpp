#include "ilm/io/json_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "ilm/core/error.h"

namespace ilm {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const nlohmann::json kEmptyObject = nlohmann::json::object();

nlohmann::json scalar_as_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted in the YAML: a string whatever it spells
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t i = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && end == s.data() + s.size()) return i;
  double d = 0;
  auto [dend, dec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (dec == std::errc() && dend == s.data() + s.size() && std::isfinite(d)) return d;
  return s;
}

nlohmann::json node_as_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& kv : node) j[kv.first.as<std::string>()] = node_as_json(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& v : node) j.push_back(node_as_json(v));
      return j;
    }
    case YAML::NodeType::Scalar:
      return scalar_as_json(node);
    default:
      return nullptr;
  }
}

const char* type_name(const nlohmann::json& j) {
  if (j.is_object()) return "a mapping";
  if (j.is_array()) return "a list";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a number";
  return "null";
}

}  // namespace

std::string did_you_mean(std::string_view key, const std::vector<std::string>& known) {
  const std::string* best = nullptr;
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;
  for (const std::string& k : known) {
    size_t d = edit_distance(key, k);
    if (k.size() > key.size() && k.compare(k.size() - key.size(), key.size(), key) == 0 &&
        k[k.size() - key.size() - 1] == '.')
      d = 1;  // "n_layer" -> "model.n_layer"
    if (d < best_d) best_d = d, best = &k;
  }
  return best ? " (did you mean '" + *best + "'?)" : std::string();
}

nlohmann::json load_yaml_as_json(const std::filesystem::path& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::BadFile&) {
    fail("{}: cannot read the file", path.string());
  } catch (const YAML::Exception& e) {
    fail("{}: line {}, column {}: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (root.IsNull()) return nlohmann::json::object();
  if (!root.IsMap()) fail("{}: expected a mapping of keys at the top level", path.string());
  return node_as_json(root);
}

nlohmann::json yaml_value_as_json(const std::string& text, const std::string& source) {
  try {
    return node_as_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    fail("{}: cannot read value '{}': {}", source, text, e.msg);
  }
}

void apply_override(nlohmann::json& root, const std::string& assignment, const std::string& source) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("{}: '{}' is not key=value", source, assignment);
  const std::string key = assignment.substr(0, eq);
  nlohmann::json* node = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    if (part.empty()) fail("{}: '{}' has an empty key part", source, assignment);
    if (!node->is_object()) fail("{}: '{}': the part before '{}' is not a mapping", source, assignment, part);
    if (dot == std::string::npos) {
      (*node)[part] = yaml_value_as_json(assignment.substr(eq + 1), source + " " + key);
      return;
    }
    nlohmann::json& next = (*node)[part];
    if (next.is_null()) next = nlohmann::json::object();
    node = &next;
    start = dot + 1;
  }
}

JsonFields::JsonFields(const nlohmann::json& object, std::string where)
    : object_(object.is_null() ? kEmptyObject : object), where_(std::move(where)) {
  if (!object_.is_object()) fail("{}: expected a mapping of keys, found {}", where_, type_name(object_));
}

const nlohmann::json* JsonFields::value(const char* key) {
  known_.emplace_back(key);
  auto it = object_.find(key);
  return it == object_.end() || it->is_null() ? nullptr : &*it;
}

void JsonFields::get(const char* key, bool& out) {
  if (const auto* v = value(key)) {
    if (!v->is_boolean()) fail("{}: key '{}' must be true or false, not {} ({})", where_, key, type_name(*v), v->dump());
    out = v->get<bool>();
  }
}

void JsonFields::get(const char* key, int64_t& out) {
  if (const auto* v = value(key)) {
    if (!v->is_number_integer()) fail("{}: key '{}' must be an integer, not {} ({})", where_, key, type_name(*v), v->dump());
    out = v->get<int64_t>();
  }
}

void JsonFields::get(const char* key, int& out) {
  int64_t wide = out;
  get(key, wide);
  if (wide < INT32_MIN || wide > INT32_MAX) fail("{}: key '{}' = {} is out of range", where_, key, wide);
  out = static_cast<int>(wide);
}

void JsonFields::get(const char* key, uint64_t& out) {
  int64_t wide = static_cast<int64_t>(out);
  get(key, wide);
  if (wide < 0) fail("{}: key '{}' = {} must not be negative", where_, key, wide);
  out = static_cast<uint64_t>(wide);
}

void JsonFields::get(const char* key, double& out) {
  if (const auto* v = value(key)) {
    if (!v->is_number()) fail("{}: key '{}' must be a number, not {} ({})", where_, key, type_name(*v), v->dump());
    out = v->get<double>();
  }
}

void JsonFields::get(const char* key, std::string& out) {
  if (const auto* v = value(key)) {
    if (v->is_string()) {
      out = v->get<std::string>();
    } else if (v->is_number() || v->is_boolean()) {
      out = v->dump();  // `text_field: 2` names a column "2"
    } else {
      fail("{}: key '{}' must be a string, not {}", where_, key, type_name(*v));
    }
  }
}

void JsonFields::get(const char* key, std::vector<std::string>& out) {
  const auto* v = value(key);
  if (!v) return;
  out.clear();
  auto add_split = [&](const std::string& s) {
    size_t start = 0;
    while (start <= s.size()) {
      size_t comma = s.find(',', start);
      if (comma == std::string::npos) comma = s.size();
      if (comma > start) out.push_back(s.substr(start, comma - start));
      start = comma + 1;
    }
  };
  if (v->is_string()) {
    add_split(v->get<std::string>());
  } else if (v->is_array()) {
    for (const auto& e : *v) {
      if (e.is_string()) {
        out.push_back(e.get<std::string>());
      } else if (e.is_number() || e.is_boolean()) {
        out.push_back(e.dump());
      } else {
        fail("{}: key '{}' must be a list of strings; element {} is {}", where_, key, e.dump(), type_name(e));
      }
    }
  } else {
    fail("{}: key '{}' must be a list of strings, not {}", where_, key, type_name(*v));
  }
}

const nlohmann::json& JsonFields::object(const char* key) {
  const auto* v = value(key);
  if (!v) return kEmptyObject;
  if (!v->is_object()) fail("{}: key '{}' must be a mapping of keys, not {}", where_, key, type_name(*v));
  return *v;
}

void JsonFields::allow(const char* key) { known_.emplace_back(key); }

void JsonFields::finish() const {
  for (const auto& [key, v] : object_.items()) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end())
      fail("{}: unknown key '{}'{}", where_, key, did_you_mean(key, known_));
  }
}

}  // namespace ilm
