//===- Sequence.cpp - batched data sources with per-epoch shuffling --------===//
#include "kiln/Sequence.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace kiln::utils {

IndexedSequence::IndexedSequence(int64_t samples, std::vector<int64_t> sx,
                                 std::vector<int64_t> sy, Reader read, int64_t batch_size,
                                 bool shuffle, uint64_t seed)
    : samples_(samples), batch_(batch_size), shapeX_(std::move(sx)), shapeY_(std::move(sy)),
      read_(std::move(read)), shuffle_(shuffle), rng_(seed), order_(samples) {
  if (batch_size <= 0)
    throw std::invalid_argument("Sequence: batch_size must be positive, got " +
                                std::to_string(batch_size));
  if (samples < 0 || !read_)
    throw std::invalid_argument("Sequence: needs a sample count >= 0 and a reader");
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_)
    std::shuffle(order_.begin(), order_.end(), rng_);
}

int64_t IndexedSequence::size() const { return (samples_ + batch_ - 1) / batch_; }

std::pair<Array, Array> IndexedSequence::get(int64_t index) {
  if (index < 0 || index >= size())
    throw std::out_of_range("Sequence: batch " + std::to_string(index) + " of " +
                            std::to_string(size()));
  int64_t b = index * batch_, e = std::min(samples_, b + batch_);
  std::vector<int64_t> sx = shapeX_, sy = shapeY_;
  sx.insert(sx.begin(), e - b);
  sy.insert(sy.begin(), e - b);
  Array x(sx), y(sy);
  int64_t nx = Array::numElements(shapeX_), ny = Array::numElements(shapeY_);
  for (int64_t i = b; i < e; ++i)
    read_(order_[i], x.ptr() + (i - b) * nx, y.ptr() + (i - b) * ny);
  return {std::move(x), std::move(y)};
}

void IndexedSequence::on_epoch_end() {
  if (shuffle_)
    std::shuffle(order_.begin(), order_.end(), rng_);
}

static std::vector<int64_t> sampleShape(const Array &a) {
  if (a.shape.empty())
    throw std::invalid_argument("ArraySequence: arrays need a batch dimension");
  return {a.shape.begin() + 1, a.shape.end()};
}

ArraySequence::ArraySequence(const Array &x, const Array &y, int64_t batch_size, bool shuffle,
                             uint64_t seed)
    : IndexedSequence(
          x.shape.empty() ? 0 : x.shape[0], sampleShape(x), sampleShape(y),
          [&x, &y](int64_t i, float *ox, float *oy) {
            int64_t nx = x.size() / x.shape[0], ny = y.size() / y.shape[0];
            std::copy_n(x.ptr() + i * nx, nx, ox);
            std::copy_n(y.ptr() + i * ny, ny, oy);
          },
          batch_size, shuffle, seed) {
  if (y.shape.empty() || y.shape[0] != x.shape[0])
    throw std::invalid_argument("ArraySequence: x has " + std::to_string(x.shape[0]) +
                                " samples, y " +
                                (y.shape.empty() ? std::string("none") : std::to_string(y.shape[0])));
}

} // namespace kiln::utils
