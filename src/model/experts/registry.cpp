#include <mutex>
#include <stdexcept>

#include "adaensemble/config/error.h"
#include "adaensemble/model/experts/attention_expert.h"
#include "adaensemble/model/experts/cnn_expert.h"
#include "adaensemble/model/experts/cross_expert.h"
#include "adaensemble/model/experts/dense_expert.h"
#include "adaensemble/model/experts/expert.h"
#include "adaensemble/model/experts/polynomial_expert.h"

namespace adaensemble::model {

ExpertRegistry& ExpertRegistry::global() {
  static ExpertRegistry registry;
  return registry;
}

void ExpertRegistry::add(ExpertEntry entry) {
  if (contains(entry.name)) {
    throw std::logic_error("expert registry: the name '" + entry.name + "' is already taken");
  }
  entries_.push_back(std::move(entry));
}

bool ExpertRegistry::contains(const std::string& name) const {
  for (const ExpertEntry& entry : entries_) {
    if (entry.name == name) return true;
  }
  return false;
}

void ExpertRegistry::check_name(const std::string& name, const std::string& name_path) const {
  if (contains(name)) return;
  std::string known;
  for (const ExpertEntry& entry : entries_) known += (known.empty() ? "" : ", ") + entry.name;
  throw ConfigError(name_path + " = " + name + ": unknown expert (registered: " + known + ")");
}

Expert ExpertRegistry::create(const std::string& name, const ExpertShape& shape,
                              const YAML::Node& options, const std::string& options_path) const {
  check_name(name, options_path);
  for (const ExpertEntry& entry : entries_) {
    if (entry.name == name) return entry.factory(shape, options, options_path);
  }
  throw std::logic_error("expert registry: '" + name + "' vanished during lookup");
}

std::string ExpertRegistry::description(const std::string& name) const {
  for (const ExpertEntry& entry : entries_) {
    if (entry.name == name) return entry.description;
  }
  return "";
}

std::vector<std::string> ExpertRegistry::names() const {
  std::vector<std::string> out;
  for (const ExpertEntry& entry : entries_) out.push_back(entry.name);
  return out;
}

namespace {

// Wraps an expert type whose Options parse from YAML into a registry factory.
template <typename Impl, typename Options>
ExpertFactory factory_of() {
  return [](const ExpertShape& shape, const YAML::Node& options, const std::string& path) {
    return Expert(std::make_shared<Impl>(shape, Options::from_yaml(options, path)));
  };
}

void register_if_absent(ExpertEntry entry) {
  ExpertRegistry& registry = ExpertRegistry::global();
  if (!registry.contains(entry.name)) registry.add(std::move(entry));
}

}  // namespace

void register_builtin_experts() {
  // Registration happens once even if several threads ask at the same time.
  static std::once_flag once;
  std::call_once(once, [] {
    register_if_absent({"dense", "MLP on the flat view, optionally gated by an SE FFN on x0",
                        factory_of<DenseExpertImpl, DenseExpertOptions>()});
    register_if_absent({"cross", "DCN-V2 cross layer: x0 * (W x_l + b), full or low rank",
                        factory_of<CrossExpertImpl, CrossExpertOptions>()});
    register_if_absent({"polynomial", "xDeepInt PIN layer: x_l * (W x0), W mixing fields",
                        factory_of<PolynomialExpertImpl, PolynomialExpertOptions>()});
    register_if_absent({"cnn", "Conv1D over projected positions, max-pool, linear back",
                        factory_of<CnnExpertImpl, CnnExpertOptions>()});
    register_if_absent({"attention", "multi-head self-attention over fields (AutoInt-like)",
                        factory_of<AttentionExpertImpl, AttentionExpertOptions>()});
  });
}

}  // namespace adaensemble::model
