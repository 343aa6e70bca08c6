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

  /// Returns the forward-pass FLOPs for one row (a multiply-add counts 2).
  virtual int64_t flops_per_row() const = 0;

  /// Returns the registered name of this expert's kind (e.g. "cross").
  virtual std::string kind() const = 0;
};

using Expert = std::shared_ptr<ExpertImpl>;

/// Builds an expert from its shape and its YAML options (a mapping, possibly
/// empty). `path` is the options' dotted config path, for error messages;
/// unknown or invalid options throw ConfigError naming `path.key`.
using ExpertFactory =
    std::function<Expert(const ExpertShape& shape, const YAML::Node& options,
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

  /// Builds expert `name`; an unknown name throws ConfigError listing every
  /// registered name.
  Expert create(const std::string& name, const ExpertShape& shape, const YAML::Node& options,
                const std::string& path) const;

  /// Returns the registered names in registration order.
  std::vector<std::string> names() const;

 private:
  std::vector<ExpertEntry> entries_;
};

/// Registers dense, cross, polynomial, cnn and attention (idempotent).
void register_builtin_experts();

}  // namespace adaensemble::model
