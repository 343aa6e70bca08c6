// adaensemble-export and adaensemble-predict as a user runs them, on a
// checkpoint of a small model over the real Criteo sample; the exported file
// in Python; format versions; the predictor's bad-row policy.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adaensemble/config/error.h"
#include "adaensemble/export/exported_model.h"
#include "adaensemble/export/predict.h"
#include "adaensemble/train/checkpoint.h"
#include "adaensemble/util/files.h"
#include "export_fixture.h"

namespace adaensemble::testing {
namespace {
namespace fs = std::filesystem;

std::string program(const std::string& name) { return (bin_dir() / name).string(); }

nlohmann::json last_json_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  const auto start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A checkpoint written in-process (a scrambled model over the Criteo sample,
// k annealed to 2) and its export by adaensemble-export, made once. Built
// in-process rather than trained so that these tests do not depend on
// training's numerics.
struct CheckpointRun {
  TempDir dir;
  fs::path run;
  fs::path model;
  fs::path sample;
  nlohmann::json export_summary;
};

const CheckpointRun* checkpoint_run() {
  static const std::unique_ptr<CheckpointRun> made = []() -> std::unique_ptr<CheckpointRun> {
    const SampleRows* sample = sample_rows();
    if (!sample) return nullptr;
    auto out = std::make_unique<CheckpointRun>();
    out->sample = *shared_data_file(kCriteoSample);
    out->run = out->dir.path() / "run";
    out->model = out->dir.path() / "model.pt";
    config::RunConfig config;
    model::CtrModel model = scrambled_model(
        *sample, {"model.num_layers=3", "model.embedding_dim=4", "model.gate.top_k=2"}, &config);
    train::CheckpointParts parts;
    parts.model = model.get();
    parts.config = &config;
    parts.schema = &sample->data.schema;
    parts.vocabulary = &sample->data.vocabulary;
    train::TrainingState state;
    state.step = 1000000;
    state.finished = true;
    train::save_checkpoint(out->run / "best", parts, state);
    const CommandResult exported =
        run_command(program("adaensemble-export") + " --checkpoint " + out->run.string() +
                    " --output " + out->model.string() + " 2>&1");
    EXPECT_EQ(exported.status, 0) << exported.out;
    if (exported.status != 0) return nullptr;
    out->export_summary = last_json_line(exported.out);
    return out;
  }();
  return made.get();
}

#define ADAENSEMBLE_REQUIRE_RUN(var)                                \
  if (!shared_data_file(kCriteoSample))                             \
    GTEST_SKIP() << "shared data sample absent: " << kCriteoSample; \
  const CheckpointRun* var = checkpoint_run();                      \
  ASSERT_NE(var, nullptr) << "the shared checkpoint or its export failed"

std::vector<float> predict_with(const std::string& source, const fs::path& data,
                                const fs::path& output, const std::string& extra = "") {
  const CommandResult result =
      run_command(program("adaensemble-predict") + " " + source + " --data " + data.string() +
                  " --output " + output.string() + " --threads 1 " + extra + " 2>&1");
  EXPECT_EQ(result.status, 0) << result.out;
  std::vector<float> values;
  for (const std::string& line : read_lines(output)) values.push_back(std::stof(line));
  return values;
}

TEST(ExportProgramTest, WritesTheModelAndASummary) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const nlohmann::json& summary = run->export_summary;
  EXPECT_EQ(summary["format_version"], exporting::kExportFormatVersion);
  EXPECT_EQ(summary["architecture"], "adaensemble");
  EXPECT_EQ(summary["top_k"], 2);
  EXPECT_EQ(summary["bytes"].get<int64_t>(), static_cast<int64_t>(fs::file_size(run->model)));
  EXPECT_GT(summary["parameters"].get<int64_t>(), 0);
}

TEST(ExportProgramTest, TheFileKeepsSchemaVocabulariesAndConfig) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const exporting::ExportedModel exported = exporting::ExportedModel::load(run->model);
  const train::LoadedModel loaded = train::load_trained_model(run->run);
  EXPECT_EQ(exported.format_version(), exporting::kExportFormatVersion);
  EXPECT_EQ(exported.schema().to_json(), loaded.schema.to_json());
  ASSERT_EQ(exported.vocabulary().num_fields(), loaded.vocabulary.num_fields());
  for (int64_t f = 0; f < loaded.vocabulary.num_fields(); ++f) {
    EXPECT_EQ(exported.vocabulary().field(f).name, loaded.vocabulary.field(f).name);
    EXPECT_EQ(exported.vocabulary().field(f).values, loaded.vocabulary.field(f).values);
  }
  EXPECT_EQ(exported.bad_rows().mode, loaded.config.data.bad_rows.mode);
  EXPECT_EQ(exported.bad_rows().max_fraction, loaded.config.data.bad_rows.max_fraction);
  YAML::Emitter expected;
  expected << config::to_yaml(loaded.config);
  EXPECT_EQ(exported.config_text(), std::string(expected.c_str()) + "\n");
}

TEST(PredictProgramTest, ModelAndCheckpointAgreeWithTheInProcessModelInInputOrder) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const SampleRows* sample = sample_rows();
  ASSERT_NE(sample, nullptr);
  const std::vector<float> from_model =
      predict_with("--model " + run->model.string(), run->sample, run->dir.path() / "m.txt");
  const std::vector<float> from_checkpoint =
      predict_with("--checkpoint " + run->run.string(), run->sample, run->dir.path() / "c.txt",
                   "--batch-size 999");
  ASSERT_EQ(from_model.size(), 10000u);
  ASSERT_EQ(from_checkpoint.size(), 10000u);
  for (std::size_t i = 0; i < from_model.size(); ++i) {
    ASSERT_NEAR(from_model[i], from_checkpoint[i], 1e-6) << "row " << i;
  }
  // Rows 9000.. of the file are the sample's test split, as the data layer encodes them.
  const train::LoadedModel loaded = train::load_trained_model(run->run);
  const at::Tensor expected =
      in_process_probabilities(*loaded.model, sample->categorical, sample->numeric);
  for (int64_t i = 0; i < kTestRows; ++i) {
    ASSERT_NEAR(from_model[kFirstTestRow + i], expected[i].item<float>(), 1e-6) << "row " << i;
  }
}

