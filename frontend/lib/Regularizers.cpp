//===- Regularizers.cpp - Keras' regularizer and constraint factories ------===//
#include "kiln/Regularizers.h"

namespace kiln {
namespace regularizers {
Regularizer L1(double l1) { return {"L1", l1, 0.0}; }
Regularizer L2(double l2) { return {"L2", 0.0, l2}; }
Regularizer L1L2(double l1, double l2) { return {"L1L2", l1, l2}; }
Regularizer l1_l2(double l1, double l2) { return {"L1L2", l1, l2}; }
} // namespace regularizers

namespace constraints {
Constraint MaxNorm(double max_value, std::vector<int64_t> axis) {
  return {"max_norm", max_value, 0.0, 1.0, std::move(axis)};
}
Constraint NonNeg() { return {"non_neg", 0.0, 0.0, 1.0, {}}; }
Constraint UnitNorm(std::vector<int64_t> axis) {
  return {"unit_norm", 0.0, 0.0, 1.0, std::move(axis)};
}
Constraint MinMaxNorm(double min_value, double max_value, double rate, std::vector<int64_t> axis) {
  return {"min_max_norm", max_value, min_value, rate, std::move(axis)};
}
} // namespace constraints
} // namespace kiln
