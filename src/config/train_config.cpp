#include "adaensemble/config/train_config.h"

#include <set>

namespace adaensemble::config {
namespace {

void require_one_of(ConfigNode& node, const std::string& key, const std::string& value,
                    const std::set<std::string>& allowed) {
  if (allowed.count(value)) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  node.fail(key, "expected one of " + list);
}

void require_at_least(ConfigNode& node, const std::string& key, double value, double low) {
  if (value < low) node.fail(key, "must be >= " + YAML::Node(low).as<std::string>());
}

OptimizerConfig parse_optimizer(ConfigNode node, OptimizerConfig c) {
  c.name = node.get("name", c.name);
  require_one_of(node, "name", c.name, {"adam", "adagrad", "sgd"});
  c.lr = node.get("lr", c.lr);
  if (!(c.lr > 0)) node.fail("lr", "must be > 0");
  c.weight_decay = node.get("weight_decay", c.weight_decay);
  require_at_least(node, "weight_decay", c.weight_decay, 0);
  c.embedding_weight_decay = node.get("embedding_weight_decay", c.embedding_weight_decay);
  require_at_least(node, "embedding_weight_decay", c.embedding_weight_decay, 0);
  c.momentum = node.get("momentum", c.momentum);
  require_at_least(node, "momentum", c.momentum, 0);
  c.beta1 = node.get("beta1", c.beta1);
  if (c.beta1 < 0 || c.beta1 >= 1) node.fail("beta1", "must be in [0, 1)");
  c.beta2 = node.get("beta2", c.beta2);
  if (c.beta2 < 0 || c.beta2 >= 1) node.fail("beta2", "must be in [0, 1)");
  c.eps = node.get("eps", c.eps);
  if (!(c.eps > 0)) node.fail("eps", "must be > 0");
  c.warmup_steps = node.get("warmup_steps", c.warmup_steps);
  require_at_least(node, "warmup_steps", static_cast<double>(c.warmup_steps), 0);
  c.decay = node.get("decay", c.decay);
  require_one_of(node, "decay", c.decay, {"none", "cosine", "exponential"});
  c.decay_rate = node.get("decay_rate", c.decay_rate);
  if (!(c.decay_rate > 0 && c.decay_rate <= 1)) node.fail("decay_rate", "must be in (0, 1]");
  c.decay_steps = node.get("decay_steps", c.decay_steps);
  require_at_least(node, "decay_steps", static_cast<double>(c.decay_steps), 0);
  if (c.decay == "exponential" && c.decay_steps == 0) {
    node.fail("decay_steps", "must be > 0 when decay is exponential");
  }
  c.min_lr = node.get("min_lr", c.min_lr);
  require_at_least(node, "min_lr", c.min_lr, 0);
  node.finish();
  return c;
}

YAML::Node optimizer_yaml(const OptimizerConfig& c) {
  YAML::Node n;
  n["name"] = c.name;
  n["lr"] = c.lr;
  n["weight_decay"] = c.weight_decay;
  n["embedding_weight_decay"] = c.embedding_weight_decay;
  n["momentum"] = c.momentum;
  n["beta1"] = c.beta1;
  n["beta2"] = c.beta2;
  n["eps"] = c.eps;
  n["warmup_steps"] = c.warmup_steps;
  n["decay"] = c.decay;
  n["decay_rate"] = c.decay_rate;
  n["decay_steps"] = c.decay_steps;
  n["min_lr"] = c.min_lr;
  return n;
}

}  // namespace

TrainConfig parse_train_config(ConfigNode node) {
  TrainConfig c;
  c.mode = node.get("mode", c.mode);
  require_one_of(node, "mode", c.mode, {"bilevel", "joint"});
  c.batch_size = node.get("batch_size", c.batch_size);
  require_at_least(node, "batch_size", static_cast<double>(c.batch_size), 1);
  c.valid_batch_size = node.get("valid_batch_size", c.valid_batch_size);
  require_at_least(node, "valid_batch_size", static_cast<double>(c.valid_batch_size), 0);
  c.epochs = node.get("epochs", c.epochs);
  require_at_least(node, "epochs", static_cast<double>(c.epochs), 1);
  c.max_steps = node.get("max_steps", c.max_steps);
  require_at_least(node, "max_steps", static_cast<double>(c.max_steps), 0);
  c.inner_steps = node.get("inner_steps", c.inner_steps);
  require_at_least(node, "inner_steps", static_cast<double>(c.inner_steps), 1);
  c.gate_valid_fraction = node.get("gate_valid_fraction", c.gate_valid_fraction);
  if (!(c.gate_valid_fraction >= 0 && c.gate_valid_fraction < 1)) {
    node.fail("gate_valid_fraction", "must be in [0, 1)");
  }
  c.seed = node.get("seed", c.seed);
  c.threads = node.get("threads", c.threads);
  require_at_least(node, "threads", c.threads, 0);
  c.device = node.get("device", c.device);
  require_one_of(node, "device", c.device, {"auto", "cpu", "cuda"});
  c.optimizer = parse_optimizer(node.child("optimizer"), c.optimizer);
  c.gate_optimizer = parse_optimizer(node.child("gate_optimizer"), c.gate_optimizer);
  c.eval_every = node.get("eval_every", c.eval_every);
  require_at_least(node, "eval_every", static_cast<double>(c.eval_every), 0);
  c.log_every = node.get("log_every", c.log_every);
  require_at_least(node, "log_every", static_cast<double>(c.log_every), 1);
  c.checkpoint_every = node.get("checkpoint_every", c.checkpoint_every);
  require_at_least(node, "checkpoint_every", static_cast<double>(c.checkpoint_every), 0);

  ConfigNode stop = node.child("early_stopping");
  c.early_stopping.metric = stop.get("metric", c.early_stopping.metric);
  require_one_of(stop, "metric", c.early_stopping.metric, {"auc", "logloss"});
  c.early_stopping.patience = stop.get("patience", c.early_stopping.patience);
  require_at_least(stop, "patience", static_cast<double>(c.early_stopping.patience), 0);
  c.early_stopping.min_delta = stop.get("min_delta", c.early_stopping.min_delta);
  require_at_least(stop, "min_delta", c.early_stopping.min_delta, 0);
  stop.finish();

  ConfigNode plateau = node.child("plateau");
  c.plateau.factor = plateau.get("factor", c.plateau.factor);
  if (!(c.plateau.factor > 0 && c.plateau.factor <= 1)) plateau.fail("factor", "must be in (0, 1]");
  c.plateau.patience = plateau.get("patience", c.plateau.patience);
  require_at_least(plateau, "patience", static_cast<double>(c.plateau.patience), 1);
  plateau.finish();

  c.shuffle = node.get("shuffle", c.shuffle);
  node.finish();
  return c;
}

YAML::Node to_yaml(const TrainConfig& c) {
  YAML::Node n;
  n["mode"] = c.mode;
  n["batch_size"] = c.batch_size;
  n["valid_batch_size"] = c.valid_batch_size;
  n["epochs"] = c.epochs;
  n["max_steps"] = c.max_steps;
  n["inner_steps"] = c.inner_steps;
  n["gate_valid_fraction"] = c.gate_valid_fraction;
  n["seed"] = c.seed;
  n["threads"] = c.threads;
  n["device"] = c.device;
  n["optimizer"] = optimizer_yaml(c.optimizer);
  n["gate_optimizer"] = optimizer_yaml(c.gate_optimizer);
  n["eval_every"] = c.eval_every;
  n["log_every"] = c.log_every;
  n["checkpoint_every"] = c.checkpoint_every;
  n["early_stopping"]["metric"] = c.early_stopping.metric;
  n["early_stopping"]["patience"] = c.early_stopping.patience;
  n["early_stopping"]["min_delta"] = c.early_stopping.min_delta;
  n["plateau"]["factor"] = c.plateau.factor;
  n["plateau"]["patience"] = c.plateau.patience;
  n["shuffle"] = c.shuffle;
  return n;
}

}  // namespace adaensemble::config
