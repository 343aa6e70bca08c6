#include "adaensemble/data/vocabulary.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include "adaensemble/config/error.h"
#include "adaensemble/util/files.h"

namespace adaensemble::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kVocabularyHeader = "# adaensemble vocabulary v1";

// Values may hold any byte but the file is line- and tab-delimited.
std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out;
}

std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
  }
  return out;
}

// Id order as an integer key: `high` = ~count (most frequent first), `low` =
// the value's first 8 bytes read big-endian (byte order), then the value.
struct SortKey {
  uint64_t high;
  uint64_t low;
  uint32_t index;
};

// Sorts by (high, low) ascending: least-significant-digit radix sort on
// bytes, skipping the bytes every key shares.
void radix_sort(std::vector<SortKey>* keys, std::vector<SortKey>* scratch) {
  const std::size_t n = keys->size();
  if (n < 64) {
    std::sort(keys->begin(), keys->end(), [](const SortKey& a, const SortKey& b) {
      return a.high != b.high ? a.high < b.high : a.low < b.low;
    });
    return;
  }
  // Digit d < 8 is byte d of `low`, digit d >= 8 byte d - 8 of `high`.
  const auto digit = [](const SortKey& key, int d) {
    return static_cast<std::size_t>(((d < 8 ? key.low : key.high) >> (8 * (d & 7))) & 0xff);
  };
  std::vector<std::array<std::size_t, 256>> counts(16);
  for (auto& histogram : counts) histogram.fill(0);
  for (const SortKey& key : *keys) {
    for (int d = 0; d < 16; ++d) ++counts[d][digit(key, d)];
  }
  scratch->resize(n);
  for (int d = 0; d < 16; ++d) {
    std::array<std::size_t, 256>& histogram = counts[d];
    if (histogram[digit(keys->front(), d)] == n) continue;
    std::size_t offset = 0;
    for (std::size_t& count : histogram) {
      const std::size_t size = count;
      count = offset;
      offset += size;
    }
    for (const SortKey& key : *keys) (*scratch)[histogram[digit(key, d)]++] = key;
    keys->swap(*scratch);
  }
}

}  // namespace

Vocabulary::Vocabulary(std::vector<Field> fields) : fields_(std::move(fields)) {
  for (const Field& field : fields_) {
    FlatHashMap index(field.values.size());
    for (std::size_t i = 0; i < field.values.size(); ++i) {
      bool inserted = false;
      index.insert(hash_bytes(field.values[i]), static_cast<uint32_t>(i + kFirstValueId),
                   &inserted);
    }
    index_.push_back(std::move(index));
  }
}

Vocabulary::Vocabulary(std::vector<Field> fields, const std::vector<std::vector<uint64_t>>& hashes)
    : fields_(std::move(fields)) {
  for (const std::vector<uint64_t>& field : hashes) {
    FlatHashMap index(field.size());
    for (std::size_t i = 0; i < field.size(); ++i) {
      bool inserted = false;
      index.insert(field[i], static_cast<uint32_t>(i + kFirstValueId), &inserted);
    }
    index_.push_back(std::move(index));
  }
}