TEST(PredictProgramTest, RowsWithoutLabelAndGzipInput) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const std::vector<std::string> lines = read_lines(run->sample);
  std::string unlabeled;
  for (int i = 0; i < 50; ++i) unlabeled += lines[i].substr(lines[i].find('\t') + 1) + "\n";
  TempDir dir;
  const fs::path plain = dir.write("rows.tsv", unlabeled);
  ASSERT_EQ(run_command("gzip -k " + plain.string()).status, 0);
  const std::vector<float> labeled =
      predict_with("--model " + run->model.string(), run->sample, dir.path() / "all.txt");
  const std::vector<float> from_gzip =
      predict_with("--model " + run->model.string(), dir.path() / "rows.tsv.gz",
                   dir.path() / "gz.txt", "--no-label");
  ASSERT_EQ(from_gzip.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_NEAR(from_gzip[i], labeled[i], 1e-6) << "row " << i;
}

TEST(PredictProgramTest, ABadRowFailsWithFileLineAndReason) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const std::vector<std::string> lines = read_lines(run->sample);
  TempDir dir;
  std::string bad_line = lines[2];
  bad_line.replace(bad_line.find('\t') + 1, bad_line.find('\t', 2) - bad_line.find('\t') - 1,
                   "abc");
  const fs::path data = dir.write("bad.tsv", lines[0] + "\n" + lines[1] + "\n" + bad_line + "\n");
  const CommandResult result =
      run_command(program("adaensemble-predict") + " --model " + run->model.string() + " --data " +
                  data.string() + " --output " + (dir.path() / "p.txt").string() + " 2>&1");
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.out,
            "adaensemble-predict: data error: bad.tsv:3: I1 = \"abc\" is not a number (numeric "
            "columns hold integers or floats)\n");
  EXPECT_FALSE(fs::exists(dir.path() / "p.txt"));
}

