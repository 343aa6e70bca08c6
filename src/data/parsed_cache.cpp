#include "adaensemble/data/parsed_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "adaensemble/config/error.h"
#include "adaensemble/data/hashing.h"
#include "adaensemble/data/row_parser.h"
#include "adaensemble/util/files.h"

namespace adaensemble::data {
namespace fs = std::filesystem;
namespace {

constexpr int kCacheVersion = 2;
constexpr std::size_t kChunkBytes = std::size_t{8} << 20;

std::string hex(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

// A file written in large appends; throws DataError on any failure.
class Writer {
 public:
  explicit Writer(const fs::path& path) : path_(path), file_(std::fopen(path.c_str(), "wb")) {
    if (!file_) throw DataError(path.string() + ": cannot write cache file (check data.cache_dir)");
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  }
  ~Writer() {
    if (file_) std::fclose(file_);
  }
  void write(const void* data, std::size_t bytes) {
    if (bytes && std::fwrite(data, 1, bytes, file_) != bytes) fail();
  }
  void close() {
    const int status = std::fclose(file_);
    file_ = nullptr;
    if (status != 0) fail();
  }

 private:
  [[noreturn]] void fail() {
    throw DataError(path_.string() + ": write failed: " + std::strerror(errno) +
                    " (check free space in data.cache_dir)");
  }
  fs::path path_;
  std::FILE* file_;
};

// The values of one categorical field seen by one parser thread: an
// open-addressing table from value hash to (code, count), linear probing at a
// load of at most 1/2, one 16-byte slot per value so a lookup touches one
// cache line; and the values themselves in order of first occurrence.
class ValueTable {
 public:
  explicit ValueTable(std::string field) : field_(std::move(field)), slots_(1024), mask_(1023) {}

  /// Starts loading the slot of `hash` into cache ahead of add().
  void prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_]); }

  /// Counts one occurrence of `value` (whose hash is `hash`) and returns its code.
  uint32_t add(uint64_t hash, std::string_view value) {
    std::size_t i = hash & mask_;
    while (true) {
      Slot& slot = slots_[i];
      if (slot.hash == hash) {
        // Counts past 2^32 carry into the 64-bit count of the value.
        if (++slot.count == 0) values_.counts[slot.code - 1] += int64_t{1} << 32;
        return slot.code;
      }
      if (slot.hash == 0) break;
      i = (i + 1) & mask_;
    }
    if ((values_.size() + 1) * 2 > slots_.size()) {
      grow();
      return add(hash, value);
    }
    if (values_.size() >= kMaxCode) {
      throw DataError(field_ + ": more than " + std::to_string(kMaxCode) +
                      " distinct values in one file (split the file into row ranges)");
    }
    values_.add(hash, value, 0);
    const uint32_t code = static_cast<uint32_t>(values_.size());
    slots_[i] = {hash, code, 1};
    return code;
  }

  /// Returns the values so far; their counts are complete only after take().
  const FieldDictionary& values() const { return values_; }

  /// Completes the counts and hands the values over; the table is spent.
  FieldDictionary take() {
    for (const Slot& slot : slots_) {
      if (slot.hash != 0) values_.counts[slot.code - 1] += slot.count;
    }
    slots_.clear();
    return std::move(values_);
  }

 private:
  struct Slot {
    uint64_t hash;  // 0 = empty (kMissingHash is never stored)
    uint32_t code;
    uint32_t count;
  };
  static constexpr std::size_t kMaxCode = 0xfffffffeu;

  void grow() {
    std::vector<Slot> old(slots_.size() * 2, Slot{0, 0, 0});
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.hash == 0) continue;
      std::size_t i = slot.hash & mask_;
      while (slots_[i].hash != 0) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  std::string field_;
  std::vector<Slot> slots_;
  std::size_t mask_;
  FieldDictionary values_;
};

// One parser thread's state: value tables persist across rounds, the column
// buffers hold the current chunk's rows. With several threads, `remap` takes
// each table's codes to the slice's codes (index 0 stays kMissingCode).
struct Worker {
  std::vector<ValueTable> tables;
  std::vector<std::vector<uint32_t>> remap;
  std::vector<int64_t> missing;
  int64_t positives = 0;

