// Fast 64-bit hashing of short byte strings and an open-addressing map from
// such hashes to small integers: the per-field lookups of the parser and
// encoder. Hash 0 is reserved for "missing", so hash_bytes never returns it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace adaensemble::data {

/// Hash value that stands for a missing (empty) categorical field.
inline constexpr uint64_t kMissingHash = 0;

namespace detail {
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
}  // namespace detail

/// Returns a 64-bit hash of `size` bytes at `data`; never kMissingHash.
inline uint64_t hash_bytes(const char* data, std::size_t size) {
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                     k2 = 0x8ebc6af09c88c6e3ull;
  uint64_t h = k0 ^ (size * k2);
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    h = detail::mum(h ^ word, k1);
    data += 8;
    size -= 8;
  }
  if (size > 0) {
    uint64_t word = 0;
    std::memcpy(&word, data, size);
    h = detail::mum(h ^ word ^ (static_cast<uint64_t>(size) << 59), k2);
  }
  h = detail::mum(h, k1 ^ 0x589965cc75374cc3ull);
  return h == kMissingHash ? 1 : h;
}

inline uint64_t hash_bytes(std::string_view text) { return hash_bytes(text.data(), text.size()); }

/// Mixes two 64-bit values into one (for cache keys and seeds).
inline uint64_t hash_combine(uint64_t a, uint64_t b) {
  return detail::mum(a ^ 0x2d358dccaa6c78a5ull, b ^ 0x8bb84b93962eacc9ull) + a;
}

/// Open-addressing map from a non-zero 64-bit hash to a uint32 value, with
/// linear probing and a load factor of at most 1/2.
class FlatHashMap {
 public:
  static constexpr uint32_t kAbsent = 0xffffffffu;

  explicit FlatHashMap(std::size_t expected = 16) { rehash(capacity_for(expected)); }

  std::size_t size() const { return size_; }

  /// Returns the value stored for `key`, or kAbsent.
  uint32_t find(uint64_t key) const {
    std::size_t slot = key & mask_;
    while (true) {
      const uint64_t k = keys_[slot];
      if (k == key) return values_[slot];
      if (k == 0) return kAbsent;
      slot = (slot + 1) & mask_;
    }
  }

  /// Returns a reference to the value of `key`, inserting `fresh` first if absent;
  /// `inserted` tells which happened.
  uint32_t& insert(uint64_t key, uint32_t fresh, bool* inserted) {
    if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
    std::size_t slot = key & mask_;
    while (true) {
      const uint64_t k = keys_[slot];
      if (k == key) {
        *inserted = false;
        return values_[slot];
      }
      if (k == 0) break;
      slot = (slot + 1) & mask_;
    }
    keys_[slot] = key;
    values_[slot] = fresh;
    ++size_;
    *inserted = true;
    return values_[slot];
  }

 private:
  static std::size_t capacity_for(std::size_t expected) {
    std::size_t capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    return capacity;
  }

  void rehash(std::size_t capacity) {
    std::vector<uint64_t> old_keys(capacity, 0);
    std::vector<uint32_t> old_values(capacity, 0);
    old_keys.swap(keys_);
    old_values.swap(values_);
    mask_ = capacity - 1;
    size_ = 0;
    for (std::size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == 0) continue;
      bool inserted = false;
      insert(old_keys[i], old_values[i], &inserted);
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<uint32_t> values_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace adaensemble::data