TEST(PredictProgramTest, UsageErrorsExitTwo) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const std::string base =
      program("adaensemble-predict") + " --data " + run->sample.string() + " --output /dev/null";
  EXPECT_EQ(run_command(base + " 2>&1").status, 2);
  EXPECT_EQ(run_command(base + " --model " + run->model.string() + " --checkpoint " +
                        run->run.string() + " 2>&1")
                .status,
            2);
  const CommandResult missing = run_command(program("adaensemble-predict") + " --model " +
                                            run->model.string() + " --output /dev/null 2>&1");
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.out.find("--data is required"), std::string::npos) << missing.out;
}

TEST(FormatVersionTest, ANewerExportedFileIsRefused) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  TempDir dir;
  torch::jit::Module module = torch::jit::load(run->model.string());
  module.setattr("format_version", exporting::kExportFormatVersion + 1);
  const fs::path newer = dir.path() / "newer.pt";
  module.save(newer.string());
  const std::string message =
      newer.string() + ": exported model format version " +
      std::to_string(exporting::kExportFormatVersion + 1) + " is newer than this build reads (" +
      std::to_string(exporting::kExportFormatVersion) + "; use a newer adaensemble)";
  try {
    exporting::ExportedModel::load(newer);
    FAIL() << "a newer file was loaded";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()), message);
  }
  const CommandResult result =
      run_command(program("adaensemble-predict") + " --model " + newer.string() + " --data " +
                  run->sample.string() + " --output " + (dir.path() / "p.txt").string() + " 2>&1");
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.out, "adaensemble-predict: error: " + message + "\n");
}

TEST(FormatVersionTest, ANewerCheckpointIsRefused) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  TempDir dir;
  const fs::path checkpoint = dir.path() / "best";
  fs::copy(run->run / "best", checkpoint, fs::copy_options::recursive);
  nlohmann::json state = nlohmann::json::parse(read_text_file(checkpoint / "state.json"));
  state["format_version"] = train::kCheckpointFormatVersion + 1;
  write_text_atomically(checkpoint / "state.json", state.dump());
  const CommandResult result =
      run_command(program("adaensemble-export") + " --checkpoint " + checkpoint.string() +
                  " --output " + (dir.path() / "m.pt").string() + " 2>&1");
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.out, "adaensemble-export: error: " + (checkpoint / "state.json").string() +
                            ": checkpoint format version " +
                            std::to_string(train::kCheckpointFormatVersion + 1) +
                            " is newer than this build reads (" +
                            std::to_string(train::kCheckpointFormatVersion) +
                            "; use a newer adaensemble)\n");
  EXPECT_FALSE(fs::exists(dir.path() / "m.pt"));
}

TEST(FormatVersionTest, AFileThatIsNotAnExportIsRefused) {
  TempDir dir;
  torch::jit::Module other("__torch__.Other");
  other.define("def forward(self, x: Tensor) -> Tensor:\n    return x\n");
  const fs::path file = dir.path() / "other.pt";
  other.save(file.string());
  try {
    exporting::ExportedModel::load(file);
    FAIL() << "a file without format_version was loaded";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              file.string() +
                  ": not an adaensemble export (no format_version; write it with "
                  "adaensemble-export)");
  }
}

// Returns a Python interpreter that imports torch, or "" when there is none.
std::string python_with_torch() {
  for (const std::string python : {"/usr/bin/python3", "python3"}) {
    if (run_command(python + " -c 'import torch' > /dev/null 2>&1").status == 0) return python;
  }
  return "";
}

