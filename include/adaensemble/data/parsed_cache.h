// Stage 1 of the column cache: one (file, row range, schema) parsed once into
// column files (labels u8, numeric f32, categorical u32 value codes) plus a
// per-field dictionary code -> (value hash, count, value text), values in
// order of first occurrence in the file. Files are memory-mapped
// when read, so data larger than RAM stays on disk. Built in a temporary
// directory and renamed into place with a completion marker, so an
// interrupted build is never trusted. Opened slices are read-only and safe to
// share between threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adaensemble/data/bad_rows.h"
#include "adaensemble/data/schema.h"

namespace adaensemble::data {

using config::FileSlice;

/// A read-only memory mapping of a whole file.
class MappedFile {
 public:
  /// Maps `path`; throws DataError naming the file when it cannot.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Row code of a missing categorical value; value k of a field's dictionary has code k + 1.
inline constexpr uint32_t kMissingCode = 0;

/// The distinct values of one categorical field: value hashes, counts and
/// texts side by side. In a parsed slice the values are in order of first
/// occurrence in the file, whatever the number of parser threads.
struct FieldDictionary {
  std::vector<uint64_t> hashes;
  std::vector<int64_t> counts;
  /// Value k is text[offsets[k], offsets[k + 1]).
  std::vector<uint64_t> offsets{0};
  std::string text;

  std::size_t size() const { return hashes.size(); }
  std::string_view value(std::size_t k) const {
    return std::string_view(text).substr(offsets[k], offsets[k + 1] - offsets[k]);
  }
  /// Appends a value; the caller keeps values distinct.
  void add(uint64_t hash, std::string_view value, int64_t count) {
    hashes.push_back(hash);
    counts.push_back(count);
    text.append(value.data(), value.size());
    offsets.push_back(text.size());
  }
};

/// Returns the cache directory: `configured` if set, else
/// $XDG_CACHE_HOME/adaensemble, else ~/.cache/adaensemble.
std::filesystem::path resolve_cache_dir(const std::filesystem::path& configured);

/// Records a checksum of every file of `dir` in `dir/COMPLETE`, the marker
/// each cache stage writes last.
void mark_complete(const std::filesystem::path& dir);

/// Returns true when `dir/COMPLETE` exists and matches the files of `dir`.
bool is_complete(const std::filesystem::path& dir);

/// Moves the fully written directory `staged` to `target`; if another
/// process completed `target` first, keeps that one and drops `staged`.
void publish_directory(const std::filesystem::path& staged, const std::filesystem::path& target);

class ParsedSlice {
 public:
  /// Opens the cached parse of `slice`, building it first when absent or
  /// incomplete. Applies `policy`: under kFail any bad row throws DataError
  /// with its file, line and reason; under kSkip bad rows are dropped unless
  /// they exceed policy.max_fraction of the slice's rows.
  static std::shared_ptr<const ParsedSlice> open(const FileSlice& slice, const Schema& schema,
                                                 const BadRowPolicy& policy,
                                                 const std::filesystem::path& cache_dir,
                                                 int threads = 0);

  int64_t rows() const { return rows_; }
  int64_t positives() const { return positives_; }
  int64_t num_numeric() const { return static_cast<int64_t>(numeric_.size()); }
  int64_t num_categorical() const { return static_cast<int64_t>(codes_.size()); }
  const uint8_t* labels() const;
  const float* numeric(int64_t field) const;
  /// Returns the value codes of categorical field `field`, one per row
  /// (kMissingCode, or 1 + the value's index in the field's dictionary).
  const uint32_t* codes(int64_t field) const;
  /// Missing values per field: numeric fields first, then categorical.
  const std::vector<int64_t>& missing() const { return missing_; }
  const BadRowReport& bad_rows() const { return bad_rows_; }
  /// Returns the dictionary of every categorical field (read from disk).
  std::vector<FieldDictionary> dictionary() const;
  /// Returns the cache key (hex) and directory.
  const std::string& key() const { return key_; }
  const std::filesystem::path& dir() const { return dir_; }
  /// Returns the source file the slice was parsed from.
  const std::filesystem::path& source() const { return source_; }

 private:
  ParsedSlice() = default;
  void load(const std::filesystem::path& dir);

  std::string key_;
  std::filesystem::path dir_;
  std::filesystem::path source_;
  int64_t rows_ = 0;
  int64_t positives_ = 0;
  std::vector<int64_t> missing_;
  BadRowReport bad_rows_;
  std::unique_ptr<MappedFile> labels_;
  std::vector<std::unique_ptr<MappedFile>> numeric_;
  std::vector<std::unique_ptr<MappedFile>> codes_;
};

}  // namespace adaensemble::data
