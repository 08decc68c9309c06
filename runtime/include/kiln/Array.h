//===- Array.h - a dense row-major float32 array, the data type of kiln's C++ API -===//
#ifndef KILN_ARRAY_H
#define KILN_ARRAY_H

#include <cstdint>
#include <functional>
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
      data.assign(static_cast<size_t>(numElements(this->shape)), 0.0f);
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