  const char* begin = nullptr;
  const char* end = nullptr;
  int64_t first_line = 0;
  int64_t lines = 0;
  /// Rows of this chunk stored in the columns below.
  int64_t stored = 0;
  std::vector<uint8_t> labels;
  std::vector<std::vector<float>> numeric;
  std::vector<std::vector<uint32_t>> codes;
  BadRowReport bad;
};

struct ParseJob {
  const Schema* schema;
  const FileSlice* slice;
  const BadRowPolicy* policy;
  std::string file_name;
  int64_t header_lines = 0;
};

int64_t count_lines(const char* begin, const char* end) {
  int64_t lines = 0;
  for (const char* p = begin; p < end;) {
    const void* found = std::memchr(p, '\n', end - p);
    ++lines;
    if (!found) break;
    p = static_cast<const char*>(found) + 1;
  }
  return lines;
}

// Appends a parsed row to the chunk's columns.
void store_row(const ParsedRow& row, Worker* worker) {
  const std::size_t r = static_cast<std::size_t>(worker->stored++);
  if (r == worker->labels.size()) {
    // Columns only grow, so after the first rounds no round allocates.
    const std::size_t rows = std::max<std::size_t>(4096, 2 * r);
    worker->labels.resize(rows);
    for (auto& column : worker->numeric) column.resize(rows);
    for (auto& column : worker->codes) column.resize(rows);
  }
  const std::size_t num_numeric = worker->numeric.size();
  worker->labels[r] = row.label;
  worker->positives += row.label;
  for (std::size_t f = 0; f < num_numeric; ++f) {
    worker->numeric[f][r] = row.numeric[f];
    worker->missing[f] += std::isnan(row.numeric[f]);
  }
  for (std::size_t f = 0; f < worker->codes.size(); ++f) {
    const uint64_t hash = row.hashes[f];
    if (hash == kMissingHash) {
      worker->codes[f][r] = kMissingCode;
      ++worker->missing[num_numeric + f];
    } else {
      worker->codes[f][r] = worker->tables[f].add(hash, row.values[f]);
    }
  }
}

void parse_chunk(const ParseJob& job, const RowParser& parser, Worker* worker) {
  worker->stored = 0;
  worker->bad = BadRowReport();
  const bool fail_fast = job.policy->mode == BadRowPolicy::Mode::kFail;
  // A parsed row is stored only after the next one is parsed, so the table
  // slots its values need have been fetched from memory in the meantime.
  ParsedRow rows[2];
  ParsedRow* pending = nullptr;
  std::string reason;
  int64_t line = worker->first_line;
  const auto line_end = [&](const char* p) {
    const void* newline = std::memchr(p, '\n', worker->end - p);
    return newline ? static_cast<const char*>(newline) : worker->end;
  };
  for (const char* p = worker->begin; p < worker->end; ++line) {
    const char* end = nullptr;
    const int64_t data_row = line - job.header_lines;
    const bool wanted =
        data_row >= job.slice->begin && (job.slice->end < 0 || data_row < job.slice->end);
    if (!wanted) {
      end = line_end(p);
    } else {
      ++worker->bad.rows;
      ParsedRow* row = pending == &rows[0] ? &rows[1] : &rows[0];
      if (parser.parse_line(p, worker->end, row, &reason, &end)) {
        for (std::size_t f = 0; f < row->hashes.size(); ++f) {
          if (row->hashes[f] != kMissingHash) worker->tables[f].prefetch(row->hashes[f]);
        }
        if (pending) store_row(*pending, worker);
        pending = row;
      } else {
        end = line_end(p);
        ++worker->bad.count;
        if (static_cast<int64_t>(worker->bad.first.size()) <
            std::max<int64_t>(job.policy->report_first, 1)) {
          worker->bad.first.push_back({job.file_name, line + 1, reason});
        }
        if (fail_fast) return;
      }
    }
    p = end + 1;
  }
  if (pending) store_row(*pending, worker);
  worker->lines = line - worker->first_line;
}

