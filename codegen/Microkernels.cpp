//===- Microkernels.cpp - register-blocked vector loops for conv2d and matmul on buffers -===//
#include "codegen/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <functional>

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNLOWERTOMICROKERNELS
#include "codegen/Passes.h.inc"

namespace {

/// Lanes [offset, offset + width) of a tile's last dimension, held in one vector.
struct Column {
  int64_t offset, width;
};

/// Splits `lanes` into vectors of `vectorSize` lanes; the last one may be narrower.
SmallVector<Column> columnsOf(int64_t lanes, int64_t vectorSize) {
  SmallVector<Column> cols;
  for (int64_t o = 0; o < lanes; o += vectorSize)
    cols.push_back({o, std::min(vectorSize, lanes - o)});
  return cols;
}

Value cIdx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
Value addI(OpBuilder &b, Location loc, Value x, int64_t c) {
  return c == 0 ? x : arith::AddIOp::create(b, loc, x, cIdx(b, loc, c)).getResult();
}
Value addI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}
Value mulI(OpBuilder &b, Location loc, Value x, int64_t c) {
  return c == 1 ? x : arith::MulIOp::create(b, loc, x, cIdx(b, loc, c)).getResult();
}

/// Calls `body(start, size)` for blocks of `block` over the static range [0, total): an
/// scf.for over the full blocks (inline when there is one) and a static remainder block.
void forStaticBlocks(OpBuilder &b, Location loc, int64_t total, int64_t block,
                     function_ref<void(OpBuilder &, Value, int64_t)> body) {
  int64_t full = total / block, rem = total % block;
  if (full == 1) {
    body(b, cIdx(b, loc, 0), block);
  } else if (full > 1) {
    scf::ForOp::create(b, loc, cIdx(b, loc, 0), cIdx(b, loc, full * block), cIdx(b, loc, block),
                       ValueRange{}, [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
                         body(nb, iv, block);
                         scf::YieldOp::create(nb, l);
                       });
  }
  if (rem)
    body(b, cIdx(b, loc, full * block), rem);
}

/// A memref of floats whose shape is static except maybe the first dimension and the
/// dimension `alsoDynamic` (a reduced one, when given).
bool isStaticButFirst(Value v, int64_t alsoDynamic = -1) {
  auto type = dyn_cast<MemRefType>(v.getType());
  if (!type || !isa<FloatType>(type.getElementType()))
    return false;
  for (int64_t d = 1; d < type.getRank(); ++d)
    if (type.isDynamicDim(d) && d != alsoDynamic)
      return false;
  return true;
}

/// The size of dimension `d` of memref `v` as an index value.
Value dimValue(OpBuilder &b, Location loc, Value v, int64_t d) {
  auto type = cast<MemRefType>(v.getType());
  if (!type.isDynamicDim(d))
    return cIdx(b, loc, type.getDimSize(d));
  return memref::DimOp::create(b, loc, v, d);
}
bool hasUnitLastStride(Value v) { return cast<MemRefType>(v.getType()).isLastDimUnitStride(); }

/// The reduction body shared by both kernels: for every row r and column j of the tile,
/// acc[r][j] += broadcast(lhs[r]) * rhs[j].
SmallVector<Value> fmaTile(OpBuilder &b, Location loc, ArrayRef<Value> lhs, ArrayRef<Value> rhs,
                           ValueRange accs) {
  SmallVector<Value> out;
  size_t k = 0;
  for (Value a : lhs) {
    llvm::SmallDenseMap<Type, Value> splat;
    for (Value w : rhs) {
      Value &s = splat[w.getType()];
      if (!s)
        s = vector::BroadcastOp::create(b, loc, w.getType(), a);
      out.push_back(vector::FMAOp::create(b, loc, s, w, accs[k++]));
    }
  }
  return out;
}

