#include "adaensemble/data/vocabulary.h"

#include <algorithm>
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
  // Sort keys: the count, then the first 8 bytes of the value read big-endian
  // (so integer order is byte order); only values sharing those bytes compare
  // their whole text.
  struct Key {
    int64_t count;
    uint64_t prefix;
    uint32_t index;
  };
  std::vector<Field> fields(names.size());
  std::vector<std::vector<uint64_t>> hashes(names.size());
  std::vector<Key> keys;
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
      keys.push_back({values.counts[k], prefix, static_cast<uint32_t>(k)});
    }
    std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
      if (a.count != b.count) return a.count > b.count;
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return values.value(a.index) < values.value(b.index);
    });
    fields[f].values.reserve(keys.size());
    fields[f].counts.reserve(keys.size());
    hashes[f].reserve(keys.size());
    for (const Key& key : keys) {
      fields[f].values.emplace_back(values.value(key.index));
      fields[f].counts.push_back(key.count);
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
