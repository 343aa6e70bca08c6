#include "adaensemble/train/trainer.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "adaensemble/config/error.h"
#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/data/dataset.h"
#include "adaensemble/data/pipeline.h"
#include "adaensemble/model/model_factory.h"
#include "adaensemble/train/checkpoint.h"
#include "adaensemble/train/evaluate.h"
#include "adaensemble/train/feature_bridge.h"
#include "adaensemble/train/optimizers.h"
#include "adaensemble/util/files.h"
#include "adaensemble/util/runtime.h"

namespace adaensemble::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

nlohmann::json TrainSummary::to_json() const {
  nlohmann::json j = {{"best_valid_auc", best_valid_auc},
                      {"best_valid_logloss", best_valid_logloss},
                      {"best_step", best_step},
                      {"steps", steps},
                      {"epochs", epochs},
                      {"examples_per_sec", examples_per_sec},
                      {"seconds", seconds},
                      {"data_wait_fraction", data_wait_fraction},
                      {"stop_reason", stop_reason}};
  if (!test.is_null()) j["test"] = test;
  return j;
}

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

c10::Device pick_device(const std::string& wanted) {
  if (wanted == "cuda" && !torch::cuda::is_available()) {
    throw ConfigError("train.device = cuda: no CUDA device is available (use cpu or auto)");
  }
  if (wanted == "cuda" || (wanted == "auto" && torch::cuda::is_available())) {
    return c10::Device(c10::kCUDA);
  }
  return c10::Device(c10::kCPU);
}

/// The terms of one step's loss; `total` is what is differentiated.
struct StepLoss {
  at::Tensor total;
  at::Tensor logloss;
  at::Tensor expert_balance;
  at::Tensor depth_balance;
  at::Tensor z_loss;
};

StepLoss compute_loss(const model::ModelOutput& out, const at::Tensor& labels) {
  StepLoss loss;
  loss.logloss = at::binary_cross_entropy_with_logits(out.logits, labels);
  loss.expert_balance = out.expert_balance_loss;
  loss.depth_balance = out.depth_balance_loss;
  loss.z_loss = out.z_loss;
  loss.total = loss.logloss + out.expert_balance_loss + out.depth_balance_loss + out.z_loss;
  return loss;
}

/// The number of values in `tensors`.
int64_t value_count(const std::vector<at::Tensor>& tensors) {
  int64_t count = 0;
  for (const at::Tensor& t : tensors) count += t.numel();
  return count;
}

class TrainingLoop {
 public:
  TrainingLoop(const config::RunConfig& config, bool resume)
      : config_(config), train_(config.train), out_dir_(config.output_dir), resume_(resume) {}

  TrainSummary run();

 private:
  void prepare();
  void restore_or_start();
  bool gate_step();
  /// One theta step; returns its loss terms.
  StepLoss theta_step(const data::Batch& batch);
  bool evaluate_and_checkpoint();
  void save(const fs::path& dir);
  void log_progress(const StepLoss& loss, double elapsed);
  void append_metrics(const nlohmann::json& row);
  TrainSummary summarize();
  /// Batch of gate steps and evaluations: train.valid_batch_size, or the training batch.
  int64_t valid_batch_size() const {
    return train_.valid_batch_size > 0 ? train_.valid_batch_size : train_.batch_size;
  }

  const config::RunConfig& config_;
  const config::TrainConfig& train_;
  fs::path out_dir_;
  bool resume_;
  c10::Device device_{c10::kCPU};

  data::PreparedData data_;
  model::CtrModel model_;
  std::unique_ptr<torch::optim::Optimizer> theta_optimizer_;
  std::unique_ptr<torch::optim::Optimizer> gate_optimizer_;
  std::optional<LearningRateSchedule> theta_schedule_;
  std::optional<LearningRateSchedule> gate_schedule_;
  std::unique_ptr<data::BatchIterator> train_batches_;
  std::unique_ptr<data::BatchIterator> valid_batches_;    // upper-level gate batches
  std::shared_ptr<const data::EncodedSplit> eval_split_;  // evaluations and model selection
  std::vector<at::Tensor> theta_parameters_;
  TrainingState state_;
  int64_t total_steps_ = 0;
  double data_wait_seconds_ = 0.0;
  double loop_seconds_ = 0.0;
};