/// The fill that initialises `out` right before `op`, if any: its value seeds the
/// accumulators instead of a store and reload of the whole output.
linalg::FillOp fillBefore(Operation *op, Value out) {
  auto fill = dyn_cast_or_null<linalg::FillOp>(op->getPrevNode());
  if (!fill || !fill.hasPureBufferSemantics() || fill.getOutputs()[0] != out)
    return nullptr;
  return fill;
}

/// An elementwise linalg.generic right after `op` that updates `out` in place from `out`
/// (identity map) and per-channel vectors (map to the last loop, e.g. a bias), with a body of
/// arith/math ops: bias + activation. The kernel applies it to the accumulators before
/// their only store.
linalg::GenericOp epilogueAfter(Operation *op, Value out) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op->getNextNode());
  auto outType = cast<MemRefType>(out.getType());
  if (!generic || !generic.hasPureBufferSemantics() || generic.getNumDpsInits() != 1 ||
      generic.getDpsInits()[0] != out || generic.getNumLoops() != outType.getRank() ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0)).isIdentity() ||
      !generic.getMatchingBlockArgument(generic.getDpsInitOperand(0)).use_empty())
    return nullptr;
  unsigned last = generic.getNumLoops() - 1;
  bool readsOut = false;
  for (OpOperand *in : generic.getDpsInputOperands()) {
    AffineMap map = generic.getMatchingIndexingMap(in);
    if (in->get() == out && map.isIdentity()) {
      readsOut = true;
      continue;
    }
    auto type = dyn_cast<MemRefType>(in->get().getType());
    if (!type || type.getRank() != 1 || !type.isLastDimUnitStride() ||
        type.getElementType() != outType.getElementType() || map.getNumResults() != 1 ||
        !map.getResult(0).isFunctionOfDim(last) || !isa<AffineDimExpr>(map.getResult(0)))
      return nullptr;
  }
  if (!readsOut)
    return nullptr;
  for (Operation &bodyOp : generic.getBody()->without_terminator())
    if (!isa<arith::ArithDialect, math::MathDialect>(bodyOp.getDialect()) ||
        bodyOp.getNumRegions() != 0 || bodyOp.getNumResults() != 1 ||
        isa<VectorType>(bodyOp.getResult(0).getType()))
      return nullptr;
  return generic;
}

/// Applies the body of `generic` to one accumulator vector: the output's block argument is
/// `acc`, per-channel operands are the matching vectors of `channelVecs` (by input index),
/// scalars from outside the body are broadcast.
Value applyEpilogue(OpBuilder &b, Location loc, linalg::GenericOp generic, Value out, Value acc,
                    ArrayRef<Value> channelVecs) {
  auto vecType = cast<VectorType>(acc.getType());
  IRMapping map;
  for (auto [i, in] : llvm::enumerate(generic.getDpsInputOperands()))
    map.map(generic.getMatchingBlockArgument(in), in->get() == out ? acc : channelVecs[i]);
  auto vectorOf = [&](Type t) { return VectorType::get(vecType.getShape(), t); };
  for (Operation &bodyOp : generic.getBody()->without_terminator()) {
    for (Value operand : bodyOp.getOperands())
      if (!map.contains(operand))
        map.map(operand, vector::BroadcastOp::create(b, loc, vectorOf(operand.getType()), operand));
    Value result;
    if (auto cst = dyn_cast<arith::ConstantOp>(bodyOp)) {
      result = vector::BroadcastOp::create(b, loc, vectorOf(cst.getType()),
                                           arith::ConstantOp::create(b, loc, cst.getValue()));
    } else {
      Operation *clone = b.clone(bodyOp, map);
      clone->getResult(0).setType(vectorOf(bodyOp.getResult(0).getType()));
      result = clone->getResult(0);
    }
    map.map(bodyOp.getResult(0), result);
  }
  return map.lookup(generic.getBody()->getTerminator()->getOperand(0));
}

