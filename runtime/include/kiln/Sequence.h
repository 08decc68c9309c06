//===- Sequence.h - batched data sources with per-epoch shuffling (keras.utils.Sequence) -===//
#ifndef KILN_SEQUENCE_H
#define KILN_SEQUENCE_H

#include "kiln/Array.h"

#include <cstdint>
#include <functional>
#include <random>
#include <utility>
#include <vector>

namespace kiln::utils {

/// A source of (x, y) batches, read one at a time (Keras' keras.utils.Sequence / PyDataset):
/// size() batches per epoch, batch i from get(i), on_epoch_end() between epochs.
class Sequence {
public:
  virtual ~Sequence() = default;
  /// Batches per epoch (Keras' __len__).
  virtual int64_t size() const = 0;
  /// Batch `index` in [0, size()) (Keras' __getitem__).
  virtual std::pair<Array, Array> get(int64_t index) = 0;
  virtual void on_epoch_end() {}
};

/// Batches of `batch_size` rows over samples that `read` fetches by index, so the data need not
/// be held in memory, or may stay in one copy: the order is a permutation of indices, redrawn
/// from `seed` after each epoch when shuffle is set. The last batch may be short.
class IndexedSequence : public Sequence {
public:
  /// Writes sample `i`'s features and target into the given rows.
  using Reader = std::function<void(int64_t i, float *x, float *y)>;
  IndexedSequence(int64_t samples, std::vector<int64_t> sampleShapeX,
                  std::vector<int64_t> sampleShapeY, Reader read, int64_t batch_size = 32,
                  bool shuffle = true, uint64_t seed = 0);
  int64_t size() const override;
  std::pair<Array, Array> get(int64_t index) override;
  void on_epoch_end() override;
  /// The sample order of the current epoch.
  const std::vector<int64_t> &order() const { return order_; }

private:
  int64_t samples_, batch_;
  std::vector<int64_t> shapeX_, shapeY_;
  Reader read_;
  bool shuffle_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
};

/// An IndexedSequence over two arrays (batch first) that it references, not copies: they must
/// outlive it.
class ArraySequence : public IndexedSequence {
public:
  ArraySequence(const Array &x, const Array &y, int64_t batch_size = 32, bool shuffle = true,
                uint64_t seed = 0);
};

} // namespace kiln::utils

#endif // KILN_SEQUENCE_H
