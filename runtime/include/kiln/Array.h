//===- Array.h - a dense row-major float32 array, the data type of kiln's C++ API -===//
#ifndef KILN_ARRAY_H
#define KILN_ARRAY_H

#include <cstdint>
#include <functional>
#include <new>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln {

/// A dense float32 array in row-major (NumPy C) order. predict/fit take and return these; the
/// first dimension is the batch.
struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;

  Array() = default;
  /// An array of `shape` holding `values`, or zeros when `values` is empty.
  explicit Array(std::vector<int64_t> shape, std::vector<float> values = {})
      : shape(std::move(shape)), data(std::move(values)) {
    if (data.empty())
      data = zeros(this->shape);
    if (static_cast<int64_t>(data.size()) != numElements(this->shape))
      throw std::invalid_argument("kiln::Array: " + std::to_string(data.size()) +
                                  " values do not fill shape " + shapeString(this->shape));
  }

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  float *ptr() { return data.data(); }
  const float *ptr() const { return data.data(); }

  /// Rows [begin, end) of the first dimension, copied.
  Array rows(int64_t begin, int64_t end) const {
    if (shape.empty() || begin < 0 || end > shape[0] || begin > end)
      throw std::out_of_range("kiln::Array::rows: [" + std::to_string(begin) + ", " +
                              std::to_string(end) + ") out of range for shape " +
                              shapeString(shape));
    int64_t row = shape[0] == 0 ? 0 : size() / shape[0];
    std::vector<int64_t> s = shape;
    s[0] = end - begin;
    return Array(s, std::vector<float>(data.begin() + begin * row, data.begin() + end * row));
  }

  /// Zeros filling `shape`. Throws std::length_error for a negative dimension or an element
  /// count past int64, and std::runtime_error naming the bytes when the allocation fails (an
  /// out-of-memory condition is reported, not turned into std::bad_alloc far from its cause).
  static std::vector<float> zeros(const std::vector<int64_t> &shape) {
    int64_t n = 1, bytes = 0;
    for (int64_t d : shape)
      if (d < 0 || __builtin_mul_overflow(n, d, &n))
        throw std::length_error("kiln::Array: shape " + shapeString(shape) +
                                " has a negative dimension or too many elements");
    if (__builtin_mul_overflow(n, int64_t(sizeof(float)), &bytes))
      throw std::length_error("kiln::Array: shape " + shapeString(shape) + " is too large");
    try {
      return std::vector<float>(static_cast<size_t>(n), 0.0f);
    } catch (const std::bad_alloc &) {
      throw std::runtime_error("kiln::Array: out of memory allocating " + std::to_string(bytes) +
                               " bytes for shape " + shapeString(shape));
    }
  }
  static int64_t numElements(const std::vector<int64_t> &shape) {
    return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  }
  /// Keras' way of printing a shape: `(10, 28, 28, 1)`.
  static std::string shapeString(const std::vector<int64_t> &shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      s += (i ? ", " : "") + (shape[i] < 0 ? std::string("None") : std::to_string(shape[i]));
    return s + (shape.size() == 1 ? ",)" : ")");
  }
};

} // namespace kiln

#endif // KILN_ARRAY_H
