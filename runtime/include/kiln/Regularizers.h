//===- Regularizers.h - Keras' weight regularizers and constraints ---------===//
#ifndef KILN_REGULARIZERS_H
#define KILN_REGULARIZERS_H

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// A Keras regularizer: adds `l1 * sum(|x|) + l2 * sum(x^2)` to the training loss (and to the
/// loss fit and evaluate report), as Keras 3 does. On a weight, x is the weight; as an
/// activity regularizer, x is the layer's output over the whole batch (Keras 3 does not divide
/// by the batch size; tf.keras 2 did). `kind` is Keras' class: "L1", "L2" or "L1L2".
struct Regularizer {
  std::string kind = "L1L2";
  double l1 = 0.0, l2 = 0.0;
};

/// A Keras weight constraint, applied to the weight after each optimizer update:
/// - "max_norm": w * clip(n, 0, max_value) / (1e-7 + n)
/// - "non_neg": w * (w >= 0)
/// - "unit_norm": w / (1e-7 + n)
/// - "min_max_norm": w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) / (1e-7 + n)
/// where n = sqrt(sum(w^2)) over `axis` (Keras' default 0: the input axis of a Dense kernel;
/// for a Conv2D kernel (kh, kw, in, out) Keras users pass axis [0, 1, 2]).
struct Constraint {
  std::string name = "max_norm";
  double max_value = 2.0, min_value = 0.0, rate = 1.0;
  std::vector<int64_t> axis = {0};
};

namespace regularizers {
Regularizer L1(double l1 = 0.01);
Regularizer L2(double l2 = 0.01);
/// keras.regularizers.L1L2: both factors default to 0 (the function l1_l2 defaults to 0.01).
Regularizer L1L2(double l1 = 0.0, double l2 = 0.0);
/// keras.regularizers.l1_l2: both factors default to 0.01.
Regularizer l1_l2(double l1 = 0.01, double l2 = 0.01);
} // namespace regularizers

namespace constraints {
Constraint MaxNorm(double max_value = 2.0, std::vector<int64_t> axis = {0});
Constraint NonNeg();
Constraint UnitNorm(std::vector<int64_t> axis = {0});
Constraint MinMaxNorm(double min_value = 0.0, double max_value = 1.0, double rate = 1.0,
                      std::vector<int64_t> axis = {0});
} // namespace constraints

} // namespace kiln

#endif // KILN_REGULARIZERS_H
