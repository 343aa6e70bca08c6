#include "adaensemble/data/dataset.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include "adaensemble/config/error.h"
#include "adaensemble/util/files.h"

namespace adaensemble::data {
namespace fs = std::filesystem;
namespace {

std::string hex(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

DataError codes_beyond_dictionary(const ParsedSlice& parsed) {
  return DataError(parsed.dir().string() +
                   ": value codes beyond the dictionary (delete the directory to rebuild it)");
}

void encode_into(const ParsedSlice& parsed, const Vocabulary& vocabulary, const fs::path& staged,
                 int threads) {
  const int64_t fields = parsed.num_categorical();
  const int64_t rows = parsed.rows();
  const std::vector<FieldDictionary> dictionary = parsed.dictionary();
  const int64_t workers =
      std::min<int64_t>(std::max<int64_t>(fields, 1),
                        threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  std::vector<std::string> errors(workers);
  for (int64_t w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      std::vector<int32_t> buffer(std::min<int64_t>(rows, 1 << 20));
      std::vector<int32_t> ids;
      for (int64_t f = w; f < fields; f += workers) {
        // One vocabulary lookup per distinct value; rows then map code -> id.
        const std::vector<uint64_t>& hashes = dictionary[f].hashes;
        ids.assign(1, kMissingId);
        for (const uint64_t hash : hashes) ids.push_back(vocabulary.id_of_hash(f, hash));
        const fs::path path = staged / ("ids." + std::to_string(f) + ".i32");
        std::FILE* out = std::fopen(path.c_str(), "wb");
        if (!out) {
          errors[w] = path.string() + ": cannot write (check data.cache_dir)";
          return;
        }
        const uint32_t* codes = parsed.codes(f);
        const uint32_t limit = static_cast<uint32_t>(hashes.size());
        bool ok = true;
        for (int64_t start = 0; start < rows; start += static_cast<int64_t>(buffer.size())) {
          const int64_t n = std::min<int64_t>(rows - start, buffer.size());
          uint32_t largest = 0;
          for (int64_t i = 0; i < n; ++i) largest = std::max(largest, codes[start + i]);
          if (largest > limit) {
            std::fclose(out);
            errors[w] = codes_beyond_dictionary(parsed).what();
            return;
          }
          for (int64_t i = 0; i < n; ++i) buffer[i] = ids[codes[start + i]];
          ok = ok && std::fwrite(buffer.data(), 4, n, out) == static_cast<std::size_t>(n);
        }
        ok = std::fclose(out) == 0 && ok;
        if (!ok) {
          errors[w] = path.string() + ": write failed (check free space in data.cache_dir)";
          return;
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (const std::string& error : errors) {
    if (!error.empty()) throw DataError(error);
  }
  std::FILE* meta = std::fopen((staged / "rows.txt").c_str(), "w");
  if (!meta) throw DataError((staged / "rows.txt").string() + ": cannot write");
  std::fprintf(meta, "%lld\n", static_cast<long long>(rows));
  std::fclose(meta);
  mark_complete(staged);
}

// Counts each categorical value over rows [begin, end) of a parsed slice.
std::vector<FieldDictionary> count_values(const ParsedSlice& parsed, int64_t begin, int64_t end) {
  std::vector<FieldDictionary> dictionary = parsed.dictionary();
  if (begin == 0 && end == parsed.rows()) return dictionary;
  for (int64_t f = 0; f < parsed.num_categorical(); ++f) {
    std::vector<int64_t>& counts = dictionary[f].counts;
    std::fill(counts.begin(), counts.end(), 0);
    const uint32_t* codes = parsed.codes(f);
    const std::size_t size = counts.size();
    for (int64_t r = begin; r < end; ++r) {
      const uint32_t code = codes[r];
      if (code > size) throw codes_beyond_dictionary(parsed);
      if (code != kMissingCode) ++counts[code - 1];
    }
  }
  return dictionary;
}

// Adds the counts of `part` to `total`, matching values by hash.
void merge_counts(std::vector<FieldDictionary>* total, std::vector<FlatHashMap>* index,
                  const std::vector<FieldDictionary>& part) {
  for (std::size_t f = 0; f < part.size(); ++f) {
    FieldDictionary& into = (*total)[f];
    for (std::size_t k = 0; k < part[f].size(); ++k) {
      if (part[f].counts[k] == 0) continue;
      bool inserted = false;
      const uint32_t slot =
          (*index)[f].insert(part[f].hashes[k], static_cast<uint32_t>(into.size()), &inserted);
      if (inserted) {
        into.add(part[f].hashes[k], part[f].value(k), part[f].counts[k]);
      } else {
        into.counts[slot] += part[f].counts[k];
      }
    }
  }
}

std::vector<int64_t> min_counts(const config::DataConfig& config,
                                const std::vector<std::string>& names) {
  for (const auto& [name, count] : config.field_min_count) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      throw ConfigError("data.field_min_count." + name +
                        ": no categorical field of that name (check the spelling)");
    }
  }
  std::vector<int64_t> out;
  for (const std::string& name : names) {
    const auto it = config.field_min_count.find(name);
    out.push_back(it == config.field_min_count.end() ? config.min_count : it->second);
  }
  return out;
}

}  // namespace

std::shared_ptr<const EncodedIds> EncodedIds::open(const ParsedSlice& parsed,
                                                   const Vocabulary& vocabulary,
                                                   const fs::path& cache_dir, int threads) {
  const std::string key = parsed.key() + "-" + hex(vocabulary.hash());
  const fs::path dir = cache_dir / "v1" / "encoded" / key;
  if (!is_complete(dir)) {
    fs::create_directories(dir.parent_path());
    std::random_device random;
    const fs::path staged = dir.parent_path() / (key + ".tmp." + std::to_string(::getpid()) + "." +
                                                 std::to_string(random()));
    fs::create_directories(staged);
    try {
      encode_into(parsed, vocabulary, staged, threads);
    } catch (...) {
      std::error_code ignored;
      fs::remove_all(staged, ignored);
      throw;
    }
    publish_directory(staged, dir);
  }
  std::shared_ptr<EncodedIds> ids(new EncodedIds());
  for (int64_t f = 0; f < parsed.num_categorical(); ++f) {
    ids->ids_.push_back(std::make_unique<MappedFile>(dir / ("ids." + std::to_string(f) + ".i32")));
    if (ids->ids_.back()->size() != static_cast<std::size_t>(parsed.rows()) * 4) {
      throw DataError(dir.string() +
                      ": id file size does not match the parsed rows (delete the "
                      "directory to rebuild it)");
    }
  }
  return ids;
}

const int32_t* EncodedIds::field(int64_t field) const {
  return reinterpret_cast<const int32_t*>(ids_.at(field)->data());
}

EncodedSplit::EncodedSplit(std::vector<Part> parts, int64_t num_numeric, int64_t num_categorical)
    : parts_(std::move(parts)), num_numeric_(num_numeric), num_categorical_(num_categorical) {
  for (const Part& part : parts_) rows_ += part.rows();
}

int64_t EncodedSplit::positives() const {
  int64_t total = 0;
  for (const Part& part : parts_) {
    const uint8_t* labels = part.parsed->labels();
    for (int64_t r = part.begin; r < part.end; ++r) total += labels[r];
  }
  return total;
}

std::shared_ptr<const EncodedSplit> EncodedSplit::slice(int64_t begin, int64_t end) const {
  if (begin < 0 || begin > end || end > rows_) {
    throw std::invalid_argument("EncodedSplit::slice: rows [" + std::to_string(begin) + ", " +
                                std::to_string(end) + ") are outside the split's " +
                                std::to_string(rows_) + " rows");
  }
  std::vector<Part> parts;
  int64_t start = 0;  // Split row of the current part's first row.
  for (const Part& part : parts_) {
    const int64_t from = std::max(begin, start);
    const int64_t to = std::min(end, start + part.rows());
    if (from < to) {
      parts.push_back({part.parsed, part.ids, part.begin + from - start, part.begin + to - start});
    }
    start += part.rows();
  }
  return std::make_shared<EncodedSplit>(std::move(parts), num_numeric_, num_categorical_);
}

void EncodedSplit::copy_rows(std::size_t part_index, int64_t row, int64_t count, int64_t out_row,
                             int64_t* ids, float* numeric, float* labels) const {
  const Part& part = parts_[part_index];
  const int64_t start = part.begin + row;
  const uint8_t* label = part.parsed->labels() + start;
  for (int64_t i = 0; i < count; ++i) labels[out_row + i] = label[i];
  const int64_t c = num_categorical_;
  for (int64_t f = 0; f < c; ++f) {
    const int32_t* source = part.ids->field(f) + start;
    int64_t* target = ids + out_row * c + f;
    for (int64_t i = 0; i < count; ++i) target[i * c] = source[i];
  }
  const int64_t n = num_numeric_;
  for (int64_t f = 0; f < n; ++f) {
    const float* source = part.parsed->numeric(f) + start;
    float* target = numeric + out_row * n + f;
    for (int64_t i = 0; i < count; ++i) target[i * n] = source[i];
  }
}

std::shared_ptr<const EncodedSplit> encode_files(const std::vector<FileSlice>& files,
                                                 const Schema& schema, const Vocabulary& vocabulary,
                                                 const BadRowPolicy& policy,
                                                 const std::string& cache_dir, BadRowReport* report,
                                                 int threads) {
  const fs::path cache = resolve_cache_dir(cache_dir);
  std::vector<EncodedSplit::Part> parts;
  for (const FileSlice& file : files) {
    auto parsed = ParsedSlice::open(file, schema, policy, cache, threads);
    if (report) report->merge(parsed->bad_rows(), policy.report_first);
    auto ids = EncodedIds::open(*parsed, vocabulary, cache, threads);
    parts.push_back({parsed, ids, 0, parsed->rows()});
  }
  return std::make_shared<EncodedSplit>(std::move(parts), schema.num_numeric(),
                                        schema.num_categorical());
}

PreparedData prepare_data(const config::DataConfig& config) {
  if (config.train.empty()) {
    throw ConfigError("data.train: missing (list at least one training file)");
  }
  PreparedData data;
  data.schema = make_schema(config);
  const fs::path cache = resolve_cache_dir(config.cache_dir);
  const BadRowPolicy& policy = config.bad_rows;

  // Stage 1: parse the training files; carve the validation tail if asked.
  std::vector<EncodedSplit::Part> train_parts, valid_parts;
  for (const FileSlice& file : config.train) {
    auto parsed = ParsedSlice::open(file, data.schema, policy, cache, config.threads);
    data.bad_rows.merge(parsed->bad_rows(), policy.report_first);
    const int64_t rows = parsed->rows();
    const int64_t held = static_cast<int64_t>(static_cast<double>(rows) * config.valid_fraction);
    train_parts.push_back({parsed, nullptr, 0, rows - held});
    if (held > 0) valid_parts.push_back({parsed, nullptr, rows - held, rows});
  }

  // Stage 2: the vocabulary counts training rows only.
  const std::vector<std::string> names = data.schema.categorical_names();
  std::vector<FieldDictionary> counts(names.size());
  if (train_parts.size() == 1) {
    const auto& part = train_parts.front();
    counts = count_values(*part.parsed, part.begin, part.end);
  } else {
    std::vector<FlatHashMap> index(names.size());
    for (const auto& part : train_parts) {
      merge_counts(&counts, &index, count_values(*part.parsed, part.begin, part.end));
    }
  }
  data.vocabulary = Vocabulary::build(names, counts, min_counts(config, names));

  // Stage 3: ids per parsed slice.
  const int64_t num_numeric = data.schema.num_numeric();
  const int64_t num_categorical = data.schema.num_categorical();
  for (auto* parts : {&train_parts, &valid_parts}) {
    for (auto& part : *parts) {
      part.ids = EncodedIds::open(*part.parsed, data.vocabulary, cache, config.threads);
    }
  }
  data.train = std::make_shared<EncodedSplit>(train_parts, num_numeric, num_categorical);
  if (!valid_parts.empty()) {
    data.valid = std::make_shared<EncodedSplit>(valid_parts, num_numeric, num_categorical);
  }
  if (!config.valid.empty()) {
    data.valid = encode_files(config.valid, data.schema, data.vocabulary, policy, cache.string(),
                              &data.bad_rows, config.threads);
  }
  if (!config.test.empty()) {
    data.test = encode_files(config.test, data.schema, data.vocabulary, policy, cache.string(),
                             &data.bad_rows, config.threads);
  }
  return data;
}

void save_features(const Schema& schema, const Vocabulary& vocabulary, const fs::path& dir) {
  fs::create_directories(dir);
  write_text_atomically(dir / "schema.json", schema.to_json());
  vocabulary.save(dir / "vocabulary.tsv");
}

std::pair<Schema, Vocabulary> load_features(const fs::path& dir) {
  if (!fs::exists(dir / "schema.json")) {
    throw DataError((dir / "schema.json").string() +
                    ": missing (not a checkpoint directory written by training)");
  }
  Schema schema = Schema::from_json(read_text_file(dir / "schema.json"));
  Vocabulary vocabulary = Vocabulary::load(dir / "vocabulary.tsv");
  if (vocabulary.num_fields() != schema.num_categorical()) {
    throw DataError(dir.string() + ": vocabulary has " + std::to_string(vocabulary.num_fields()) +
                    " fields, schema has " + std::to_string(schema.num_categorical()) +
                    " categorical fields (the checkpoint is damaged)");
  }
  return {std::move(schema), std::move(vocabulary)};
}

RowEncoder::RowEncoder(const Schema& schema, const Vocabulary& vocabulary)
    : vocabulary_(&vocabulary), parser_(schema) {}

void RowEncoder::encode(const std::vector<std::string>& fields, int64_t* ids,
                        float* numeric) const {
  ParsedRow row;
  std::string reason;
  if (!parser_.parse_features(fields, &row, &reason)) throw DataError("row: " + reason);
  for (std::size_t f = 0; f < row.hashes.size(); ++f) {
    ids[f] = vocabulary_->id_of_hash(static_cast<int64_t>(f), row.hashes[f]);
  }
  std::copy(row.numeric.begin(), row.numeric.end(), numeric);
}

}  // namespace adaensemble::data
