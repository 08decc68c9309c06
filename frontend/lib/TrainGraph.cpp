//===- TrainGraph.cpp - @train_step and @eval_step: loss, gradients, updates -===//
//
// The frontend writes the training entry points as kiln IR: the model's forward pass, the loss
// (Keras' formulas, reduced with sum_over_batch_size), a kiln.grad that kiln-autodiff expands,
// gradient clipping and the optimizer's update of every weight and slot. Everything that changes
// is an argument and a result; the step's learning-rate factors come in as scalars, so schedules
// and Adam's bias correction stay on the host.
//
//===----------------------------------------------------------------------===//
#include "Train.h"

#include "ir/KilnOps.h"
#include "ir/ShapeFunctions.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace kiln::detail {

using namespace mlir::kiln;
using mlir::Value;

namespace {

/// Builds kiln ops with their result types worked out from the operands.
struct E {
  mlir::OpBuilder &b;
  mlir::Location loc;

  mlir::RankedTensorType type(Value v) { return llvm::cast<mlir::RankedTensorType>(v.getType()); }
  mlir::RankedTensorType shaped(llvm::ArrayRef<int64_t> s) {
    return mlir::RankedTensorType::get(s, b.getF32Type());
  }
  mlir::RankedTensorType bcast(Value x, Value y) {
    std::string err;
    auto s = inferBroadcastShape(type(x).getShape(), type(y).getShape(), err);
    if (mlir::failed(s))
      throw Error("", "internal: " + err);
    return shaped(*s);
  }
  Value scalar(double v) {
    auto t = shaped({});
    return ConstantOp::create(b, loc, t,
                              mlir::DenseElementsAttr::get(t, static_cast<float>(v)));
  }
  Value add(Value x, Value y) { return AddOp::create(b, loc, bcast(x, y), x, y); }
  Value sub(Value x, Value y) { return SubOp::create(b, loc, bcast(x, y), x, y); }
  Value mul(Value x, Value y) { return MulOp::create(b, loc, bcast(x, y), x, y); }
  Value div(Value x, Value y) { return DivOp::create(b, loc, bcast(x, y), x, y); }
  Value max(Value x, Value y) { return MaximumOp::create(b, loc, bcast(x, y), x, y); }
  Value min(Value x, Value y) { return MinimumOp::create(b, loc, bcast(x, y), x, y); }
  Value add(Value x, double c) { return add(x, scalar(c)); }
  Value mul(Value x, double c) { return mul(x, scalar(c)); }
  Value log(Value x) { return LogOp::create(b, loc, x.getType(), x); }
  Value exp(Value x) { return ExpOp::create(b, loc, x.getType(), x); }
  Value neg(Value x) { return NegOp::create(b, loc, x.getType(), x); }
  Value abs(Value x) { return AbsOp::create(b, loc, x.getType(), x); }
  Value square(Value x) { return SquareOp::create(b, loc, x.getType(), x); }
  Value sqrt(Value x) { return SqrtOp::create(b, loc, x.getType(), x); }
  Value relu(Value x) { return ReluOp::create(b, loc, x.getType(), x); }
  Value softplus(Value x) { return SoftplusOp::create(b, loc, x.getType(), x); }
  Value clip(Value x, double lo, double hi) { return max(min(x, scalar(hi)), scalar(lo)); }
  Value reduce(Value x, llvm::ArrayRef<int64_t> axes, bool keep, int kind) {
    auto t = type(x);
    llvm::SmallVector<int64_t> norm;
    for (int64_t a : axes)
      norm.push_back(a < 0 ? a + t.getRank() : a);
    llvm::SmallVector<int64_t> s;
    for (int64_t i = 0; i < t.getRank(); ++i) {
      bool r = llvm::is_contained(norm, i);
      if (!r)
        s.push_back(t.getDimSize(i));
      else if (keep)
        s.push_back(1);
    }
    auto axesAttr = b.getDenseI64ArrayAttr(norm);
    auto keepAttr = b.getBoolAttr(keep);
    if (kind == 0)
      return ReduceSumOp::create(b, loc, shaped(s), x, axesAttr, keepAttr);
    if (kind == 1)
      return ReduceMeanOp::create(b, loc, shaped(s), x, axesAttr, keepAttr);
    return ReduceMaxOp::create(b, loc, shaped(s), x, axesAttr, keepAttr);
  }
  Value sum(Value x, int64_t axis, bool keep = false) { return reduce(x, {axis}, keep, 0); }
  Value mean(Value x, int64_t axis, bool keep = false) { return reduce(x, {axis}, keep, 1); }
  Value all(Value x, int kind) {
    llvm::SmallVector<int64_t> axes;
    for (int64_t i = 0; i < type(x).getRank(); ++i)
      axes.push_back(i);
    return reduce(x, axes, false, kind);
  }
  Value compare(Value x, Value y, llvm::StringRef pred) {
    return CompareOp::create(b, loc, bcast(x, y), x, y, b.getStringAttr(pred));
  }
  /// log(softmax(z)) over the last axis, by log-sum-exp.
  Value logSoftmax(Value z) {
    Value m = reduce(z, {-1}, true, 2);
    Value shifted = sub(z, m);
    return sub(shifted, log(sum(exp(shifted), -1, true)));
  }
  /// x / ||x|| over the last axis (Keras' l2_normalize with epsilon 1e-12).
  Value l2normalize(Value x) {
    return div(x, sqrt(max(sum(square(x), -1, true), scalar(1e-12))));
  }
};

constexpr double kEpsilon = 1e-7; // keras.backend.epsilon()

/// The value that produced `v`'s softmax or sigmoid, when `v` is one.
Value logitsOf(Value v, bool softmax) {
  mlir::Operation *def = v.getDefiningOp();
  if (softmax) {
    if (auto s = llvm::dyn_cast_or_null<SoftmaxOp>(def)) {
      int64_t axis = static_cast<int64_t>(s.getAxis());
      int64_t rank = llvm::cast<mlir::RankedTensorType>(v.getType()).getRank();
      if (axis == -1 || axis == rank - 1)
        return s.getInput();
    }
    return {};
  }
  if (auto s = llvm::dyn_cast_or_null<SigmoidOp>(def))
    return s.getInput();
  return {};
}

/// Keras' per-sample loss `name` of prediction `p` against target `y` (reduced over the last
/// axis, as Keras' loss functions are).
Value perSampleLoss(E &e, const LossSpec &loss, Value p, Value y) {
  const std::string &n = loss.name;
  if (n == "sparse_categorical_crossentropy" || n == "categorical_crossentropy") {
    if (n == "sparse_categorical_crossentropy") {
      int64_t depth = e.type(p).getShape().back();
      int64_t batch = e.type(y).getDimSize(0);
      y = OneHotOp::create(e.b, e.loc, e.shaped({batch, depth}), y,
                           e.b.getI64IntegerAttr(depth));
    }
    // Keras (TensorFlow backend) uses the logits of a softmax output; otherwise it normalizes
    // and clips the probabilities.
    Value z = loss.fromLogits ? p : logitsOf(p, true);
    if (z)
      return e.neg(e.sum(e.mul(y, e.logSoftmax(z)), -1));
    Value q = e.div(p, e.sum(p, -1, true));
    q = e.clip(q, kEpsilon, 1 - kEpsilon);
    return e.neg(e.sum(e.mul(y, e.log(q)), -1));
  }
  if (n == "binary_crossentropy") {
    Value z = loss.fromLogits ? p : logitsOf(p, false);
    Value el;
    if (z) {
      // max(z, 0) - z * y + log(1 + exp(-|z|))
      el = e.add(e.sub(e.relu(z), e.mul(z, y)), e.softplus(e.neg(e.abs(z))));
    } else {
      Value q = e.clip(p, kEpsilon, 1 - kEpsilon);
      Value one = e.scalar(1.0);
      el = e.neg(e.add(e.mul(y, e.log(q)), e.mul(e.sub(one, y), e.log(e.sub(one, q)))));
    }
    return e.mean(el, -1);
  }
  if (n == "mean_squared_error")
    return e.mean(e.square(e.sub(p, y)), -1);
  if (n == "mean_absolute_error")
    return e.mean(e.abs(e.sub(p, y)), -1);
  if (n == "mean_absolute_percentage_error") {
    Value d = e.abs(e.div(e.sub(y, p), e.max(e.abs(y), e.scalar(kEpsilon))));
    return e.mul(e.mean(d, -1), 100.0);
  }
  if (n == "mean_squared_logarithmic_error") {
    Value a = e.log(e.add(e.max(p, e.scalar(kEpsilon)), 1.0));
    Value c = e.log(e.add(e.max(y, e.scalar(kEpsilon)), 1.0));
    return e.mean(e.square(e.sub(a, c)), -1);
  }
  if (n == "huber") {
    Value err = e.abs(e.sub(p, y));
    Value q = e.min(err, e.scalar(loss.delta));
    Value lin = e.sub(err, q);
    return e.mean(e.add(e.mul(e.square(q), 0.5), e.mul(lin, loss.delta)), -1);
  }
  if (n == "log_cosh") {
    Value x = e.sub(p, y);
    Value lc = e.add(e.add(x, e.softplus(e.mul(x, -2.0))), -std::log(2.0));
    return e.mean(lc, -1);
  }
  if (n == "poisson")
    return e.mean(e.sub(p, e.mul(y, e.log(e.add(p, kEpsilon)))), -1);
  if (n == "kl_divergence") {
    Value yc = e.clip(y, kEpsilon, 1.0), pc = e.clip(p, kEpsilon, 1.0);
    return e.sum(e.mul(yc, e.log(e.div(yc, pc))), -1);
  }
  if (n == "hinge" || n == "squared_hinge") {
    // Keras converts 0/1 labels to -1/1 when every label is 0 or 1.
    Value isBin = e.add(e.compare(y, e.scalar(0.0), "eq"), e.compare(y, e.scalar(1.0), "eq"));
    Value allBin = e.neg(e.all(e.neg(isBin), 2)); // min over all
    Value yy = e.add(y, e.mul(allBin, e.add(y, -1.0)));
    Value h = e.relu(e.sub(e.scalar(1.0), e.mul(yy, p)));
    return e.mean(n == "hinge" ? h : e.square(h), -1);
  }
  if (n == "categorical_hinge") {
    Value pos = e.sum(e.mul(y, p), -1);
    Value negv = e.reduce(e.mul(e.sub(e.scalar(1.0), y), p), {-1}, false, 2);
    return e.relu(e.add(e.sub(negv, pos), 1.0));
  }
  if (n == "cosine_similarity")
    return e.neg(e.sum(e.mul(e.l2normalize(y), e.l2normalize(p)), -1));
  throw Error("", "internal: no formula for loss '" + n + "'");
}

/// The weighted batch loss: sum(per_sample * sample_weight) / per_sample's element count.
Value batchLoss(E &e, const LossSpec &loss, Value p, Value y, Value sw) {
  Value l = perSampleLoss(e, loss, p, y);
  auto lt = e.type(l);
  if (lt.getRank() > 1) {
    llvm::SmallVector<int64_t> ones(lt.getRank() - 1, 1);
    llvm::SmallVector<int64_t> full = {lt.getDimSize(0)};
    full.append(ones.begin(), ones.end());
    sw = ReshapeOp::create(e.b, e.loc, e.shaped(full), sw, e.b.getDenseI64ArrayAttr(ones));
  }
  return e.all(e.mul(l, sw), 1);
}

/// Clipping and the optimizer's update of one weight; appends new weight and slots.
void update(E &e, const optimizers::Optimizer &o, Value w, Value g, mlir::ValueRange slots,
            mlir::ValueRange hyper, llvm::SmallVectorImpl<Value> &newW,
            llvm::SmallVectorImpl<Value> &newSlots) {
  const std::string &n = o.name;
  Value lr = hyper[0], alpha = hyper[1];
  if (n == "sgd") {
    if (o.momentum != 0.0) {
      Value m = e.sub(e.mul(slots[0], o.momentum), e.mul(g, lr));
      newSlots.push_back(m);
      Value step = o.nesterov ? e.sub(e.mul(m, o.momentum), e.mul(g, lr)) : m;
      newW.push_back(e.add(w, step));
    } else {
      newW.push_back(e.sub(w, e.mul(g, lr)));
    }
    return;
  }
  if (n == "adam" || n == "adamw") {
    if (n == "adamw")
      w = e.sub(w, e.mul(e.mul(w, o.weight_decay), lr));
    Value m = e.add(slots[0], e.mul(e.sub(g, slots[0]), 1.0 - o.beta_1));
    Value v = e.add(slots[1], e.mul(e.sub(e.square(g), slots[1]), 1.0 - o.beta_2));
    newSlots.push_back(m);
    newSlots.push_back(v);
    if (o.amsgrad) {
      v = e.max(slots[2], v);
      newSlots.push_back(v);
    }
    newW.push_back(e.sub(w, e.div(e.mul(m, alpha), e.add(e.sqrt(v), o.epsilon))));
    return;
  }
  if (n == "rmsprop") {
    size_t k = 0;
    Value v = e.add(e.mul(slots[k++], o.rho), e.mul(e.square(g), 1.0 - o.rho));
    newSlots.push_back(v);
    Value den = v;
    if (o.centered) {
      Value a = e.add(e.mul(slots[k++], o.rho), e.mul(g, 1.0 - o.rho));
      newSlots.push_back(a);
      den = e.sub(v, e.square(a));
    }
    Value inc = e.div(e.mul(g, lr), e.sqrt(e.add(den, o.epsilon)));
    if (o.momentum > 0.0) {
      Value mv = e.add(e.mul(slots[k++], o.momentum), inc);
      newSlots.push_back(mv);
      inc = mv;
    }
    newW.push_back(e.sub(w, inc));
    return;
  }
  if (n == "adagrad") {
    Value acc = e.add(slots[0], e.square(g));
    newSlots.push_back(acc);
    newW.push_back(e.sub(w, e.div(e.mul(g, lr), e.sqrt(e.add(acc, o.epsilon)))));
    return;
  }
  if (n == "adadelta") {
    Value accG = e.add(e.mul(slots[0], o.rho), e.mul(e.square(g), 1.0 - o.rho));
    Value delta = e.neg(e.div(e.mul(e.sqrt(e.add(slots[1], o.epsilon)), g),
                              e.sqrt(e.add(accG, o.epsilon))));
    Value accD = e.add(e.mul(slots[1], o.rho), e.mul(e.square(delta), 1.0 - o.rho));
    newSlots.push_back(accG);
    newSlots.push_back(accD);
    newW.push_back(e.add(w, e.mul(delta, lr)));
    return;
  }
  if (n == "adamax") {
    // hyper[1] = lr / (1 - beta_1^t)
    Value m = e.add(slots[0], e.mul(e.sub(g, slots[0]), 1.0 - o.beta_1));
    Value u = e.max(e.mul(slots[1], o.beta_2), e.abs(g));
    newSlots.push_back(m);
    newSlots.push_back(u);
    newW.push_back(e.sub(w, e.div(e.mul(m, alpha), e.add(u, o.epsilon))));
    return;
  }
  if (n == "nadam") {
    // hyper[1] = u_{t+1} / (1 - prod u up to t+1), hyper[2] = (1 - u_t) / (1 - prod u up to
    // t), hyper[3] = 1 / (1 - beta_2^t)
    Value m = e.add(slots[0], e.mul(e.sub(g, slots[0]), 1.0 - o.beta_1));
    Value v = e.add(slots[1], e.mul(e.sub(e.square(g), slots[1]), 1.0 - o.beta_2));
    newSlots.push_back(m);
    newSlots.push_back(v);
    Value mHat = e.add(e.mul(m, hyper[1]), e.mul(g, hyper[2]));
    Value vHat = e.mul(v, hyper[3]);
    newW.push_back(e.sub(w, e.div(e.mul(mHat, lr), e.add(e.sqrt(vHat), o.epsilon))));
    return;
  }
  if (n == "ftrl") {
    // hyper[1] = l2 + beta / (2 lr)
    auto power = [&](Value x) { // x^(-learning_rate_power)
      if (o.learning_rate_power == -0.5)
        return e.sqrt(x);
      return e.exp(e.mul(e.log(x), -o.learning_rate_power));
    };
    Value gUse = e.add(g, e.mul(w, 2.0 * o.l2_shrinkage_regularization_strength));
    Value accum = slots[0];
    Value newAccum = e.add(accum, e.square(g));
    Value linear = e.add(slots[1], e.sub(gUse, e.mul(e.div(e.sub(power(newAccum), power(accum)),
                                                          lr),
                                                    w)));
    Value quadratic = e.add(e.div(power(newAccum), lr), e.mul(hyper[1], 2.0));
    double l1 = o.l1_regularization_strength;
    Value clipped = e.clip(linear, -l1, l1);
    newSlots.push_back(newAccum);
    newSlots.push_back(linear);
    newW.push_back(e.div(e.sub(clipped, linear), quadratic));
    return;
  }
  throw Error("", "internal: no update rule for optimizer '" + n + "'");
}

/// Keras' regularizer penalty of `x`: l1 * sum(|x|) + l2 * sum(x^2).
Value penalty(E &e, const Regularizer &r, Value x) {
  Value p;
  if (r.l1 != 0.0)
    p = e.mul(e.all(e.abs(x), 0), r.l1);
  if (r.l2 != 0.0) {
    Value q = e.mul(e.all(e.square(x), 0), r.l2);
    p = p ? e.add(p, q) : q;
  }
  return p ? p : e.scalar(0.0);
}

/// Keras' constraint `c` applied to the updated weight `w` (named `name` in errors).
Value constrain(E &e, const Constraint &c, Value w, const std::string &name) {
  if (c.name == "non_neg")
    return e.mul(w, e.compare(w, e.scalar(0.0), "ge"));
  int64_t rank = e.type(w).getRank();
  llvm::SmallVector<int64_t> axes;
  for (int64_t a : c.axis) {
    int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank || llvm::is_contained(axes, n))
      throw Error("", "constraint '" + c.name + "' of weight '" + name + "': axis " +
                          std::to_string(a) + " is out of range (or repeated) for a weight of "
                          "rank " + std::to_string(rank));
    axes.push_back(n);
  }
  Value norms = e.sqrt(e.reduce(e.square(w), axes, true, 0));
  Value den = e.add(norms, kEpsilon);
  if (c.name == "unit_norm")
    return e.div(w, den);
  Value desired;
  if (c.name == "max_norm")
    desired = e.clip(norms, 0.0, c.max_value);
  else // min_max_norm
    desired = e.add(e.mul(e.clip(norms, c.min_value, c.max_value), c.rate),
                    e.mul(norms, 1.0 - c.rate));
  return e.mul(w, e.div(desired, den));
}