Vocabulary Vocabulary::build(const std::vector<std::string>& names,
                             const std::vector<FieldDictionary>& counts,
                             const std::vector<int64_t>& min_counts) {
  std::vector<Field> fields(names.size());
  std::vector<std::vector<uint64_t>> hashes(names.size());
  std::vector<SortKey> keys, scratch;
  for (std::size_t f = 0; f < names.size(); ++f) {
    const FieldDictionary& values = counts.at(f);
    fields[f].name = names[f];
    fields[f].min_count = min_counts.at(f);
    const int64_t min_count = std::max<int64_t>(fields[f].min_count, 1);
    keys.clear();
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (values.counts[k] < min_count) continue;
      const std::string_view value = values.value(k);
      unsigned char bytes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(bytes, value.data(), std::min<std::size_t>(value.size(), 8));
      uint64_t prefix = 0;
      for (const unsigned char byte : bytes) prefix = prefix << 8 | byte;
      keys.push_back({~static_cast<uint64_t>(values.counts[k]), prefix, static_cast<uint32_t>(k)});
    }
    radix_sort(&keys, &scratch);
    // Values sharing count and first 8 bytes are ordered by their whole text.
    for (std::size_t i = 0; i < keys.size();) {
      std::size_t j = i + 1;
      while (j < keys.size() && keys[j].high == keys[i].high && keys[j].low == keys[i].low) ++j;
      if (j - i > 1) {
        std::sort(keys.begin() + i, keys.begin() + j, [&](const SortKey& a, const SortKey& b) {
          return values.value(a.index) < values.value(b.index);
        });
      }
      i = j;
    }
    fields[f].values.reserve(keys.size());
    fields[f].counts.reserve(keys.size());
    hashes[f].reserve(keys.size());
    for (const SortKey& key : keys) {
      fields[f].values.emplace_back(values.value(key.index));
      fields[f].counts.push_back(values.counts[key.index]);
      hashes[f].push_back(values.hashes[key.index]);
    }
  }
  return Vocabulary(std::move(fields), hashes);
}

std::vector<int64_t> Vocabulary::cardinalities() const {
  std::vector<int64_t> out;
  for (const Field& field : fields_) {
    out.push_back(static_cast<int64_t>(field.values.size()) + kFirstValueId);
  }
  return out;
}

int32_t Vocabulary::id_of(int64_t field, std::string_view value) const {
  return id_of_hash(field, value.empty() ? kMissingHash : hash_bytes(value));
}

std::string Vocabulary::value_of(int64_t field, int32_t id) const {
  if (id == kOovId) return "<OOV>";
  if (id == kMissingId) return "<missing>";
  return fields_.at(field).values.at(id - kFirstValueId);
}

uint64_t Vocabulary::hash() const {
  uint64_t h = hash_bytes("vocabulary");
  for (const Field& field : fields_) {
    h = hash_combine(h, hash_bytes(field.name));
    h = hash_combine(h, static_cast<uint64_t>(field.min_count));
    h = hash_combine(h, field.values.size());
    for (const std::string& value : field.values) h = hash_combine(h, hash_bytes(value));
  }
  return h;
}

void Vocabulary::save(const fs::path& path) const {
  std::string text = std::string(kVocabularyHeader) + "\n";
  for (const Field& field : fields_) {
    text += "field\t" + escape(field.name) + "\t" + std::to_string(field.min_count) + "\t" +
            std::to_string(field.values.size()) + "\n";
    for (std::size_t i = 0; i < field.values.size(); ++i) {
      text += escape(field.values[i]) + "\t" + std::to_string(field.counts[i]) + "\n";
    }
  }
  write_text_atomically(path, text);
}

Vocabulary Vocabulary::load(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw DataError(path.string() + ": cannot open vocabulary (check the checkpoint dir)");
  auto corrupt = [&](const std::string& what) {
    return DataError(path.string() + ": " + what + " (the vocabulary file is damaged)");
  };
  std::string line;
  if (!std::getline(in, line) || line != kVocabularyHeader) throw corrupt("bad header");
  std::vector<Field> fields;
  while (std::getline(in, line)) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
      const std::size_t tab = line.find('\t', start);
      parts.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (parts.size() != 4 || parts[0] != "field") throw corrupt("bad field line '" + line + "'");
    Field field;
    field.name = unescape(parts[1]);
    field.min_count = std::stoll(parts[2]);
    const int64_t size = std::stoll(parts[3]);
    for (int64_t i = 0; i < size; ++i) {
      if (!std::getline(in, line)) throw corrupt("truncated in field " + field.name);
      const std::size_t tab = line.rfind('\t');
      if (tab == std::string::npos) throw corrupt("bad value line '" + line + "'");
      field.values.push_back(unescape(line.substr(0, tab)));
      field.counts.push_back(std::stoll(line.substr(tab + 1)));
    }
    fields.push_back(std::move(field));
  }
  return Vocabulary(std::move(fields));
}

}  // namespace adaensemble::data
