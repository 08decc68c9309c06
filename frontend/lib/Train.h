//===- Train.h - compile() state shared by the training sources -----------===//
#ifndef KILN_FRONTEND_TRAIN_H
#define KILN_FRONTEND_TRAIN_H

#include "Impl.h"

#include "mlir/IR/OwningOpRef.h"

namespace kiln::detail {

struct LossSpec {
  std::string name; // Keras' canonical function name
  bool fromLogits = false;
  double delta = 1.0;
};

struct MetricSpec {
  std::string name; // as the user wrote it: what History and the progress bar show
  std::string kind; // the resolved function: binary_accuracy, categorical_accuracy, ...
  /// AUC's and MeanIoU's options.
  std::optional<metrics::Metric> object;
};

/// Scalars @train_step takes after the slots: the learning rate, then factors the host
/// computes per step (Adam's bias correction, Nadam's momentum schedule...).
constexpr int kHyperScalars = 4;

struct Training {
  optimizers::Optimizer optimizer;
  std::vector<LossSpec> losses; // one per output
  std::vector<MetricSpec> metrics;
  std::vector<std::vector<Array>> slots; // per trainable weight, in get_weights() order
  /// Each weight's trainable flag at compile(), in get_weights() order (Keras reads
  /// layer.trainable at compile).
  std::vector<bool> trainableAtCompile;
  int64_t iterations = 0;
  double nadamProduct = 1.0; // Keras' Nadam _u_product
  // Buffers reused from step to step (gradients per thread slice, the next weights and slots),
  // so that a step allocates and page-faults nothing of the model's size.
  std::vector<std::vector<Array>> gradBuffers;
  std::vector<Array> nextWeights, nextSlots, nextState;
  // The compiled steps, for the target shapes they were compiled for.
  std::vector<Shape> targetShapes;
  std::shared_ptr<Compiled> steps;
};

/// Optimizer slots per weight (Adam: m and v).
int slotCount(const optimizers::Optimizer &o);

/// @train_step and @eval_step for `m` with `t`'s loss and optimizer.
mlir::OwningOpRef<mlir::ModuleOp> emitTraining(const ModelImpl &m, const Training &t,
                                               mlir::MLIRContext &ctx);

} // namespace kiln::detail

#endif // KILN_FRONTEND_TRAIN_H