// Runs fn(i) for i in [0, n) on n threads.
template <typename Fn>
void run_parallel(std::size_t n, Fn fn) {
  if (n == 1) {
    fn(0);
    return;
  }
  std::vector<std::thread> threads;
  std::exception_ptr error;
  std::mutex mutex;
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  if (error) std::rethrow_exception(error);
}

std::vector<std::string> split_line(const char* begin, const char* end, char delimiter) {
  if (end > begin && end[-1] == '\r') --end;
  std::vector<std::string> out;
  const char* p = begin;
  while (true) {
    const char* q = std::find(p, end, delimiter);
    out.emplace_back(p, q);
    if (q == end) break;
    p = q + 1;
  }
  return out;
}

// Decides whether the first line is a header; throws when a required header
// does not name the schema's columns.
int64_t header_lines(const Schema& schema, const char* data, std::size_t size,
                     const std::string& file_name) {
  if (schema.header == HeaderMode::kNone || size == 0) return 0;
  const char* end = static_cast<const char*>(std::memchr(data, '\n', size));
  if (!end) end = data + size;
  const std::vector<std::string> fields = split_line(data, end, schema.delimiter);
  std::vector<std::string> names;
  for (const Column& column : schema.columns) names.push_back(column.name);
  if (fields == names) return 1;
  if (schema.header == HeaderMode::kAuto) return 0;
  std::string expected;
  for (const std::string& name : names) expected += (expected.empty() ? "" : ",") + name;
  throw DataError(file_name + ":1: header does not name the schema's columns " + expected +
                  " (check data.format / data.header / data.columns)");
}

// dict.bin, per categorical field: u64 n, u64 text bytes, u64 hashes[n],
// i64 counts[n], u64 offsets[n + 1], then the text.
void write_dictionary(const fs::path& path, const std::vector<FieldDictionary>& dictionaries) {
  Writer out(path);
  for (const FieldDictionary& dictionary : dictionaries) {
    const uint64_t header[2] = {dictionary.size(), dictionary.text.size()};
    out.write(header, sizeof(header));
    out.write(dictionary.hashes.data(), dictionary.size() * 8);
    out.write(dictionary.counts.data(), dictionary.size() * 8);
    out.write(dictionary.offsets.data(), dictionary.offsets.size() * 8);
    out.write(dictionary.text.data(), dictionary.text.size());
  }
  out.close();
}

// The slice's dictionary while several threads parse: values enter in file
// order of first occurrence, so codes do not depend on the thread count.
struct SliceDictionary {
  FieldDictionary values;
  FlatHashMap index{1024};
};

// Gives the values first seen in this round's chunks their slice codes, in
// chunk order, and rewrites the chunks' codes.
void merge_round(std::vector<Worker>& workers, std::size_t chunks,
                 std::vector<SliceDictionary>* slice) {
  for (std::size_t i = 0; i < chunks; ++i) {
    Worker& worker = workers[i];
    for (std::size_t f = 0; f < slice->size(); ++f) {
      SliceDictionary& total = (*slice)[f];
      const FieldDictionary& local = worker.tables[f].values();
      std::vector<uint32_t>& remap = worker.remap[f];
      for (std::size_t k = remap.size() - 1; k < local.size(); ++k) {
        bool inserted = false;
        const uint32_t code = total.index.insert(
            local.hashes[k], static_cast<uint32_t>(total.values.size() + 1), &inserted);
        if (inserted) total.values.add(local.hashes[k], local.value(k), 0);
        remap.push_back(code);
      }
    }
  }
  run_parallel(chunks, [&](std::size_t i) {
    Worker& worker = workers[i];
    for (std::size_t f = 0; f < worker.codes.size(); ++f) {
      const uint32_t* remap = worker.remap[f].data();
      uint32_t* codes = worker.codes[f].data();
      for (int64_t r = 0; r < worker.stored; ++r) codes[r] = remap[codes[r]];
    }
  });
}

