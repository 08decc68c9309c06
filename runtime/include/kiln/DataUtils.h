//===- DataUtils.h - Keras' array utilities: to_categorical, normalize -----===//
#ifndef KILN_DATAUTILS_H
#define KILN_DATAUTILS_H

#include "kiln/Array.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace kiln::utils {

/// Class indices (any shape; a trailing dimension of 1 is dropped, as Keras does) to one-hot
/// rows of `num_classes` columns (-1: the largest label + 1).
inline Array to_categorical(const Array &labels, int64_t num_classes = -1) {
  std::vector<int64_t> shape = labels.shape;
  if (!shape.empty() && shape.back() == 1 && shape.size() > 1)
    shape.pop_back();
  int64_t maxLabel = -1;
  for (float v : labels.data) {
    if (!(v >= 0) || v != std::floor(v))
      throw std::invalid_argument("kiln::utils::to_categorical: label " + std::to_string(v) +
                                  " is not a non-negative integer");
    maxLabel = std::max<int64_t>(maxLabel, static_cast<int64_t>(v));
  }
  if (num_classes < 0)
    num_classes = maxLabel + 1;
  if (maxLabel >= num_classes)
    throw std::invalid_argument("kiln::utils::to_categorical: label " +
                                std::to_string(maxLabel) + " is not below num_classes " +
                                std::to_string(num_classes));
  shape.push_back(num_classes);
  Array out(shape);
  for (size_t i = 0; i < labels.data.size(); ++i)
    out.data[i * num_classes + static_cast<int64_t>(labels.data[i])] = 1.0f;
  return out;
}

/// Each vector along the last axis divided by its L-`order` norm (Keras' normalize; zero
/// vectors stay zero).
inline Array normalize(const Array &x, int order = 2) {
  if (x.shape.empty())
    throw std::invalid_argument("kiln::utils::normalize: needs an array of rank 1 or more");
  Array out = x;
  int64_t n = x.shape.back(), rows = n ? x.size() / n : 0;
  for (int64_t r = 0; r < rows; ++r) {
    double norm = 0;
    for (int64_t j = 0; j < n; ++j)
      norm += std::pow(std::fabs(double(x.data[r * n + j])), order);
    norm = std::pow(norm, 1.0 / order);
    if (norm > 0)
      for (int64_t j = 0; j < n; ++j)
        out.data[r * n + j] = float(x.data[r * n + j] / norm);
  }
  return out;
}

} // namespace kiln::utils

#endif // KILN_DATAUTILS_H
