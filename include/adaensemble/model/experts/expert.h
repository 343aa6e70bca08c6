// The interface every feature-interaction expert implements, and the registry
// that maps expert names (`dense`, `cross`, ...) to factories.
// Shapes: an expert maps (x_l [rows, fields, dim], x0 [rows, fields, dim]) to
// a tensor of x_l's shape. It must accept rows == 0.
#pragma once

#include <torch/nn/module.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace adaensemble::model {

/// The shape every expert of a layer sees.
struct ExpertShape {
  int64_t num_fields = 0;
  int64_t embedding_dim = 0;
  int64_t flat_dim() const { return num_fields * embedding_dim; }
};

/// Base of all experts. Subclasses register their own parameters in their
/// constructor (or reset()) and implement forward() and the FLOP count.
class ExpertImpl : public torch::nn::Module {
 public:
  /// Maps x_l [rows, F, D] and x0 [rows, F, D] to [rows, F, D].
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) = 0;

  /// Returns the forward-pass FLOPs for one row. Counted: each multiply-add of
  /// a matrix product or convolution as 2, each bias addition and each
  /// elementwise product of two tensors as 1 per element. Not counted:
  /// activations, softmax, normalisation statistics, pooling, dropout, scaling
  /// by a constant and reshapes. Each expert's header lists its terms.
  virtual int64_t flops_per_row() const = 0;

  /// Returns the registered name of this expert's kind (e.g. "cross").
  virtual std::string kind() const = 0;
};

using Expert = std::shared_ptr<ExpertImpl>;

/// Builds an expert from its shape and its YAML options (a mapping, possibly
/// empty). `path` is the options' dotted config path, for error messages;
/// unknown or invalid options throw ConfigError naming `path.key`.
using ExpertFactory = std::function<Expert(const ExpertShape& shape, const YAML::Node& options,
                                           const std::string& path)>;

struct ExpertEntry {
  std::string name;
  std::string description;
  ExpertFactory factory;
};

/// The name -> factory map. Built-ins are added by register_builtin_experts();
/// adding an expert is one new file plus one register_expert() call there.
class ExpertRegistry {
 public:
  static ExpertRegistry& global();

  /// Adds an entry; throws std::logic_error when the name is taken.
  void add(ExpertEntry entry);

  /// Returns true when `name` is registered.
  bool contains(const std::string& name) const;

  /// Throws ConfigError `<name_path> = <name>: unknown expert (registered: ...)`
  /// unless `name` is registered. `name_path` is where the name sits in the
  /// config, e.g. `model.experts[2]`.
  void check_name(const std::string& name, const std::string& name_path) const;

  /// Builds expert `name` with options found at `options_path` (e.g.
  /// `model.expert_options.cross`). An unknown name throws the check_name()
  /// error with `options_path` standing for `name_path`; callers that know the
  /// name's own path call check_name() first for a precise message.
  Expert create(const std::string& name, const ExpertShape& shape, const YAML::Node& options,
                const std::string& options_path) const;

  /// Returns the one-line description of `name` (empty when unknown).
  std::string description(const std::string& name) const;

  /// Returns the registered names in registration order.
  std::vector<std::string> names() const;

 private:
  std::vector<ExpertEntry> entries_;
};

/// Registers dense, cross, polynomial, cnn and attention (idempotent).
void register_builtin_experts();

}  // namespace adaensemble::model