// Decompresses a .gz file next to the cache so it can be memory-mapped.
fs::path decompress(const fs::path& source, const fs::path& cache_dir, const std::string& key) {
  const fs::path target = cache_dir / "tmp" / (key + "." + std::to_string(::getpid()) + ".txt");
  fs::create_directories(target.parent_path());
  gzFile in = gzopen(source.c_str(), "rb");
  if (!in) throw DataError(source.filename().string() + ": cannot open gzip input");
  gzbuffer(in, 1 << 20);
  Writer out(target);
  std::vector<char> buffer(1 << 20);
  while (true) {
    const int read = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (read < 0) {
      int code = 0;
      const std::string message = gzerror(in, &code);
      gzclose(in);
      throw DataError(source.filename().string() + ": corrupt gzip data: " + message +
                      " (re-download or decompress the file)");
    }
    if (read == 0) break;
    out.write(buffer.data(), static_cast<std::size_t>(read));
  }
  gzclose(in);
  out.close();
  return target;
}

std::string slice_key(const FileSlice& slice, const Schema& schema) {
  std::error_code error;
  if (!fs::is_regular_file(slice.path, error)) {
    throw ConfigError(slice.path.string() + ": no such file (check the path)");
  }
  const fs::path canonical = fs::weakly_canonical(slice.path);
  uint64_t key = hash_bytes(canonical.string());
  key = hash_combine(key, fs::file_size(canonical));
  key = hash_combine(
      key, static_cast<uint64_t>(fs::last_write_time(canonical).time_since_epoch().count()));
  key = hash_combine(key, static_cast<uint64_t>(slice.begin));
  key = hash_combine(key, static_cast<uint64_t>(slice.end));
  key = hash_combine(key, schema.hash());
  key = hash_combine(key, kCacheVersion);
  return hex(key);
}