TEST(PythonTest, TorchJitLoadGivesTheSameNumbers) {
  ADAENSEMBLE_REQUIRE_RUN(run);
  const std::string python = python_with_torch();
  if (python.empty())
    GTEST_SKIP() << "no python3 with torch (Debian: apt-get install python3-torch)";
  const SampleRows* sample = sample_rows();
  ASSERT_NE(sample, nullptr);
  TempDir dir;
  // The encoded test rows as text: ids, then numeric values (nan = missing).
  std::ostringstream encoded;
  encoded.precision(9);
  for (int64_t i = 0; i < kTestRows; ++i) {
    for (int64_t c = 0; c < sample->categorical.size(1); ++c) {
      encoded << (c ? " " : "") << sample->categorical[i][c].item<int64_t>();
    }
    encoded << "\t";
    for (int64_t n = 0; n < sample->numeric.size(1); ++n) {
      encoded << (n ? " " : "") << sample->numeric[i][n].item<float>();
    }
    encoded << "\n";
  }
  const fs::path rows = dir.write("encoded.txt", encoded.str());
  const fs::path script = dir.write("score.py", R"(import sys, torch
model = torch.jit.load(sys.argv[1])
ids, values = [], []
for line in open(sys.argv[2]):
    left, right = line.rstrip("\n").split("\t")
    ids.append([int(v) for v in left.split(" ")])
    values.append([float(v) for v in right.split(" ")])
raw = [line.rstrip("\n").split("\t")[1:] for line in open(sys.argv[3])][9000:10000]
with torch.no_grad():
    encoded = model(torch.tensor(ids, dtype=torch.long), torch.tensor(values, dtype=torch.float32))
    from_raw = model.score_raw(raw)
for a, b in zip(encoded.tolist(), from_raw.tolist()):
    print("%.9g %.9g" % (a, b))
)");
  const CommandResult result =
      run_command(python + " " + script.string() + " " + run->model.string() + " " + rows.string() +
                  " " + run->sample.string() + " 2>&1");
  ASSERT_EQ(result.status, 0) << result.out;
  const train::LoadedModel loaded = train::load_trained_model(run->run);
  const at::Tensor expected =
      in_process_probabilities(*loaded.model, sample->categorical, sample->numeric);
  std::istringstream lines(result.out);
  for (int64_t i = 0; i < kTestRows; ++i) {
    double encoded_value = 0.0, raw_value = 0.0;
    ASSERT_TRUE(lines >> encoded_value >> raw_value) << "row " << i << ":\n" << result.out;
    EXPECT_NEAR(encoded_value, expected[i].item<float>(), 1e-6) << "row " << i;
    EXPECT_NEAR(raw_value, expected[i].item<float>(), 1e-6) << "row " << i;
  }
}

// A scorer whose output names its row: the first numeric value / 1000.
at::Tensor first_value_scorer(const at::Tensor&, const at::Tensor& numeric) {
  return numeric.select(1, 0) / 1000.0;
}

TEST(PredictFileTest, SkippedRowsGetNanAndOrderIsKeptAcrossBatches) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 7; ++i) {
    const std::string i1 = i == 4 ? "oops" : std::to_string(i);
    text += "0\t" + i1 + std::string(38, '\t') + "\n";
  }
  exporting::PredictOptions options;
  options.data = dir.write("rows.tsv", text);
  options.output = dir.path() / "p.txt";
  options.batch_size = 2;
  config::BadRowPolicy policy;
  policy.mode = config::BadRowPolicy::Mode::kSkip;
  policy.max_fraction = 0.2;
  const exporting::PredictReport report = exporting::predict_file(
      sample->data.schema, sample->data.vocabulary, policy, first_value_scorer, options);
  EXPECT_EQ(report.rows, 7);
  EXPECT_EQ(report.scored, 6);
  EXPECT_EQ(report.bad_rows.count, 1);
  ASSERT_EQ(report.bad_rows.first.size(), 1u);
  EXPECT_EQ(report.bad_rows.first[0].message(),
            "rows.tsv:4: I1 = \"oops\" is not a number (numeric columns hold integers or floats)");
  EXPECT_EQ(read_lines(options.output),
            (std::vector<std::string>{"0.00100000005", "0.00200000009", "0.00300000003", "nan",
                                      "0.00499999989", "0.00600000005", "0.00700000022"}));

  policy.max_fraction = 0.1;
  options.output = dir.path() / "q.txt";
  try {
    exporting::predict_file(sample->data.schema, sample->data.vocabulary, policy,
                            first_value_scorer, options);
    FAIL() << "1 bad row in 7 passed max_fraction = 0.1";
  } catch (const DataError& error) {
    EXPECT_EQ(std::string(error.what()),
              "rows.tsv: 1 of 7 rows are bad (14.29%), above data.bad_rows.max_fraction = 0.1 "
              "(first: rows.tsv:4: I1 = \"oops\" is not a number (numeric columns hold integers "
              "or floats))");
  }
  EXPECT_FALSE(fs::exists(options.output));
}

}  // namespace
}  // namespace adaensemble::testing