/// The accumulator seed and epilogue a kernel absorbs from around `op`.
struct Absorbed {
  linalg::FillOp fill;
  linalg::GenericOp epilogue;
};

/// Initial accumulators from an absorbed fill: its value broadcast.
SmallVector<Value> initTile(OpBuilder &b, Location loc, Absorbed &abs, int64_t rows,
                            ArrayRef<Column> cols) {
  SmallVector<Value> init;
  Value v = abs.fill.getInputs()[0];
  for (int64_t r = 0; r < rows; ++r)
    for (Column c : cols)
      init.push_back(vector::BroadcastOp::create(b, loc, VectorType::get({c.width}, v.getType()), v));
  return init;
}

/// Runs the absorbed epilogue over the final accumulators (column vectors of per-channel
/// operands loaded once per tile).
SmallVector<Value> finishTile(OpBuilder &b, Location loc, Absorbed &abs, Value out,
                              ValueRange accs, int64_t rows, ArrayRef<Column> cols,
                              Value colBase) {
  SmallVector<Value> result(accs.begin(), accs.end());
  if (!abs.epilogue)
    return result;
  SmallVector<SmallVector<Value>> channel(cols.size());
  for (OpOperand *in : abs.epilogue.getDpsInputOperands())
    for (auto [j, c] : llvm::enumerate(cols)) {
      Value v;
      if (in->get() != out) {
        Type elem = cast<MemRefType>(in->get().getType()).getElementType();
        v = vector::LoadOp::create(b, loc, VectorType::get({c.width}, elem), in->get(),
                                   ValueRange{addI(b, loc, colBase, c.offset)});
      }
      channel[j].push_back(v);
    }
  size_t k = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols.size(); ++j, ++k)
      result[k] = applyEpilogue(b, loc, abs.epilogue, out, accs[k], channel[j]);
  return result;
}

Absorbed absorb(Operation *op, Value out) { return {fillBefore(op, out), epilogueAfter(op, out)}; }

void eraseAbsorbed(Absorbed &abs) {
  if (abs.fill)
    abs.fill.erase();
  if (abs.epilogue)
    abs.epilogue.erase();
}