void build(const FileSlice& slice, const Schema& schema, const BadRowPolicy& policy,
           const fs::path& cache_dir, const std::string& key, const fs::path& staged, int threads) {
  ParseJob job{&schema, &slice, &policy, slice.path.filename().string(), 0};
  fs::path temp_text;
  const bool gz = slice.path.extension() == ".gz";
  if (gz) temp_text = decompress(slice.path, cache_dir, key);
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      if (!path.empty()) fs::remove(path, ignored);
    }
  } cleanup{temp_text};
  MappedFile input(gz ? temp_text : slice.path);
  const char* data = input.data();
  const std::size_t size = input.size();
  job.header_lines = header_lines(schema, data, size, job.file_name);

  const RowParser parser(schema);
  const int64_t num_numeric = schema.num_numeric();
  const int64_t num_categorical = schema.num_categorical();
  const std::vector<std::string> names = schema.categorical_names();
  const std::size_t num_workers = std::min<std::size_t>(
      threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()),
      std::max<std::size_t>(1, (size + kChunkBytes - 1) / kChunkBytes));
  std::vector<Worker> workers(num_workers);
  for (Worker& worker : workers) {
    for (const std::string& name : names) worker.tables.emplace_back(name);
    worker.remap.assign(num_categorical, std::vector<uint32_t>{kMissingCode});
    worker.missing.assign(num_numeric + num_categorical, 0);
    worker.numeric.resize(num_numeric);
    worker.codes.resize(num_categorical);
  }
  std::vector<SliceDictionary> slice_dictionary(num_workers > 1 ? num_categorical : 0);

  Writer labels(staged / "labels.u8");
  std::vector<std::unique_ptr<Writer>> numeric, codes;
  for (int64_t f = 0; f < num_numeric; ++f) {
    numeric.push_back(std::make_unique<Writer>(staged / ("num." + std::to_string(f) + ".f32")));
  }
  for (int64_t f = 0; f < num_categorical; ++f) {
    codes.push_back(std::make_unique<Writer>(staged / ("cat." + std::to_string(f) + ".u32")));
  }

  BadRowReport report;
  int64_t rows = 0;
  int64_t line = 0;
  std::size_t position = 0;
  while (position < size) {
    // Cut this round into one chunk per worker, each ending after a newline.
    std::size_t chunks = 0;
    for (; chunks < num_workers && position < size; ++chunks) {
      std::size_t end = std::min(size, position + kChunkBytes);
      if (end < size) {
        const void* newline = std::memchr(data + end, '\n', size - end);
        end = newline ? static_cast<const char*>(newline) - data + 1 : size;
      }
      workers[chunks].begin = data + position;
      workers[chunks].end = data + end;
      position = end;
    }
    // Chunks after the first need their first line number before parsing;
    // a lone chunk counts its lines as it parses.
    if (chunks > 1) {
      run_parallel(chunks, [&](std::size_t i) {
        workers[i].lines = count_lines(workers[i].begin, workers[i].end);
      });
    }
    int64_t first_line = line;
    for (std::size_t i = 0; i < chunks; ++i) {
      workers[i].first_line = first_line;
      first_line += workers[i].lines;
    }
    run_parallel(chunks, [&](std::size_t i) { parse_chunk(job, parser, &workers[i]); });
    for (std::size_t i = 0; i < chunks; ++i) line += workers[i].lines;
    for (std::size_t i = 0; i < chunks; ++i) {
      if (workers[i].bad.count > 0 && policy.mode == BadRowPolicy::Mode::kFail) {
        throw DataError(workers[i].bad.first.front().message());
      }
    }
    if (num_workers > 1) merge_round(workers, chunks, &slice_dictionary);
    for (std::size_t i = 0; i < chunks; ++i) {
      Worker& worker = workers[i];
      report.merge(worker.bad, policy.report_first);
      const int64_t n = worker.stored;
      rows += n;
      labels.write(worker.labels.data(), n);
      for (int64_t f = 0; f < num_numeric; ++f) numeric[f]->write(worker.numeric[f].data(), n * 4);
      for (int64_t f = 0; f < num_categorical; ++f) {
        codes[f]->write(worker.codes[f].data(), n * 4);
      }
    }
    if (slice.end >= 0 && line - job.header_lines >= slice.end) break;
  }
  const int64_t data_lines = line - job.header_lines;
  if (data_lines <= 0) {
    throw DataError(job.file_name + ": empty file (no data rows; check the path)");
  }
  if (slice.end > data_lines || slice.begin >= data_lines) {
    throw DataError(job.file_name + ": rows [" + std::to_string(slice.begin) + ", " +
                    std::to_string(slice.end) + ") asked, the file has " +
                    std::to_string(data_lines) + " data rows (check the split's rows)");
  }
  labels.close();
  for (auto& writer : numeric) writer->close();
  for (auto& writer : codes) writer->close();

  // Sum the workers' counters and value counts into the slice's.
  Worker& total = workers.front();
  for (std::size_t i = 1; i < workers.size(); ++i) {
    total.positives += workers[i].positives;
    for (std::size_t f = 0; f < total.missing.size(); ++f) {
      total.missing[f] += workers[i].missing[f];
    }
  }
  std::vector<FieldDictionary> dictionaries(num_categorical);
  for (int64_t f = 0; f < num_categorical; ++f) {
    if (num_workers == 1) {
      dictionaries[f] = total.tables[f].take();
      continue;
    }
    dictionaries[f] = std::move(slice_dictionary[f].values);
    for (Worker& worker : workers) {
      const FieldDictionary local = worker.tables[f].take();
      const std::vector<uint32_t>& remap = worker.remap[f];
      for (std::size_t k = 0; k < local.size(); ++k) {
        dictionaries[f].counts[remap[k + 1] - 1] += local.counts[k];
      }
    }
  }
  write_dictionary(staged / "dict.bin", dictionaries);

  nlohmann::json meta;
  meta["version"] = kCacheVersion;
  meta["source"] = slice.path.string();
  meta["rows"] = rows;
  meta["positives"] = total.positives;
  meta["missing"] = total.missing;
  meta["num_numeric"] = num_numeric;
  meta["num_categorical"] = num_categorical;
  nlohmann::json first = nlohmann::json::array();
  for (const BadRow& bad : report.first) {
    first.push_back({{"file", bad.file}, {"line", bad.line}, {"reason", bad.reason}});
  }
  meta["bad_rows"] = {{"count", report.count}, {"rows", report.rows}, {"first", first}};
  std::ofstream(staged / "meta.json") << meta.dump(1);
  mark_complete(staged);
}

