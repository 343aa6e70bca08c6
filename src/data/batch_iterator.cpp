#include "adaensemble/data/batch_iterator.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>

#include "adaensemble/data/hashing.h"

namespace adaensemble::data {
namespace {

uint64_t splitmix(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

BatchIterator::BatchIterator(std::shared_ptr<const EncodedSplit> split, BatchOptions options)
    : split_(std::move(split)), options_(options) {
  TORCH_CHECK(split_ != nullptr, "BatchIterator needs a split");
  TORCH_CHECK(options_.batch_size > 0, "batch_size must be positive, got ", options_.batch_size);
  TORCH_CHECK(options_.block_rows > 0, "block_rows must be positive, got ", options_.block_rows);
  TORCH_CHECK(options_.prefetch >= 0, "prefetch must be >= 0, got ", options_.prefetch);
  const auto& parts = split_->parts();
  for (std::size_t p = 0; p < parts.size(); ++p) {
    for (int64_t r = 0; r < parts[p].rows(); r += options_.block_rows) {
      blocks_.push_back({p, r, std::min(options_.block_rows, parts[p].rows() - r)});
    }
  }
  position_.seed = options_.seed;
}

BatchIterator::~BatchIterator() { stop_prefetch(); }

int64_t BatchIterator::num_batches() const {
  const int64_t rows = split_->rows();
  return options_.drop_last ? rows / options_.batch_size
                            : (rows + options_.batch_size - 1) / options_.batch_size;
}

void BatchIterator::start_epoch() {
  if (epoch_prepared_ == position_.epoch) return;
  order_.resize(blocks_.size());
  for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  if (options_.shuffle) {
    uint64_t state = hash_combine(position_.seed, static_cast<uint64_t>(position_.epoch));
    for (std::size_t i = order_.size(); i > 1; --i) {
      std::swap(order_[i - 1], order_[splitmix(&state) % i]);
    }
  }
  starts_.resize(order_.size());
  int64_t start = 0;
  for (std::size_t i = 0; i < order_.size(); ++i) {
    starts_[i] = start;
    start += blocks_[order_[i]].rows;
  }
  epoch_prepared_ = position_.epoch;
}

void BatchIterator::build(int64_t batch, Batch* out) const {
  const int64_t first = batch * options_.batch_size;
  const int64_t size = std::min(options_.batch_size, split_->rows() - first);
  const int64_t c = split_->num_categorical();
  const int64_t n = split_->num_numeric();
  out->categorical = at::empty({size, c}, at::kLong);
  out->numeric = at::empty({size, n}, at::kFloat);
  out->label = at::empty({size}, at::kFloat);
  int64_t* ids = out->categorical.data_ptr<int64_t>();
  float* numeric = out->numeric.data_ptr<float>();
  float* labels = out->label.data_ptr<float>();

  // Find the ordered block holding the batch's first row, then walk blocks.
  std::size_t b = std::upper_bound(starts_.begin(), starts_.end(), first) - starts_.begin() - 1;
  int64_t done = 0;
  while (done < size) {
    const Block& block = blocks_[order_[b]];
    const int64_t offset = first + done - starts_[b];
    const int64_t take = std::min(block.rows - offset, size - done);
    split_->copy_rows(block.part, block.begin + offset, take, done, ids, numeric, labels);
    done += take;
    ++b;
  }
}

void BatchIterator::start_prefetch() {
  if (options_.prefetch == 0 || running_) return;
  start_epoch();
  stop_ = false;
  ready_.clear();
  next_to_build_ = position_.batch;
  running_ = true;
  worker_ = std::thread([this] {
    const int64_t total = num_batches();
    while (true) {
      int64_t batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(
            lock, [&] { return stop_ || static_cast<int64_t>(ready_.size()) < options_.prefetch; });
        if (stop_ || next_to_build_ >= total) return;
        batch = next_to_build_;
      }
      Batch built;
      build(batch, &built);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(built));
      ++next_to_build_;
      changed_.notify_all();
    }
  });
}

void BatchIterator::stop_prefetch() {
  if (!running_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }
  worker_.join();
  ready_.clear();
  running_ = false;
}

bool BatchIterator::next(Batch* out) {
  if (position_.batch >= num_batches()) {
    stop_prefetch();
    ++position_.epoch;
    position_.batch = 0;
    return false;
  }
  if (options_.prefetch == 0) {
    start_epoch();
    build(position_.batch, out);
  } else {
    start_prefetch();
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !ready_.empty(); });
    *out = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
  }
  ++position_.batch;
  return true;
}

void BatchIterator::seek(const Position& position) {
  TORCH_CHECK(position.epoch >= 0 && position.batch >= 0 && position.batch <= num_batches(),
              "seek: position (epoch ", position.epoch, ", batch ", position.batch,
              ") is outside the split's ", num_batches(), " batches");
  stop_prefetch();
  position_ = position;
  epoch_prepared_ = -1;
}

}  // namespace adaensemble::data
