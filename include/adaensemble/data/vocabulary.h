// Per-field categorical vocabularies built from the training split. Ids per
// field: 0 = OOV (unseen in training or below min_count), 1 = missing (empty
// field), 2.. = known values, most frequent first, ties by byte order of the
// value text. Each vocabulary keeps the original value strings (the exported
// model's Dict[str, int]) and its value hashes for fast encoding. Read-only
// after construction, so safe to share between threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "adaensemble/data/hashing.h"
#include "adaensemble/data/parsed_cache.h"

namespace adaensemble::data {

inline constexpr int32_t kOovId = 0;
inline constexpr int32_t kMissingId = 1;
inline constexpr int32_t kFirstValueId = 2;

class Vocabulary {
 public:
  struct Field {
    std::string name;
    int64_t min_count = 1;
    /// Known values; values[i] has id i + kFirstValueId.
    std::vector<std::string> values;
    /// Training counts, parallel to `values`.
    std::vector<int64_t> counts;
  };

  Vocabulary() = default;
  /// Takes finished fields and builds the hash index.
  explicit Vocabulary(std::vector<Field> fields);

  /// Builds the vocabulary from per-field value counts gathered over the
  /// training split; values counted fewer than the field's min_count times
  /// (and never fewer than once) are left out.
  static Vocabulary build(const std::vector<std::string>& names,
                          const std::vector<FieldDictionary>& counts,
                          const std::vector<int64_t>& min_counts);

  int64_t num_fields() const { return static_cast<int64_t>(fields_.size()); }
  const Field& field(int64_t index) const { return fields_.at(index); }
  const std::vector<Field>& fields() const { return fields_; }

  /// Returns rows per categorical field's embedding table: known values + OOV + missing.
  std::vector<int64_t> cardinalities() const;

  /// Returns the id of a value hash in `field` (kMissingHash -> kMissingId, unknown -> kOovId).
  int32_t id_of_hash(int64_t field, uint64_t hash) const {
    if (hash == kMissingHash) return kMissingId;
    const uint32_t id = index_[field].find(hash);
    return id == FlatHashMap::kAbsent ? kOovId : static_cast<int32_t>(id);
  }
  /// Returns the id of a value text in `field` ("" is missing).
  int32_t id_of(int64_t field, std::string_view value) const;
  /// Returns the text of `id` in `field`: "<OOV>", "<missing>" or the value.
  std::string value_of(int64_t field, int32_t id) const;

  /// Returns a hash of every field's name, min_count and values.
  uint64_t hash() const;

  /// Writes the vocabulary to `path` as text, and reads it back.
  void save(const std::filesystem::path& path) const;
  static Vocabulary load(const std::filesystem::path& path);

 private:
  /// Takes finished fields and their values' hashes (parallel to Field::values).
  Vocabulary(std::vector<Field> fields, const std::vector<std::vector<uint64_t>>& hashes);

  std::vector<Field> fields_;
  std::vector<FlatHashMap> index_;
};

}  // namespace adaensemble::data