void TrainingLoop::prepare() {
  const int threads = configure_threads(train_.threads);
  device_ = pick_device(train_.device);
  torch::manual_seed(static_cast<uint64_t>(train_.seed));
  spdlog::info("run: output_dir={} device={} threads={} mode={}", out_dir_.string(), device_.str(),
               threads, train_.mode);

  data_ = data::prepare_data(config_.data);
  if (!data_.valid || data_.valid->rows() == 0) {
    throw ConfigError(
        "data.valid: the validation split is empty (set data.valid or "
        "data.valid_fraction; the bi-level trainer and early stopping need it)");
  }
  spdlog::info("data: train_rows={} valid_rows={} test_rows={}", data_.train->rows(),
               data_.valid->rows(), data_.test ? data_.test->rows() : 0);
  std::shared_ptr<const data::EncodedSplit> gate_split = data_.valid;
  eval_split_ = data_.valid;
  if (train_.mode == "bilevel" && train_.gate_valid_fraction > 0) {
    const int64_t rows = data_.valid->rows();
    const auto gate_rows =
        static_cast<int64_t>(static_cast<double>(rows) * train_.gate_valid_fraction);
    if (gate_rows == 0 || gate_rows == rows) {
      throw ConfigError(fmt::format(
          "train.gate_valid_fraction = {}: leaves none of the {} validation rows for the {} "
          "(give more validation rows, or set it to 0 to use every row for both)",
          train_.gate_valid_fraction, rows, gate_rows == 0 ? "gate steps" : "evaluations"));
    }
    gate_split = data_.valid->slice(0, gate_rows);
    eval_split_ = data_.valid->slice(gate_rows, rows);
    spdlog::info("data: validation rows for gate steps={} for evaluation={}", gate_rows,
                 rows - gate_rows);
  }

  model_ = model::build_ctr_model(config_.model, feature_spec_of(data_.schema, data_.vocabulary));
  model_->to(device_);

  const model::ParameterGroups groups = model_->parameter_groups();
  const std::vector<at::Tensor> embeddings = model_->embedding_parameters();
  theta_parameters_ = groups.model;
  if (train_.mode == "joint") {
    theta_optimizer_ = make_joint_optimizer(train_.optimizer, *model_);
  } else {
    theta_optimizer_ =
        make_optimizer(train_.optimizer, without(groups.model, embeddings), embeddings);
    if (!groups.gates.empty()) {
      gate_optimizer_ = make_optimizer(train_.gate_optimizer, groups.gates, {});
    }
  }
  spdlog::info("model: parameters={} gate_parameters={} gate_tensors={} embedding_tables={}",
               value_count(model_->parameters()), value_count(groups.gates), groups.gates.size(),
               embeddings.size());

  data::BatchOptions options;
  options.batch_size = train_.batch_size;
  options.shuffle = train_.shuffle;
  options.seed = static_cast<uint64_t>(train_.seed);
  options.drop_last = false;
  train_batches_ = std::make_unique<data::BatchIterator>(data_.train, options);
  const int64_t per_epoch = train_batches_->num_batches();
  total_steps_ = per_epoch * train_.epochs;
  if (train_.max_steps > 0) total_steps_ = std::min(total_steps_, train_.max_steps);
  theta_schedule_.emplace(train_.optimizer, total_steps_);
  gate_schedule_.emplace(train_.gate_optimizer, total_steps_);

  data::BatchOptions valid_options = options;
  valid_options.batch_size = valid_batch_size();
  valid_options.seed = options.seed + 1;
  valid_batches_ = std::make_unique<data::BatchIterator>(gate_split, valid_options);
}

void TrainingLoop::restore_or_start() {
  const fs::path latest = out_dir_ / "checkpoints" / "latest";
  const bool has_run = fs::exists(latest / "state.json");
  if (!resume_ && has_run) {
    throw ConfigError(out_dir_.string() +
                      ": already holds a run (pass --resume to continue it, "
                      "or choose another --output)");
  }
  fs::create_directories(out_dir_);
  YAML::Emitter yaml;
  yaml << to_yaml(config_);
  write_text_atomically(out_dir_ / "config.resolved.yaml", std::string(yaml.c_str()) + "\n");
  if (!has_run) {
    if (resume_) spdlog::warn("--resume: no checkpoint in {}; starting a new run", latest.string());
    std::ofstream(out_dir_ / "metrics.jsonl", std::ios::trunc);
    return;
  }
  state_ = read_training_state(latest);
  CheckpointParts parts{model_.get(), theta_optimizer_.get(), gate_optimizer_.get(),
                        &config_,     &data_.schema,          &data_.vocabulary};
  load_checkpoint_tensors(latest, parts);
  train_batches_->seek(data::position_from_json(state_.train_position));
  valid_batches_->seek(data::position_from_json(state_.valid_position));
  theta_schedule_->set_plateau_scale(state_.theta_lr_scale);
  gate_schedule_->set_plateau_scale(state_.gate_lr_scale);
  fs::resize_file(out_dir_ / "metrics.jsonl", static_cast<uintmax_t>(state_.metrics_bytes));
  model_->set_step(state_.step);
  spdlog::info("resume: step={} epoch={} best_step={}", state_.step, state_.epoch,
               state_.best_step);
}