uint64_t directory_checksum(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() != "COMPLETE") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  uint64_t checksum = hash_bytes("adaensemble-cache");
  for (const fs::path& file : files) {
    checksum = hash_combine(checksum, hash_bytes(file.filename().string()));
    checksum = hash_combine(checksum, fs::file_size(file));
    // The small metadata files are hashed whole, big column files by their edges.
    std::ifstream in(file, std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), head.size());
    head.resize(static_cast<std::size_t>(in.gcount()));
    checksum = hash_combine(checksum, hash_bytes(head));
    if (file.extension() == ".json") {
      checksum = hash_combine(checksum, hash_bytes(read_text_file(file)));
    }
  }
  return checksum;
}

}  // namespace

MappedFile::MappedFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw DataError(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    throw DataError(path.string() + ": cannot stat: " + std::strerror(errno));
  }
  size_ = static_cast<std::size_t>(info.st_size);
  if (size_ > 0) {
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) {
      ::close(fd);
      throw DataError(path.string() + ": cannot memory-map: " + std::strerror(errno));
    }
    data_ = static_cast<const char*>(mapped);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

fs::path resolve_cache_dir(const fs::path& configured) {
  if (!configured.empty()) return configured;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return fs::path(xdg) / "adaensemble";
  const char* home = std::getenv("HOME");
  if (home && *home) return fs::path(home) / ".cache" / "adaensemble";
  return fs::temp_directory_path() / "adaensemble-cache";
}

void mark_complete(const fs::path& dir) {
  std::ofstream out(dir / "COMPLETE");
  out << hex(directory_checksum(dir)) << "\n";
  out.close();
  if (!out) throw DataError((dir / "COMPLETE").string() + ": write failed (check free space)");
}

bool is_complete(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_regular_file(dir / "COMPLETE", error)) return false;
  std::ifstream in(dir / "COMPLETE");
  std::string recorded;
  in >> recorded;
  return recorded == hex(directory_checksum(dir));
}

void publish_directory(const fs::path& staged, const fs::path& target) {
  std::error_code error;
  if (fs::exists(target) && !is_complete(target)) fs::remove_all(target, error);
  fs::rename(staged, target, error);
  if (error) {
    // Another process published the same key first; its copy is equivalent.
    fs::remove_all(staged, error);
    if (!is_complete(target)) {
      throw DataError(target.string() + ": cannot publish cache directory (check data.cache_dir)");
    }
  }
}

std::shared_ptr<const ParsedSlice> ParsedSlice::open(const FileSlice& slice, const Schema& schema,
                                                     const BadRowPolicy& policy,
                                                     const fs::path& cache_dir, int threads) {
  const std::string key = slice_key(slice, schema);
  const fs::path dir = cache_dir / ("v" + std::to_string(kCacheVersion)) / "parsed" / key;
  if (!is_complete(dir)) {
    fs::create_directories(dir.parent_path());
    std::random_device random;
    const fs::path staged = dir.parent_path() / (key + ".tmp." + std::to_string(::getpid()) + "." +
                                                 std::to_string(random()));
    fs::create_directories(staged);
    try {
      build(slice, schema, policy, cache_dir, key, staged, threads);
    } catch (...) {
      std::error_code ignored;
      fs::remove_all(staged, ignored);
      throw;
    }
    publish_directory(staged, dir);
  }
  std::shared_ptr<ParsedSlice> parsed(new ParsedSlice());
  parsed->key_ = key;
  parsed->source_ = slice.path;
  parsed->load(dir);

  // A cache built under `skip` still remembers its bad rows; apply this run's policy.
  const BadRowReport& bad = parsed->bad_rows_;
  if (bad.count > 0 && policy.mode == BadRowPolicy::Mode::kFail) {
    throw DataError(bad.first.front().message());
  }
  if (bad.count > 0 && bad.count > policy.max_fraction * static_cast<double>(bad.rows)) {
    char percent[32];
    std::snprintf(percent, sizeof(percent), "%.2f%%", 100.0 * bad.count / bad.rows);
    std::ostringstream limit;
    limit << policy.max_fraction;
    throw DataError(slice.path.filename().string() + ": " + std::to_string(bad.count) + " of " +
                    std::to_string(bad.rows) + " rows are bad (" + percent +
                    "), above data.bad_rows.max_fraction = " + limit.str() +
                    " (first: " + bad.first.front().message() + ")");
  }
  return parsed;
}

