// Batches straight from an encoded split into tensors: categorical ids int64
// [B, C], raw numeric values float32 [B, N] (NaN = missing), labels float32
// [B]. Shuffling permutes blocks of consecutive rows with a seeded RNG, so a
// (epoch, batch, seed) position replays exactly. A prefetch thread builds the
// next batches ahead. One iterator is used from one thread.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "adaensemble/data/dataset.h"

namespace adaensemble::data {

struct Batch {
  at::Tensor categorical;  // int64 [B, C]
  at::Tensor numeric;      // float32 [B, N]
  at::Tensor label;        // float32 [B]
};

struct BatchOptions {
  /// Rows per batch (default 4096).
  int64_t batch_size = 4096;
  /// Visit blocks of rows in a seeded random order each epoch (default false).
  bool shuffle = false;
  /// Seed of the shuffle; epoch e uses a permutation derived from (seed, e).
  uint64_t seed = 0;
  /// Drop the last batch of an epoch when it is smaller than batch_size.
  bool drop_last = false;
  /// Batches built ahead on a background thread; 0 builds them on the caller's thread.
  int prefetch = 2;
  /// Rows per shuffle block (default 1024); blocks never cross file boundaries.
  int64_t block_rows = 1024;
};

/// Where an iterator stands: the next batch to return.
struct Position {
  int64_t epoch = 0;
  int64_t batch = 0;
  uint64_t seed = 0;
  bool operator==(const Position& other) const {
    return epoch == other.epoch && batch == other.batch && seed == other.seed;
  }
};

class BatchIterator {
 public:
  BatchIterator(std::shared_ptr<const EncodedSplit> split, BatchOptions options);
  ~BatchIterator();
  BatchIterator(const BatchIterator&) = delete;
  BatchIterator& operator=(const BatchIterator&) = delete;

  /// Fills `out` with the next batch of the current epoch and returns true;
  /// at the end of an epoch returns false and moves to the next epoch.
  bool next(Batch* out);
  /// Returns the number of batches in one epoch.
  int64_t num_batches() const;
  /// Returns the position of the batch the next call to next() returns.
  Position position() const { return position_; }
  /// Moves to `position`; the following batches equal those an uninterrupted
  /// run would have produced from there.
  void seek(const Position& position);

 private:
  struct Block {
    std::size_t part;
    int64_t begin;
    int64_t rows;
  };
  void start_epoch();
  void build(int64_t batch, Batch* out) const;
  void stop_prefetch();
  void start_prefetch();

  std::shared_ptr<const EncodedSplit> split_;
  BatchOptions options_;
  Position position_;
  std::vector<Block> blocks_;
  /// This epoch's block order and the first logical row of each ordered block.
  std::vector<std::size_t> order_;
  std::vector<int64_t> starts_;
  int64_t epoch_prepared_ = -1;

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  int64_t next_to_build_ = 0;
  bool stop_ = false;
  bool running_ = false;
};

}  // namespace adaensemble::data