bool TrainingLoop::gate_step() {
  data::Batch batch;
  // The validation split is cycled: next() returns false once per epoch.
  if (!valid_batches_->next(&batch) && !valid_batches_->next(&batch)) return false;
  batch = to_device(batch, device_);
  // First-order bi-level step: only U moves, so theta needs no gradient here.
  for (auto& p : theta_parameters_) p.set_requires_grad(false);
  gate_schedule_->apply(*gate_optimizer_, state_.step);
  gate_optimizer_->zero_grad();
  const StepLoss loss = compute_loss(
      model_->forward(batch.categorical, batch.numeric, model::RoutingMode::kSoft), batch.label);
  loss.total.backward();
  gate_optimizer_->step();
  for (auto& p : theta_parameters_) p.set_requires_grad(true);
  return std::isfinite(loss.total.item<double>());
}

void TrainingLoop::append_metrics(const nlohmann::json& row) {
  std::ofstream out(out_dir_ / "metrics.jsonl", std::ios::app);
  out << row.dump() << "\n";
}

void TrainingLoop::log_progress(const StepLoss& loss, double elapsed) {
  const double rate = elapsed > 0 ? static_cast<double>(state_.examples) / elapsed : 0.0;
  const int64_t remaining = std::max<int64_t>(total_steps_ - state_.step, 0);
  const double eta = rate > 0 ? remaining * train_.batch_size / rate : 0.0;
  const double lr = theta_schedule_->at(state_.step);
  spdlog::info(
      "epoch={} step={}/{} loss={:.4f} logloss={:.4f} balance={:.4f} depth={:.4f} "
      "lr={:.3g} ex_per_s={:.0f} eta={:.0f}s",
      state_.epoch + 1, state_.step, total_steps_, loss.total.item<double>(),
      loss.logloss.item<double>(), loss.expert_balance.item<double>(),
      loss.depth_balance.item<double>(), lr, rate, eta);
  append_metrics({{"type", "train"},
                  {"step", state_.step},
                  {"epoch", state_.epoch},
                  {"loss", loss.total.item<double>()},
                  {"logloss", loss.logloss.item<double>()},
                  {"expert_balance_loss", loss.expert_balance.item<double>()},
                  {"depth_balance_loss", loss.depth_balance.item<double>()},
                  {"z_loss", loss.z_loss.item<double>()},
                  {"lr", lr},
                  {"gate_lr", gate_schedule_->at(state_.step)},
                  {"examples_per_sec", rate}});
}

void TrainingLoop::save(const fs::path& dir) {
  state_.train_position = data::position_to_json(train_batches_->position());
  state_.valid_position = data::position_to_json(valid_batches_->position());
  state_.theta_lr_scale = theta_schedule_->plateau_scale();
  state_.gate_lr_scale = gate_schedule_->plateau_scale();
  const fs::path metrics = out_dir_ / "metrics.jsonl";
  state_.metrics_bytes = fs::exists(metrics) ? static_cast<int64_t>(fs::file_size(metrics)) : 0;
  CheckpointParts parts{model_.get(), theta_optimizer_.get(), gate_optimizer_.get(),
                        &config_,     &data_.schema,          &data_.vocabulary};
  save_checkpoint(dir, parts, state_);
}

// Returns false when early stopping says the run is over.
bool TrainingLoop::evaluate_and_checkpoint() {
  const Evaluation e = evaluate(*model_, eval_split_, valid_batch_size(), device_);
  nlohmann::json row = evaluation_json(e);
  row["type"] = "eval";
  row["split"] = "valid";
  row["step"] = state_.step;
  row["epoch"] = state_.epoch;
  spdlog::info(
      "eval step={} valid_auc={:.5f} valid_logloss={:.5f} ne={:.4f} calibration={:.3f} "
      "flops_per_example={:.0f}",
      state_.step, e.metrics.auc, e.metrics.logloss, e.metrics.normalized_entropy,
      e.metrics.calibration, row["flops_per_example"].get<double>());

  const bool by_auc = train_.early_stopping.metric == "auc";
  const double value = by_auc ? e.metrics.auc : -e.metrics.logloss;
  const bool improved =
      state_.best_step < 0 || value > state_.best_metric + train_.early_stopping.min_delta;
  bool keep_going = true;
  if (improved) {
    state_.best_metric = value;
    state_.best_step = state_.step;
    state_.best_auc = e.metrics.auc;
    state_.best_logloss = e.metrics.logloss;
    state_.evals_without_improvement = 0;
    state_.plateau_evals = 0;
  } else {
    ++state_.evals_without_improvement;
    if (++state_.plateau_evals >= train_.plateau.patience && train_.plateau.factor < 1.0) {
      theta_schedule_->scale(train_.plateau.factor);
      gate_schedule_->scale(train_.plateau.factor);
      state_.plateau_evals = 0;
      spdlog::info("plateau: learning rates scaled by {}", train_.plateau.factor);
    }
    if (train_.early_stopping.patience > 0 &&
        state_.evals_without_improvement >= train_.early_stopping.patience) {
      state_.stop_reason = "early_stopping";
      keep_going = false;
    }
  }
  row["best"] = improved;
  append_metrics(row);
  if (improved) save(out_dir_ / "best");
  save(out_dir_ / "checkpoints" / "latest");
  return keep_going;
}

