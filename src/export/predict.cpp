#include "adaensemble/export/predict.h"

#include <ATen/ATen.h>
#include <torch/script.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "adaensemble/config/error.h"
#include "adaensemble/data/pipeline.h"
#include "adaensemble/data/row_parser.h"
#include "adaensemble/export/exported_model.h"
#include "adaensemble/train/checkpoint.h"
#include "adaensemble/util/files.h"

namespace adaensemble::exporting {
namespace fs = std::filesystem;
namespace {

// Reads a plain or gzip-compressed text file line by line (zlib reads plain
// files as they are). Lines come without their '\n'.
class LineReader {
 public:
  explicit LineReader(const fs::path& path) : name_(path.filename().string()) {
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw DataError(path.string() + ": cannot open (check --data)");
    gzbuffer(file_, 1 << 20);
  }
  ~LineReader() { gzclose(file_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// Reads the next line into `line`; returns false at the end of the file.
  bool next(std::string* line) {
    line->clear();
    bool any = false;
    while (true) {
      if (begin_ < end_) {
        any = true;
        const char* start = buffer_.data() + begin_;
        const void* newline = std::memchr(start, '\n', end_ - begin_);
        if (newline) {
          const std::size_t length = static_cast<const char*>(newline) - start;
          line->append(start, length);
          begin_ += length + 1;
          return true;
        }
        line->append(start, end_ - begin_);
      }
      const int read = gzread(file_, buffer_.data(), static_cast<unsigned>(buffer_.size()));
      if (read < 0) {
        int code = 0;
        throw DataError(name_ + ": unreadable (" + gzerror(file_, &code) +
                        "; check the file or re-download it)");
      }
      begin_ = 0;
      end_ = static_cast<std::size_t>(read);
      if (read == 0) return any;
    }
  }

 private:
  std::string name_;
  gzFile file_ = nullptr;
  std::vector<char> buffer_ = std::vector<char>(1 << 16);
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

std::vector<std::string> split_fields(const std::string& line, char delimiter) {
  std::size_t end = line.size();
  if (end > 0 && line[end - 1] == '\r') --end;
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t found = line.find(delimiter, start);
    if (found == std::string::npos || found >= end) {
      fields.push_back(line.substr(start, end - start));
      return fields;
    }
    fields.push_back(line.substr(start, found - start));
    start = found + 1;
  }
}

// True when `line` is the header row; throws when the schema requires one
// and `line` is not it (as the data layer does for training files).
bool is_header(const data::Schema& schema, const std::string& line, bool labeled,
               const std::string& file_name) {
  if (schema.header == data::HeaderMode::kNone) return false;
  std::vector<std::string> names;
  for (const data::Column& column : schema.columns) {
    if (labeled || column.kind != data::ColumnKind::kLabel) names.push_back(column.name);
  }
  if (split_fields(line, schema.delimiter) == names) return true;
  if (schema.header == data::HeaderMode::kAuto) return false;
  std::string expected;
  for (const std::string& name : names) expected += (expected.empty() ? "" : ",") + name;
  throw DataError(file_name + ":1: header does not name the schema's columns " + expected +
                  " (check data.format / data.header / data.columns)");
}

void check_bad_fraction(const data::BadRowReport& bad, const config::BadRowPolicy& policy,
                        const std::string& file_name) {
  if (bad.count == 0 || bad.count <= policy.max_fraction * static_cast<double>(bad.rows)) return;
  char percent[32];
  std::snprintf(percent, sizeof(percent), "%.2f%%", 100.0 * bad.count / bad.rows);
  std::ostringstream limit;
  limit << policy.max_fraction;
  throw DataError(file_name + ": " + std::to_string(bad.count) + " of " + std::to_string(bad.rows) +
                  " rows are bad (" + percent + "), above data.bad_rows.max_fraction = " +
                  limit.str() + " (first: " + bad.first.front().message() + ")");
}

// Rows of one batch: the encoded good rows and, per input row, whether it was good.
struct PendingRows {
  std::vector<int64_t> ids;
  std::vector<float> numeric;
  std::vector<bool> good;
  int64_t scored = 0;

  void clear() {
    ids.clear();
    numeric.clear();
    good.clear();
    scored = 0;
  }
};

// Scores the pending rows and writes one line per input row.
void flush(PendingRows& pending, int64_t num_categorical, int64_t num_numeric, const Scorer& scorer,
           std::ostream& out) {
  at::Tensor probabilities;
  const float* p = nullptr;
  if (pending.scored > 0) {
    const at::Tensor ids =
        at::from_blob(pending.ids.data(), {pending.scored, num_categorical}, at::kLong);
    const at::Tensor numeric =
        at::from_blob(pending.numeric.data(), {pending.scored, num_numeric}, at::kFloat);
    probabilities = scorer(ids, numeric).to(at::kCPU, at::kFloat).contiguous();
    if (probabilities.numel() != pending.scored) {
      throw std::runtime_error("predict: the model returned " +
                               std::to_string(probabilities.numel()) + " values for " +
                               std::to_string(pending.scored) + " rows");
    }
    p = probabilities.data_ptr<float>();
  }
  char text[32];
  for (const bool good : pending.good) {
    if (good) {
      std::snprintf(text, sizeof(text), "%.9g\n", static_cast<double>(*p++));
      out << text;
    } else {
      out << "nan\n";
    }
  }
  pending.clear();
}

}  // namespace

PredictReport predict_file(const data::Schema& schema, const data::Vocabulary& vocabulary,
                           const config::BadRowPolicy& policy, const Scorer& scorer,
                           const PredictOptions& options) {
  if (options.batch_size < 1) throw ConfigError("predict: batch size must be >= 1");
  if (!fs::is_regular_file(options.data)) {
    throw ConfigError(options.data.string() + ": no such file (check --data)");
  }
  const std::string file_name = options.data.filename().string();
  const int64_t num_categorical = schema.num_categorical();
  const int64_t num_numeric = schema.num_numeric();
  const data::RowParser parser(schema);
  const bool fail_fast = policy.mode == config::BadRowPolicy::Mode::kFail;
  PredictReport report;

  write_file_atomically(options.output, [&](const fs::path& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(temp.string() + ": cannot write (check --output)");
    LineReader reader(options.data);
    PendingRows pending;
    data::ParsedRow row;
    std::string line;
    std::string reason;
    int64_t line_number = 0;
    while (reader.next(&line)) {
      ++line_number;
      if (line_number == 1 && is_header(schema, line, options.labeled, file_name)) continue;
      ++report.rows;
      ++report.bad_rows.rows;
      bool ok = false;
      if (line.empty() || line == "\r") {
        reason = "empty line";
      } else if (options.labeled) {
        ok = parser.parse(line.data(), line.data() + line.size(), &row, &reason);
      } else {
        ok = parser.parse_features(split_fields(line, schema.delimiter), &row, &reason);
      }
      if (!ok) {
        const data::BadRow bad{file_name, line_number, reason};
        if (fail_fast) throw DataError(bad.message());
        ++report.bad_rows.count;
        if (static_cast<int64_t>(report.bad_rows.first.size()) < policy.report_first) {
          report.bad_rows.first.push_back(bad);
        }
        pending.good.push_back(false);
        continue;
      }
      for (int64_t f = 0; f < num_categorical; ++f) {
        pending.ids.push_back(vocabulary.id_of_hash(f, row.hashes[f]));
      }
      pending.numeric.insert(pending.numeric.end(), row.numeric.begin(), row.numeric.end());
      pending.good.push_back(true);
      ++report.scored;
      if (++pending.scored == options.batch_size) {
        flush(pending, num_categorical, num_numeric, scorer, out);
      }
    }
    flush(pending, num_categorical, num_numeric, scorer, out);
    if (report.rows == 0) {
      throw DataError(file_name + ": empty file (no data rows; check --data)");
    }
    check_bad_fraction(report.bad_rows, policy, file_name);
    out.close();
    if (!out) throw std::runtime_error(temp.string() + ": write failed (disk full?)");
  });
  return report;
}

nlohmann::json predict(const std::string& model_file, const std::string& checkpoint,
                       const PredictOptions& options, const std::string& device_name) {
  if (model_file.empty() == checkpoint.empty()) {
    throw ConfigError("predict: give exactly one of --model and --checkpoint");
  }
  const c10::Device device(device_name);
  at::NoGradGuard no_grad;
  PredictReport report;
  if (!model_file.empty()) {
    ExportedModel exported = ExportedModel::load(model_file);
    if (!device.is_cpu()) exported.to(device_name);
    const Scorer scorer = [&](const at::Tensor& ids, const at::Tensor& numeric) {
      return exported.predict(ids.to(device), numeric.to(device));
    };
    report = predict_file(exported.schema(), exported.vocabulary(), exported.bad_rows(), scorer,
                          options);
  } else {
    const train::LoadedModel loaded = train::load_trained_model(checkpoint, device_name);
    const Scorer scorer = [&](const at::Tensor& ids, const at::Tensor& numeric) {
      const model::ModelOutput out =
          loaded.model->forward(ids.to(device), numeric.to(device), model::RoutingMode::kHard);
      return at::sigmoid(out.logits);
    };
    report = predict_file(loaded.schema, loaded.vocabulary, loaded.config.data.bad_rows, scorer,
                          options);
  }
  return {{"rows", report.rows},
          {"scored", report.scored},
          {"output", options.output.string()},
          {"bad_rows", data::to_json(report.bad_rows)}};
}

}  // namespace adaensemble::exporting