mlir::RankedTensorType typeOf(mlir::OpBuilder &b, const Shape &s) {
  llvm::SmallVector<int64_t> dims;
  for (int64_t d : s)
    dims.push_back(d < 0 ? mlir::ShapedType::kDynamic : d);
  return mlir::RankedTensorType::get(dims, b.getF32Type());
}

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> emitTraining(const ModelImpl &m, const Training &t,
                                               mlir::MLIRContext &ctx) {
  ctx.loadDialect<KilnDialect, mlir::func::FuncDialect,
                  mlir::bufferization::BufferizationDialect>();
  mlir::OpBuilder b(&ctx);
  auto loc = mlir::NameLoc::get(b.getStringAttr(m.name));
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  std::vector<Weight *> weights = m.allWeights();
  size_t nIn = m.inputs.size(), nOut = m.outputs.size(), nW = weights.size();
  int slots = slotCount(t.optimizer);
  // The optimizer updates the trainable weights; layers update their own state (moving
  // statistics) in the forward pass.
  std::vector<size_t> trainable, frozen;
  for (size_t i = 0; i < nW; ++i)
    (weights[i]->trainable ? trainable : frozen).push_back(i);

  auto function = [&](llvm::StringRef name, llvm::ArrayRef<mlir::Type> args,
                      llvm::ArrayRef<mlir::Type> results) {
    b.setInsertionPointToEnd(module->getBody());
    auto func = mlir::func::FuncOp::create(b, loc, name, b.getFunctionType(args, results));
    // Everything passed in belongs to the caller: bufferization must not write into it.
    for (unsigned i = 0; i < args.size(); ++i)
      func.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
    mlir::Block *entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
    return entry->getArguments();
  };
  llvm::SmallVector<mlir::Type> weightTypes, trainTypes, frozenTypes;
  for (Weight *w : weights)
    weightTypes.push_back(typeOf(b, w->value.shape));
  for (size_t i : trainable)
    trainTypes.push_back(weightTypes[i]);
  for (size_t i : frozen)
    frozenTypes.push_back(weightTypes[i]);

  // @grad_step and @eval_step: (inputs, targets, sample weights, weights[, step]) ->
  // (mean loss, predictions[, gradients]).
  for (bool train : {true, false}) {
    llvm::SmallVector<mlir::Type> args, results;
    for (const auto &in : m.inputs)
      args.push_back(typeOf(b, in->shape));
    for (const Shape &s : t.targetShapes)
      args.push_back(typeOf(b, s));
    args.push_back(typeOf(b, {-1})); // sample weights
    args.append(weightTypes.begin(), weightTypes.end());
    if (train)
      args.push_back(mlir::RankedTensorType::get({}, b.getI64Type())); // the iteration
    results.push_back(typeOf(b, {}));
    for (const auto &out : m.outputs)
      results.push_back(typeOf(b, out->shape));
    if (train) {
      results.append(trainTypes.begin(), trainTypes.end());
      results.append(frozenTypes.begin(), frozenTypes.end());
    }
    auto a = function(train ? "grad_step" : "eval_step", args, results);
    mlir::ValueRange xs = a.take_front(nIn), ys = a.slice(nIn, nOut);
    Value sw = a[nIn + nOut];
    mlir::ValueRange ws = a.slice(nIn + nOut + 1, nW);
    Value step = train ? a.back() : Value();
    std::vector<Value> newState;
    std::vector<LayerOutput> outputs;
    std::vector<std::string> outputMasks;
    llvm::SmallVector<Value> preds =
        emitForward(m, b, xs, ws, step, &newState, &outputs, &outputMasks);
    for (size_t o = 0; o < nOut; ++o)
      if (!outputMasks[o].empty())
        throw m.outputs[o]->layer->error(
            "its output (a model output) carries the Keras mask made by '" + outputMasks[o] +
            "'; Keras would mask the loss with it, kiln's losses take no mask: end the masked "
            "part with a layer that consumes the mask (an RNN without return_sequences, "
            "GlobalAveragePooling1D) or one that drops it (Flatten)");
    E e{b, mlir::NameLoc::get(b.getStringAttr("loss"))};
    Value loss;
    for (size_t o = 0; o < nOut; ++o) {
      Value l = batchLoss(e, t.losses[o], preds[o], ys[o], sw);
      loss = loss ? e.add(loss, l) : l;
    }
    // Keras 3 adds the layers' losses to the loss it minimizes and reports: the penalties of
    // the trainable weights' regularizers and of the activity regularizers on every output.
    E r{b, mlir::NameLoc::get(b.getStringAttr("regularization"))};
    for (size_t i : trainable)
      if (weights[i]->regularizer)
        loss = r.add(loss, penalty(r, *weights[i]->regularizer, ws[i]));
    for (const LayerOutput &out : outputs)
      if (out.layer->activityRegularizer)
        loss = r.add(loss, penalty(r, *out.layer->activityRegularizer, out.value));
    llvm::SmallVector<Value> rets = {loss};
    rets.append(preds.begin(), preds.end());
    if (train) {
      llvm::SmallVector<Value> wrt;
      for (size_t i : trainable)
        wrt.push_back(ws[i]);
      auto grad = GradOp::create(b, loc, trainTypes, loss, wrt);
      rets.append(grad.getResults().begin(), grad.getResults().end());
      for (size_t i : frozen) // the next value of each non-trainable weight
        rets.push_back(newState[i] ? newState[i] : Value(ws[i]));
    }
    mlir::func::ReturnOp::create(b, loc, rets);
  }

  // @apply_step: (weights, gradients, slots, scalars) -> (new weights, new slots): clipping
  // and the optimizer's update, once the gradients of all batch slices are summed.
  {
    llvm::SmallVector<mlir::Type> args, results;
    size_t nT = trainable.size();
    args.append(trainTypes.begin(), trainTypes.end());
    args.append(trainTypes.begin(), trainTypes.end());
    for (mlir::Type ty : trainTypes)
      for (int k = 0; k < slots; ++k)
        args.push_back(ty);
    for (int k = 0; k < kHyperScalars; ++k) // learning rate, then per-optimizer factors
      args.push_back(typeOf(b, {}));
    results.append(trainTypes.begin(), trainTypes.end());
    for (mlir::Type ty : trainTypes)
      for (int k = 0; k < slots; ++k)
        results.push_back(ty);
    auto a = function("apply_step", args, results);
    mlir::ValueRange ws = a.take_front(nT), gs = a.slice(nT, nT);
    mlir::ValueRange slotArgs = a.slice(2 * nT, nT * slots);
    mlir::ValueRange hyper = a.take_back(kHyperScalars);
    E u{b, mlir::NameLoc::get(b.getStringAttr("optimizer"))};
    llvm::SmallVector<Value> grads(gs.begin(), gs.end());
    const auto &o = t.optimizer;
    if (o.global_clipnorm) {
      Value total;
      for (Value g : grads) {
        Value sq = u.all(u.square(g), 0);
        total = total ? u.add(total, sq) : sq;
      }
      Value c = u.scalar(*o.global_clipnorm);
      Value scale = u.div(c, u.max(u.sqrt(total), c));
      for (Value &g : grads)
        g = u.mul(g, scale);
    }
    for (Value &g : grads) {
      if (o.clipnorm) {
        Value c = u.scalar(*o.clipnorm);
        g = u.div(u.mul(g, c), u.max(u.sqrt(u.all(u.square(g), 0)), c));
      }
      if (o.clipvalue)
        g = u.clip(g, -*o.clipvalue, *o.clipvalue);
    }
    llvm::SmallVector<Value> newW, newSlots;
    for (size_t i = 0; i < nT; ++i) {
      update(u, o, ws[i], grads[i], slotArgs.slice(i * slots, slots), hyper, newW, newSlots);
      if (const auto &c = weights[trainable[i]]->constraint) // Keras: after the update
        newW.back() = constrain(u, *c, newW.back(), weights[trainable[i]]->name);
    }
    llvm::SmallVector<Value> rets(newW.begin(), newW.end());
    rets.append(newSlots.begin(), newSlots.end());
    mlir::func::ReturnOp::create(b, loc, rets);
  }
  return module;
}

} // namespace kiln::detail