StepLoss TrainingLoop::theta_step(const data::Batch& batch_in) {
  const data::Batch batch = to_device(batch_in, device_);
  theta_schedule_->apply(*theta_optimizer_, state_.step);
  theta_optimizer_->zero_grad();
  const StepLoss loss = compute_loss(
      model_->forward(batch.categorical, batch.numeric, model::RoutingMode::kHard), batch.label);
  const double total = loss.total.item<double>();
  if (!std::isfinite(total)) {
    throw std::runtime_error(
        "step " + std::to_string(state_.step + 1) + ": loss is " + std::to_string(total) +
        "; training stopped (the last good checkpoint is in " +
        (out_dir_ / "checkpoints" / "latest").string() + "; try a lower learning rate)");
  }
  loss.total.backward();
  theta_optimizer_->step();
  ++state_.step;
  state_.examples += batch_in.label.size(0);
  model_->set_step(state_.step);
  return loss;
}

TrainSummary TrainingLoop::run() {
  prepare();
  restore_or_start();
  if (state_.finished) {
    spdlog::info("run already finished ({}); nothing to resume", state_.stop_reason);
    return summarize();
  }
  model_->train();
  model_->set_step(state_.step);
  const double seconds_before = state_.train_seconds;
  const auto start = Clock::now();
  bool running = true;
  while (running && state_.epoch < train_.epochs) {
    data::Batch batch;
    while (running) {
      const auto wait_start = Clock::now();
      const bool got = train_batches_->next(&batch);
      data_wait_seconds_ += seconds_since(wait_start);
      if (!got) break;
      if (gate_optimizer_ && state_.step % train_.inner_steps == 0 && !gate_step()) {
        throw std::runtime_error("step " + std::to_string(state_.step + 1) +
                                 ": gate loss is not finite; training stopped (the last good "
                                 "checkpoint is kept; try a lower train.gate_optimizer.lr)");
      }
      const StepLoss loss = theta_step(batch);
      loop_seconds_ = seconds_since(start);
      state_.train_seconds = seconds_before + loop_seconds_;
      if (state_.step % train_.log_every == 0) log_progress(loss, state_.train_seconds);
      if (train_.max_steps > 0 && state_.step >= train_.max_steps) {
        state_.stop_reason = "max_steps";
        running = false;
      }
      if (running && train_.eval_every > 0 && state_.step % train_.eval_every == 0) {
        running = evaluate_and_checkpoint();
      } else if (running && train_.checkpoint_every > 0 &&
                 state_.step % train_.checkpoint_every == 0) {
        save(out_dir_ / "checkpoints" / "latest");
      }
    }
    if (running) {
      ++state_.epoch;
      running = evaluate_and_checkpoint();
    } else if (state_.stop_reason == "max_steps") {
      evaluate_and_checkpoint();
    }
  }
  if (state_.stop_reason.empty()) state_.stop_reason = "epochs";
  state_.finished = true;
  loop_seconds_ = seconds_since(start);
  save(out_dir_ / "checkpoints" / "latest");
  return summarize();
}

TrainSummary TrainingLoop::summarize() {
  TrainSummary s;
  s.best_valid_auc = state_.best_auc;
  s.best_valid_logloss = state_.best_logloss;
  s.best_step = state_.best_step;
  s.steps = state_.step;
  s.epochs = state_.epoch;
  s.seconds = state_.train_seconds;
  s.examples_per_sec = s.seconds > 0 ? static_cast<double>(state_.examples) / s.seconds : 0.0;
  s.data_wait_fraction = loop_seconds_ > 0 ? data_wait_seconds_ / loop_seconds_ : 0.0;
  s.stop_reason = state_.stop_reason;
  if (data_.test && data_.test->rows() > 0 && fs::exists(out_dir_ / "best" / "state.json")) {
    const LoadedModel best = load_trained_model(out_dir_ / "best", device_.str());
    s.test = evaluation_json(evaluate(*best.model, data_.test, valid_batch_size(), device_));
    spdlog::info("test (best model): auc={:.5f} logloss={:.5f}", s.test["auc"].get<double>(),
                 s.test["logloss"].get<double>());
  }
  return s;
}

}  // namespace

TrainSummary run_training(const config::RunConfig& config, bool resume) {
  TrainingLoop loop(config, resume);
  return loop.run();
}

}  // namespace adaensemble::train