void ParsedSlice::load(const fs::path& dir) {
  dir_ = dir;
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_text_file(dir / "meta.json"));
    rows_ = meta.at("rows").get<int64_t>();
    positives_ = meta.at("positives").get<int64_t>();
    missing_ = meta.at("missing").get<std::vector<int64_t>>();
    const auto& bad = meta.at("bad_rows");
    bad_rows_.count = bad.at("count").get<int64_t>();
    bad_rows_.rows = bad.at("rows").get<int64_t>();
    for (const auto& row : bad.at("first")) {
      bad_rows_.first.push_back({row.at("file").get<std::string>(), row.at("line").get<int64_t>(),
                                 row.at("reason").get<std::string>()});
    }
  } catch (const nlohmann::json::exception& error) {
    throw DataError(dir.string() + ": corrupt cache metadata (" + error.what() +
                    "; delete the directory to rebuild it)");
  }
  labels_ = std::make_unique<MappedFile>(dir / "labels.u8");
  const int64_t num_numeric = meta.at("num_numeric").get<int64_t>();
  const int64_t num_categorical = meta.at("num_categorical").get<int64_t>();
  for (int64_t f = 0; f < num_numeric; ++f) {
    numeric_.push_back(std::make_unique<MappedFile>(dir / ("num." + std::to_string(f) + ".f32")));
  }
  for (int64_t f = 0; f < num_categorical; ++f) {
    codes_.push_back(std::make_unique<MappedFile>(dir / ("cat." + std::to_string(f) + ".u32")));
    if (codes_.back()->size() != static_cast<std::size_t>(rows_) * 4) {
      throw DataError(dir.string() + "/cat." + std::to_string(f) +
                      ".u32: size does not match the rows (delete the directory to rebuild it)");
    }
  }
}

const uint8_t* ParsedSlice::labels() const {
  return reinterpret_cast<const uint8_t*>(labels_->data());
}

const float* ParsedSlice::numeric(int64_t field) const {
  return reinterpret_cast<const float*>(numeric_.at(field)->data());
}

const uint32_t* ParsedSlice::codes(int64_t field) const {
  return reinterpret_cast<const uint32_t*>(codes_.at(field)->data());
}

std::vector<FieldDictionary> ParsedSlice::dictionary() const {
  const MappedFile file(dir_ / "dict.bin");
  std::size_t offset = 0;
  const auto damaged = [&](const std::string& what) {
    return DataError(dir_.string() + "/dict.bin: " + what +
                     " (delete the directory to rebuild it)");
  };
  auto take = [&](void* target, uint64_t count, std::size_t width) {
    if (count > (file.size() - offset) / width) throw damaged("truncated");
    if (count > 0) std::memcpy(target, file.data() + offset, count * width);
    offset += count * width;
  };
  std::vector<FieldDictionary> out(codes_.size());
  for (FieldDictionary& field : out) {
    uint64_t header[2] = {0, 0};
    take(header, 2, 8);
    const uint64_t size = header[0];
    if (size > file.size() / 24 || header[1] > file.size()) throw damaged("truncated");
    field.hashes.resize(size);
    field.counts.resize(size);
    field.offsets.resize(size + 1);
    field.text.resize(header[1]);
    take(field.hashes.data(), size, 8);
    take(field.counts.data(), size, 8);
    take(field.offsets.data(), size + 1, 8);
    take(field.text.data(), header[1], 1);
    if (field.offsets.front() != 0 || field.offsets.back() != header[1] ||
        !std::is_sorted(field.offsets.begin(), field.offsets.end())) {
      throw damaged("bad value offsets");
    }
  }
  return out;
}

}  // namespace adaensemble::data