struct LowerToMicrokernelsPass
    : impl::KilnLowerToMicrokernelsBase<LowerToMicrokernelsPass> {
  using Base::Base;

  /// Loads (or stores) the accumulator tile: rows `rowIndex(r)` of `mem`, columns `cols`
  /// at `colBase`.
  static SmallVector<Value> loadTile(OpBuilder &b, Location loc, Value mem, int64_t rows,
                                     ArrayRef<Column> cols, Value colBase,
                                     function_ref<SmallVector<Value>(int64_t)> rowIndex) {
    SmallVector<Value> accs;
    Type elem = cast<MemRefType>(mem.getType()).getElementType();
    for (int64_t r = 0; r < rows; ++r)
      for (Column c : cols) {
        SmallVector<Value> idx = rowIndex(r);
        idx.push_back(addI(b, loc, colBase, c.offset));
        accs.push_back(
            vector::LoadOp::create(b, loc, VectorType::get({c.width}, elem), mem, idx));
      }
    return accs;
  }
  static void storeTile(OpBuilder &b, Location loc, ValueRange accs, Value mem, int64_t rows,
                        ArrayRef<Column> cols, Value colBase,
                        function_ref<SmallVector<Value>(int64_t)> rowIndex) {
    size_t k = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (Column c : cols) {
        SmallVector<Value> idx = rowIndex(r);
        idx.push_back(addI(b, loc, colBase, c.offset));
        vector::StoreOp::create(b, loc, accs[k++], mem, idx);
      }
  }
  /// Loads the vectors `cols` of `mem` at `prefix` + column base.
  static SmallVector<Value> loadRow(OpBuilder &b, Location loc, Value mem,
                                    SmallVector<Value> prefix, ArrayRef<Column> cols,
                                    Value colBase) {
    SmallVector<Value> ws;
    Type elem = cast<MemRefType>(mem.getType()).getElementType();
    for (Column c : cols) {
      SmallVector<Value> idx = prefix;
      idx.push_back(addI(b, loc, colBase, c.offset));
      ws.push_back(vector::LoadOp::create(b, loc, VectorType::get({c.width}, elem), mem, idx));
    }
    return ws;
  }

  /// (n, oh, ow, f, kh, kw, c): per image, output row, block of `pixels` output columns and
  /// chunk of filters, the accumulators live across kh, kw and c. The channel count may be
  /// dynamic (the weight gradient reduces over the batch as its channels).
  LogicalResult lowerConv(linalg::Conv2DNhwcHwcfOp op) {
    Value x = op.getInputs()[0], k = op.getInputs()[1], y = op.getOutputs()[0];
    if (!isStaticButFirst(x, 3) || !isStaticButFirst(k, 2) || !isStaticButFirst(y) ||
        cast<MemRefType>(k.getType()).isDynamicDim(0) || !hasUnitLastStride(k) ||
        !hasUnitLastStride(y))
      return failure();
    auto kType = cast<MemRefType>(k.getType());
    auto yType = cast<MemRefType>(y.getType());
    if (kType.getElementType() != yType.getElementType() ||
        cast<MemRefType>(x.getType()).getElementType() != yType.getElementType())
      return failure();
    SmallVector<int64_t> strides(op.getStrides().getValues<int64_t>());
    SmallVector<int64_t> dilations(op.getDilations().getValues<int64_t>());
    int64_t kh = kType.getDimSize(0), kw = kType.getDimSize(1), f = kType.getDimSize(3),
            oh = yType.getDimSize(1), ow = yType.getDimSize(2);

    int64_t chunkVecs = std::min<int64_t>(llvm::divideCeil(f, vectorSize), 4);
    int64_t chunk = std::min(f, chunkVecs * vectorSize);
    // Balanced pixel blocks: ow = 10 with room for 6 runs as 5 + 5, not 6 + 4.
    int64_t maxPixels = std::clamp<int64_t>(accumulators / chunkVecs, 1, ow);
    int64_t pixels = llvm::divideCeil(ow, llvm::divideCeil(ow, maxPixels));

    Absorbed abs = absorb(op, y);
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
    Value batch = memref::DimOp::create(b, loc, y, 0);
    Value channels = dimValue(b, loc, k, 2);
    scf::ForOp::create(b, loc, c0, batch, c1, ValueRange{}, [&](OpBuilder &b, Location loc,
                                                                 Value n, ValueRange) {
      scf::ForOp::create(b, loc, c0, cIdx(b, loc, oh), c1, ValueRange{}, [&](OpBuilder &b,
                                                                             Location loc,
                                                                             Value row,
                                                                             ValueRange) {
        forStaticBlocks(b, loc, ow, pixels, [&](OpBuilder &b, Value col0, int64_t np) {
          forStaticBlocks(b, loc, f, chunk, [&](OpBuilder &b, Value f0, int64_t nf) {
            SmallVector<Column> cols = columnsOf(nf, vectorSize);
            auto outIndex = [&](int64_t p) {
              return SmallVector<Value>{n, row, addI(b, loc, col0, p)};
            };
            SmallVector<Value> init =
                abs.fill ? initTile(b, loc, abs, np, cols)
                         : loadTile(b, loc, y, np, cols, f0, outIndex);
            Value rowBase = mulI(b, loc, row, strides[0]);
            Value colBase = mulI(b, loc, col0, strides[1]);
            auto khLoop = scf::ForOp::create(
                b, loc, c0, cIdx(b, loc, kh), c1, init,
                [&](OpBuilder &b, Location loc, Value i, ValueRange accKh) {
                  Value ih = addI(b, loc, rowBase, mulI(b, loc, i, dilations[0]));
                  auto kwLoop = scf::ForOp::create(
                      b, loc, c0, cIdx(b, loc, kw), c1, accKh,
                      [&](OpBuilder &b, Location loc, Value j, ValueRange accKw) {
                        Value iw0 = addI(b, loc, colBase, mulI(b, loc, j, dilations[1]));
                        auto cLoop = scf::ForOp::create(
                            b, loc, c0, channels, c1, accKw,
                            [&](OpBuilder &b, Location loc, Value ci, ValueRange acc) {
                              SmallVector<Value> ws = loadRow(b, loc, k, {i, j, ci}, cols, f0);
                              SmallVector<Value> xs;
                              for (int64_t p = 0; p < np; ++p) {
                                Value iw = addI(b, loc, iw0, p * strides[1]);
                                xs.push_back(memref::LoadOp::create(
                                    b, loc, x, ValueRange{n, ih, iw, ci}));
                              }
                              scf::YieldOp::create(b, loc, fmaTile(b, loc, xs, ws, acc));
                            });
                        scf::YieldOp::create(b, loc, cLoop.getResults());
                      });
                  scf::YieldOp::create(b, loc, kwLoop.getResults());
                });
            storeTile(b, loc, finishTile(b, loc, abs, y, khLoop.getResults(), np, cols, f0), y,
                      np, cols, f0, outIndex);
          });
        });
        scf::YieldOp::create(b, loc);
      });
      scf::YieldOp::create(b, loc);
    });
    op.erase();
    eraseAbsorbed(abs);
    return success();
  }

  /// (m, n, k): blocks of 8 rows times 2 vectors of columns; a dynamic M's tail one row at a
  /// time.
  LogicalResult lowerMatmul(linalg::MatmulOp op) {
    if (op.hasUserDefinedMaps() || op.getInputs().size() != 2)
      return failure();
    Value a = op.getInputs()[0], bm = op.getInputs()[1], cm = op.getOutputs()[0];
    // K may be dynamic (the weight gradient x^T @ dz reduces over the batch).
    if (!isStaticButFirst(a, 1) || !isStaticButFirst(bm) || !isStaticButFirst(cm) ||
        !hasUnitLastStride(bm) || !hasUnitLastStride(cm))
      return failure();
    auto cType = cast<MemRefType>(cm.getType());
    if (cast<MemRefType>(a.getType()).getElementType() != cType.getElementType() ||
        cast<MemRefType>(bm.getType()).getElementType() != cType.getElementType())
      return failure();
    int64_t nDim = cType.getDimSize(1);
    const int64_t rowsPerBlock = 8;
    int64_t chunk = std::min(nDim, 2 * vectorSize);

    Absorbed abs = absorb(op, cm);
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
    Value m = memref::DimOp::create(b, loc, cm, 0);
    Value kDim = dimValue(b, loc, bm, 0);
    Value mFull = arith::SubIOp::create(
        b, loc, m, arith::RemUIOp::create(b, loc, m, cIdx(b, loc, rowsPerBlock)));

    auto block = [&](OpBuilder &b, Location loc, Value m0, int64_t rows) {
      forStaticBlocks(b, loc, nDim, chunk, [&](OpBuilder &b, Value n0, int64_t nn) {
        SmallVector<Column> cols = columnsOf(nn, vectorSize);
        auto rowIndex = [&](int64_t r) { return SmallVector<Value>{addI(b, loc, m0, r)}; };
        SmallVector<Value> init = abs.fill ? initTile(b, loc, abs, rows, cols)
                                           : loadTile(b, loc, cm, rows, cols, n0, rowIndex);
        auto kLoop = scf::ForOp::create(
            b, loc, c0, kDim, c1, init,
            [&](OpBuilder &b, Location loc, Value kk, ValueRange acc) {
              SmallVector<Value> ws = loadRow(b, loc, bm, {kk}, cols, n0);
              SmallVector<Value> as;
              for (int64_t r = 0; r < rows; ++r)
                as.push_back(
                    memref::LoadOp::create(b, loc, a, ValueRange{addI(b, loc, m0, r), kk}));
              scf::YieldOp::create(b, loc, fmaTile(b, loc, as, ws, acc));
            });
        storeTile(b, loc, finishTile(b, loc, abs, cm, kLoop.getResults(), rows, cols, n0), cm,
                  rows, cols, n0, rowIndex);
      });
    };
    scf::ForOp::create(b, loc, c0, mFull, cIdx(b, loc, rowsPerBlock), ValueRange{},
                       [&](OpBuilder &b, Location loc, Value m0, ValueRange) {
                         block(b, loc, m0, rowsPerBlock);
                         scf::YieldOp::create(b, loc);
                       });
    scf::ForOp::create(b, loc, mFull, m, c1, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value m0, ValueRange) {
                         block(b, loc, m0, 1);
                         scf::YieldOp::create(b, loc);
                       });
    op.erase();
    eraseAbsorbed(abs);
    return success();
  }

  /// A fill of a buffer with a contiguous last dimension as loops of vector stores along that
  /// dimension. Left to convert-linalg-to-loops, LLVM vectorized the fills of the pooling
  /// outputs across rows, with scatters.
  LogicalResult lowerFill(linalg::FillOp op) {
    Value out = op.getOutputs()[0];
    auto type = dyn_cast<MemRefType>(out.getType());
    if (!type || type.getRank() == 0 || !type.isLastDimUnitStride() ||
        type.isDynamicDim(type.getRank() - 1) || !isa<FloatType>(type.getElementType()))
      return failure();
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value value = op.getInputs()[0];
    SmallVector<Column> cols = columnsOf(type.getDimSize(type.getRank() - 1), vectorSize);
    llvm::SmallDenseMap<int64_t, Value> splat;
    for (Column c : cols)
      if (!splat.count(c.width))
        splat[c.width] = vector::BroadcastOp::create(
            b, loc, VectorType::get({c.width}, type.getElementType()), value);
    std::function<void(OpBuilder &, SmallVector<Value>)> nest = [&](OpBuilder &b,
                                                                    SmallVector<Value> ivs) {
      int64_t d = ivs.size();
      if (d == type.getRank() - 1) {
        for (Column c : cols) {
          SmallVector<Value> idx = ivs;
          idx.push_back(cIdx(b, loc, c.offset));
          vector::StoreOp::create(b, loc, splat[c.width], out, idx);
        }
        return;
      }
      Value ub = type.isDynamicDim(d) ? memref::DimOp::create(b, loc, out, d).getResult()
                                      : cIdx(b, loc, type.getDimSize(d));
      scf::ForOp::create(b, loc, cIdx(b, loc, 0), ub, cIdx(b, loc, 1), ValueRange{},
                         [&](OpBuilder &b, Location l, Value iv, ValueRange) {
                           SmallVector<Value> inner = ivs;
                           inner.push_back(iv);
                           nest(b, inner);
                           scf::YieldOp::create(b, l);
                         });
    };
    nest(b, {});
    op.erase();
    return success();
  }

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<linalg::Conv2DNhwcHwcfOp, linalg::MatmulOp>(op) &&
          cast<linalg::LinalgOp>(op).hasPureBufferSemantics())
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto conv = dyn_cast<linalg::Conv2DNhwcHwcfOp>(op))
        (void)lowerConv(conv);
      else
        (void)lowerMatmul(cast<linalg::MatmulOp>(op));
    }
    // The fills the kernels did not absorb (pooling outputs, reductions' inits).
    SmallVector<linalg::FillOp> fills;
    getOperation().walk([&](linalg::FillOp op) {
      if (op.hasPureBufferSemantics())
        fills.push_back(op);
    });
    for (linalg::FillOp op : fills)
      (void)lowerFill(op);
  }
};

} // namespace
} // namespace mlir::kiln
