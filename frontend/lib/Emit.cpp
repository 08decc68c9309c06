//===- Emit.cpp - a model's graph as kiln-dialect MLIR ---------------------===//
#include "Impl.h"
#include "kiln/Emit.h"

#include "codegen/Registration.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/DenseSet.h"

#include <map>

namespace kiln {
namespace detail {

namespace {
/// The Keras mask a tensor carries.
struct Mask {
  mlir::Value value;  // (batch, steps) of 1s and 0s; null: none
  std::string source; // the layer that made it
  /// Set where the mask met a layer kiln cannot carry it through (a merge): the layer's name.
  /// Harmless unless a layer that honours masks (or a loss) comes after it.
  std::string lostAt;
  bool any() const { return value || !lostAt.empty(); }
};
} // namespace

llvm::SmallVector<mlir::Value> emitForward(const ModelImpl &m, mlir::OpBuilder &b,
                                           mlir::ValueRange inputs, mlir::ValueRange weights,
                                           mlir::Value step, std::vector<mlir::Value> *newState,
                                           std::vector<LayerOutput> *layerOutputs,
                                           std::vector<std::string> *outputMasks) {
  if (newState)
    newState->assign(weights.size(), mlir::Value());
  std::map<const LayerImpl *, unsigned> firstWeight;
  unsigned k = 0;
  for (const auto &l : m.layers) {
    firstWeight[l.get()] = k;
    k += l->weights.size();
  }
  std::map<const TensorImpl *, mlir::Value> values;
  std::map<const TensorImpl *, Mask> masks; // keyed by a call's output 0
  for (size_t i = 0; i < m.inputs.size(); ++i)
    values[m.inputs[i].get()] = inputs[i];
  for (const Node &n : m.nodes) {
    if (values.count(n.output.get()))
      continue;
    llvm::SmallVector<mlir::Value> ins;
    for (const auto &in : n.inputs)
      ins.push_back(values.at(in.get()));
    mlir::ValueRange w = weights.slice(firstWeight.at(n.layer.get()), n.layer->weights.size());
    auto layerLoc = mlir::NameLoc::get(b.getStringAttr(n.layer->name));
    const TensorImpl *call = n.output->call();
    Mask in;
    if (n.layer->arity() == 1) {
      auto it = masks.find(n.inputs[0].get());
      if (it != masks.end())
        in = it->second;
    } else {
      // Merges: Keras 3 combines the masks of the inputs (and masks some of the merged
      // values); kiln does not, so a mask that a later layer would honour is refused there.
      for (const auto &t : n.inputs) {
        auto it = masks.find(t.get());
        if (it != masks.end() && it->second.any() && in.source.empty())
          in = {mlir::Value(), it->second.source, n.layer->name};
      }
      if (in.any())
        masks[call] = in;
      in = Mask();
    }
    if (!in.lostAt.empty() && n.layer->honoursMask())
      throw n.layer->error("honours the Keras mask made by '" + in.source +
                           "', which reaches it through '" + in.lostAt +
                           "': kiln does not carry masks through merge layers");
    if (in.value)
      n.layer->checkMasked(static_cast<bool>(step));
    if (in.value && n.layer->honoursMask()) {
      llvm::SmallVector<mlir::Value> all = n.layer->emitMasked(b, layerLoc, ins, w, step, in.value);
      if (call->outputs.empty())
        values[n.output.get()] = all[0];
      for (size_t i = 0; i < call->outputs.size(); ++i)
        if (auto t = call->outputs[i].lock())
          values[t.get()] = all[i];
    } else if (n.layer->numOutputs() > 1) {
      // One emission gives every output of the call (the recurrent layers keep no state).
      llvm::SmallVector<mlir::Value> all = n.layer->emitAll(b, layerLoc, ins, w, step);
      for (size_t i = 0; i < call->outputs.size(); ++i)
        if (auto t = call->outputs[i].lock())
          values[t.get()] = all[i];
    } else if (step) {
      std::vector<mlir::Value> state(n.layer->weights.size());
      values[n.output.get()] = n.layer->emitTraining(b, layerLoc, ins, w, step, state);
      unsigned first = firstWeight.at(n.layer.get());
      for (size_t i = 0; i < state.size(); ++i)
        if (state[i] && newState)
          (*newState)[first + i] = state[i];
    } else {
      values[n.output.get()] = n.layer->emit(b, layerLoc, ins, w);
    }
    if (n.layer->arity() == 1) {
      if (mlir::Value out = n.layer->computeMask(b, layerLoc, ins, in.value))
        masks[call] = {out, in.value ? in.source : n.layer->name, ""};
      else if (!in.lostAt.empty() && n.layer->supportsMasking())
        masks[call] = in;
    }
    if (layerOutputs)
      layerOutputs->push_back({n.layer.get(), values[n.output.get()]});
  }
  llvm::SmallVector<mlir::Value> results;
  for (const auto &out : m.outputs)
    results.push_back(values.at(out.get()));
  if (outputMasks) {
    outputMasks->clear();
    for (const auto &out : m.outputs) {
      auto it = masks.find(out.get());
      outputMasks->push_back(it != masks.end() && it->second.any() ? it->second.source : "");
    }
  }
  return results;
}

mlir::OwningOpRef<mlir::ModuleOp> emitPredict(const ModelImpl &m, mlir::MLIRContext &ctx) {
  ctx.loadDialect<mlir::kiln::KilnDialect, mlir::func::FuncDialect,
                  mlir::bufferization::BufferizationDialect>();
  mlir::OpBuilder b(&ctx);
  auto loc = mlir::NameLoc::get(b.getStringAttr(m.name));
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  auto typeOf = [&](const Shape &s) {
    llvm::SmallVector<int64_t> dims;
    for (int64_t d : s)
      dims.push_back(d < 0 ? mlir::ShapedType::kDynamic : d);
    return mlir::RankedTensorType::get(dims, b.getF32Type());
  };

  llvm::SmallVector<mlir::Type> argTypes, resultTypes;
  llvm::SmallVector<mlir::Location> argLocs;
  for (const auto &in : m.inputs) {
    argTypes.push_back(typeOf(in->shape));
    argLocs.push_back(mlir::NameLoc::get(b.getStringAttr(in->layer->name)));
  }
  for (const auto &l : m.layers) {
    for (const Weight &w : l->weights) {
      argTypes.push_back(typeOf(w.value.shape));
      argLocs.push_back(mlir::NameLoc::get(b.getStringAttr(w.name)));
    }
  }
  for (const auto &out : m.outputs)
    resultTypes.push_back(typeOf(out->shape));

  b.setInsertionPointToEnd(module->getBody());
  auto func = mlir::func::FuncOp::create(b, loc, "predict",
                                         b.getFunctionType(argTypes, resultTypes));
  // Inputs and weights belong to the caller: bufferization must not write into them.
  for (unsigned i = 0; i < argTypes.size(); ++i)
    func.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
  mlir::Block *entry = func.addEntryBlock();
  for (unsigned i = 0; i < argTypes.size(); ++i)
    entry->getArgument(i).setLoc(argLocs[i]);
  b.setInsertionPointToStart(entry);
  auto args = entry->getArguments();
  llvm::SmallVector<mlir::Value> results =
      emitForward(m, b, args.take_front(m.inputs.size()), args.drop_front(m.inputs.size()));
  // Each result gets its own buffer: a value returned twice (a model listing one tensor as two
  // outputs, or an RNN's last output and its state h) is copied, since bufferization's
  // results-to-out-params cannot give one buffer two out-params.
  llvm::DenseSet<mlir::Value> seen;
  for (mlir::Value &r : results)
    if (!seen.insert(r).second)
      r = mlir::bufferization::AllocTensorOp::create(
          b, loc, llvm::cast<mlir::RankedTensorType>(r.getType()), mlir::ValueRange{}, r);
  mlir::func::ReturnOp::create(b, loc, results);
  return module;
}

} // namespace detail

mlir::OwningOpRef<mlir::ModuleOp> toMLIR(const Model &model, mlir::MLIRContext &context) {
  if (!model.impl->isBuilt())
    throw Error(model.name(), "this model has not yet been built");
  return detail::emitPredict(*model.impl, context);
}

} // namespace kiln
