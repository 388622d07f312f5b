// Configs that are JSON objects (or YAML read as JSON): each section reads its known keys
// with their types and refuses the rest, naming the file and key with a "did you mean".
// `key=value` overrides from the command line land in the same tree before it is read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ilm {

// " (did you mean 'model.n_layer'?)" for the known key closest to `key` (edit distance, or
// `key` being the last part of a dotted known key), or "" when none is close.
std::string did_you_mean(std::string_view key, const std::vector<std::string>& known);

// A YAML file as JSON: mappings -> objects, sequences -> arrays, scalars -> integers,
// floats, booleans or null when they read as one (YAML 1.2 core schema), else strings.
// An empty file is an empty object. Errors name the file, line and column.
nlohmann::json load_yaml_as_json(const std::filesystem::path& path);
// One YAML scalar or flow value ("3", "0.5", "true", "[a, b]") as JSON.
nlohmann::json yaml_value_as_json(const std::string& text, const std::string& source);

// Applies "a.b.c=value" to `root`, creating objects on the way; the value is read as
// yaml_value_as_json reads it. Errors name `source` ("--set") and the override.
void apply_override(nlohmann::json& root, const std::string& assignment, const std::string& source);

// Reads the fields of one JSON object. `where` names it in errors ("data.yaml: clean").
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string where);

  // Each sets `out` when the key is present; a wrong type is an error naming the key and
  // the type expected.
  void get(const char* key, bool& out);
  void get(const char* key, int& out);
  void get(const char* key, int64_t& out);
  void get(const char* key, uint64_t& out);
  void get(const char* key, double& out);
  void get(const char* key, std::string& out);
  // A list of strings; a single string (or "a,b" with commas) is accepted as a list.
  void get(const char* key, std::vector<std::string>& out);
  // The sub-object at `key` ({} when absent); an error when it is not an object.
  const nlohmann::json& object(const char* key);
  // Marks a key as known without reading it.
  void allow(const char* key);
  // Throws on the first key that no get/object/allow named.
  void finish() const;

  const std::string& where() const { return where_; }

 private:
  const nlohmann::json* value(const char* key);

  const nlohmann::json& object_;
  std::string where_;
  std::vector<std::string> known_;
};

}  // namespace ilm
