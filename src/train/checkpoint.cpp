#include "adaensemble/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/serialize/archive.h>

#include <fstream>
#include <stdexcept>

#include "adaensemble/config/error.h"
#include "adaensemble/model/model_factory.h"
#include "adaensemble/train/feature_bridge.h"
#include "adaensemble/util/files.h"

namespace adaensemble::train {
namespace fs = std::filesystem;

nlohmann::json to_json(const TrainingState& s) {
  return {{"format_version", kCheckpointFormatVersion},
          {"step", s.step},
          {"epoch", s.epoch},
          {"train_position", s.train_position},
          {"valid_position", s.valid_position},
          {"best_metric", s.best_metric},
          {"best_step", s.best_step},
          {"best_auc", s.best_auc},
          {"best_logloss", s.best_logloss},
          {"evals_without_improvement", s.evals_without_improvement},
          {"plateau_evals", s.plateau_evals},
          {"theta_lr_scale", s.theta_lr_scale},
          {"gate_lr_scale", s.gate_lr_scale},
          {"metrics_bytes", s.metrics_bytes},
          {"examples", s.examples},
          {"train_seconds", s.train_seconds},
          {"finished", s.finished},
          {"stop_reason", s.stop_reason}};
}

TrainingState training_state_from_json(const nlohmann::json& j, const std::string& file) {
  const int version = j.value("format_version", 0);
  if (version > kCheckpointFormatVersion) {
    throw std::runtime_error(file + ": checkpoint format version " + std::to_string(version) +
                             " is newer than this build reads (" +
                             std::to_string(kCheckpointFormatVersion) +
                             "; use a newer adaensemble)");
  }
  if (version < 1) throw std::runtime_error(file + ": not an adaensemble checkpoint state");
  TrainingState s;
  s.step = j.at("step");
  s.epoch = j.at("epoch");
  s.train_position = j.at("train_position");
  s.valid_position = j.at("valid_position");
  s.best_metric = j.at("best_metric");
  s.best_step = j.at("best_step");
  s.best_auc = j.at("best_auc");
  s.best_logloss = j.at("best_logloss");
  s.evals_without_improvement = j.at("evals_without_improvement");
  s.plateau_evals = j.at("plateau_evals");
  s.theta_lr_scale = j.at("theta_lr_scale");
  s.gate_lr_scale = j.at("gate_lr_scale");
  s.metrics_bytes = j.at("metrics_bytes");
  s.examples = j.at("examples");
  s.train_seconds = j.at("train_seconds");
  s.finished = j.at("finished");
  s.stop_reason = j.at("stop_reason");
  return s;
}

namespace {

void save_archive(const fs::path& file,
                  const std::function<void(torch::serialize::OutputArchive&)>& fill) {
  torch::serialize::OutputArchive archive;
  fill(archive);
  archive.save_to(file.string());
}

}  // namespace

void save_checkpoint(const fs::path& dir, const CheckpointParts& parts,
                     const TrainingState& state) {
  const fs::path staged = dir.parent_path() / ("." + dir.filename().string() + ".staging");
  fs::remove_all(staged);
  fs::create_directories(staged);

  save_archive(staged / "model.pt", [&](auto& a) { parts.model->save(a); });
  if (parts.theta_optimizer) {
    save_archive(staged / "theta_optimizer.pt", [&](auto& a) { parts.theta_optimizer->save(a); });
  }
  if (parts.gate_optimizer) {
    save_archive(staged / "gate_optimizer.pt", [&](auto& a) { parts.gate_optimizer->save(a); });
  }
  save_archive(staged / "rng.pt",
               [&](auto& a) { a.write("cpu", at::detail::getDefaultCPUGenerator().get_state()); });
  write_text_atomically(staged / "state.json", to_json(state).dump(2) + "\n");
  YAML::Emitter yaml;
  yaml << to_yaml(*parts.config);
  write_text_atomically(staged / "config.resolved.yaml", std::string(yaml.c_str()) + "\n");
  data::save_features(*parts.schema, *parts.vocabulary, staged / "features");
  replace_directory_atomically(staged, dir);
}

TrainingState read_training_state(const fs::path& dir) {
  const fs::path file = dir / "state.json";
  if (!fs::exists(file)) throw std::runtime_error(file.string() + ": no checkpoint state here");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(file));
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(file.string() + ": unreadable checkpoint state: " + error.what());
  }
  return training_state_from_json(j, file.string());
}

void load_checkpoint_tensors(const fs::path& dir, const CheckpointParts& parts) {
  auto load = [&](const std::string& name,
                  const std::function<void(torch::serialize::InputArchive&)>& use) {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / name).string());
    use(archive);
  };
  load("model.pt", [&](auto& a) { parts.model->load(a); });
  if (parts.theta_optimizer)
    load("theta_optimizer.pt", [&](auto& a) { parts.theta_optimizer->load(a); });
  if (parts.gate_optimizer)
    load("gate_optimizer.pt", [&](auto& a) { parts.gate_optimizer->load(a); });
  if (parts.theta_optimizer) {
    load("rng.pt", [&](auto& a) {
      at::Tensor rng;
      a.read("cpu", rng);
      at::Generator generator = at::detail::getDefaultCPUGenerator();
      generator.set_state(rng);
    });
  }
}

fs::path resolve_checkpoint_dir(const fs::path& dir) {
  if (fs::exists(dir / "state.json")) return dir;
  if (fs::exists(dir / "best" / "state.json")) return dir / "best";
  throw ConfigError(dir.string() + ": not a checkpoint (expected state.json here or in best/)");
}

LoadedModel load_trained_model(const fs::path& dir_in, const std::string& device) {
  const fs::path dir = resolve_checkpoint_dir(dir_in);
  LoadedModel loaded;
  loaded.state = read_training_state(dir);
  loaded.config = config::parse_run_config(
      config::load_yaml_file((dir / "config.resolved.yaml").string()), dir);
  std::tie(loaded.schema, loaded.vocabulary) = data::load_features(dir / "features");
  loaded.model = model::build_ctr_model(loaded.config.model,
                                        feature_spec_of(loaded.schema, loaded.vocabulary));
  CheckpointParts parts;
  parts.model = loaded.model.get();
  load_checkpoint_tensors(dir, parts);
  loaded.model->to(torch::Device(device));
  loaded.model->eval();
  return loaded;
}

}  // namespace adaensemble::train
