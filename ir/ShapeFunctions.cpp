//===- ShapeFunctions.cpp - shape rules of kiln ops ------------------------===//
#include "ir/ShapeFunctions.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>

namespace mlir::kiln {

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "(";
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << "None";
    else
      os << d;
  });
  if (shape.size() == 1)
    os << ",";
  os << ")";
  return s;
}

static FailureOr<Shape> fail(std::string &err, const llvm::Twine &msg) {
  err = msg.str();
  return failure();
}

FailureOr<Shape> inferBroadcastShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                                     std::string &err) {
  size_t rank = std::max(lhs.size(), rhs.size());
  Shape out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t a = i < rank - lhs.size() ? 1 : lhs[i - (rank - lhs.size())];
    int64_t b = i < rank - rhs.size() ? 1 : rhs[i - (rank - rhs.size())];
    if (a == 1) {
      out[i] = b;
    } else if (b == 1) {
      out[i] = a;
    } else if (ShapedType::isDynamic(a)) {
      out[i] = b;
    } else if (ShapedType::isDynamic(b) || a == b) {
      out[i] = a;
    } else {
      return fail(err, "shapes " + formatShape(lhs) + " and " + formatShape(rhs) +
                           " cannot be broadcast together (dimension " + llvm::Twine(i) +
                           ": " + llvm::Twine(a) + " vs " + llvm::Twine(b) + ")");
    }
  }
  return out;
}

FailureOr<Shape> inferMatmulShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                                  std::string &err) {
  if (lhs.size() < 1)
    return fail(err, "expected an input of rank >= 1, got shape " + formatShape(lhs));
  if (rhs.size() != 2)
    return fail(err, "expected a kernel of rank 2, got shape " + formatShape(rhs));
  int64_t k = lhs.back();
  if (!ShapedType::isDynamic(k) && !ShapedType::isDynamic(rhs[0]) && k != rhs[0])
    return fail(err, "input shape " + formatShape(lhs) + " does not match kernel shape " +
                         formatShape(rhs) + ": last axis " + llvm::Twine(k) + " vs " +
                         llvm::Twine(rhs[0]));
  Shape out(lhs.begin(), lhs.end());
  out.back() = rhs[1];
  return out;
}

int64_t windowOutputSize(int64_t in, int64_t window, int64_t stride, int64_t dilation,
                         bool same) {
  if (ShapedType::isDynamic(in))
    return kDynamic;
  // In 128 bits: dimensions, windows and dilations from the IR may be anywhere up to 2^63.
  if (same)
    return int64_t((__int128(in) + stride - 1) / stride);
  __int128 effective = __int128(window - 1) * dilation + 1;
  if (in < effective)
    return 0;
  return int64_t((in - effective) / stride + 1);
}

std::pair<int64_t, int64_t> samePadding(int64_t in, int64_t window, int64_t stride,
                                        int64_t dilation) {
  __int128 out = (__int128(in) + stride - 1) / stride;
  __int128 effective = __int128(window - 1) * dilation + 1;
  __int128 total = std::max<__int128>((out - 1) * stride + effective - in, 0);
  total = std::min<__int128>(total, std::numeric_limits<int64_t>::max());
  return {int64_t(total / 2), int64_t(total - total / 2)};
}

static LogicalResult checkWindowParams(ArrayRef<int64_t> vals, StringRef name,
                                       std::string &err) {
  if (vals.size() != 2 || vals[0] < 1 || vals[1] < 1) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << "expected " << name << " to be 2 positive integers, got [";
    llvm::interleaveComma(vals, os);
    os << "]";
    err = s;
    return failure();
  }
  return success();
}

static LogicalResult checkPadding(StringRef padding, std::string &err) {
  if (padding == "valid" || padding == "same")
    return success();
  err = "expected padding \"valid\" or \"same\", got \"" + padding.str() + "\"";
  return failure();
}

FailureOr<Shape> inferConv2DShape(ArrayRef<int64_t> input, ArrayRef<int64_t> kernel,
                                  ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                                  StringRef padding, std::string &err) {
  if (input.size() != 4)
    return fail(err, "expected an input of rank 4 (batch, rows, cols, channels), got shape " +
                         formatShape(input));
  if (kernel.size() != 4)
    return fail(err, "expected a kernel of rank 4 (rows, cols, in, out), got shape " +
                         formatShape(kernel));
  if (failed(checkWindowParams(strides, "strides", err)) ||
      failed(checkWindowParams(dilations, "dilation_rate", err)) ||
      failed(checkPadding(padding, err)))
    return failure();
  if (!ShapedType::isDynamic(input[3]) && !ShapedType::isDynamic(kernel[2]) &&
      input[3] != kernel[2])
    return fail(err, "input shape " + formatShape(input) + " has " + llvm::Twine(input[3]) +
                         " channels but kernel shape " + formatShape(kernel) + " expects " +
                         llvm::Twine(kernel[2]));
  bool same = padding == "same";
  Shape out = {input[0], 0, 0, kernel[3]};
  for (int i = 0; i < 2; ++i) {
    out[1 + i] = windowOutputSize(input[1 + i], kernel[i], strides[i], dilations[i], same);
    if (out[1 + i] == 0)
      return fail(err, "input shape " + formatShape(input) + " is smaller than the kernel " +
                           formatShape(kernel.take_front(2)) + " with padding \"valid\"");
  }
  return out;
}

FailureOr<Shape> inferPool2DShape(ArrayRef<int64_t> input, ArrayRef<int64_t> poolSize,
                                  ArrayRef<int64_t> strides, StringRef padding,
                                  std::string &err) {
  if (input.size() != 4)
    return fail(err, "expected an input of rank 4 (batch, rows, cols, channels), got shape " +
                         formatShape(input));
  if (failed(checkWindowParams(poolSize, "pool_size", err)) ||
      failed(checkWindowParams(strides, "strides", err)) ||
      failed(checkPadding(padding, err)))
    return failure();
  bool same = padding == "same";
  Shape out = {input[0], 0, 0, input[3]};
  for (int i = 0; i < 2; ++i) {
    out[1 + i] = windowOutputSize(input[1 + i], poolSize[i], strides[i], 1, same);
    if (out[1 + i] == 0)
      return fail(err, "input shape " + formatShape(input) + " is smaller than the pool " +
                           formatShape(poolSize) + " with padding \"valid\"");
  }
  return out;
}

FailureOr<Shape> inferReshapeShape(ArrayRef<int64_t> input, ArrayRef<int64_t> shape,
                                   std::string &err) {
  if (input.empty())
    return fail(err, "expected an input with a batch dimension, got a scalar");
  int64_t known = 1;
  int unknown = -1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (d == -1) {
      if (unknown >= 0)
        return fail(err, "target shape " + formatShape(shape) + " has more than one -1");
      unknown = i;
    } else if (d < 1) {
      return fail(err, "target shape " + formatShape(shape) + " has a dimension < 1");
    } else if (llvm::MulOverflow(known, d, known)) {
      return fail(err, "target shape " + formatShape(shape) + " has more elements than int64 holds");
    }
  }
  Shape out = {input[0]};
  out.append(shape.begin(), shape.end());
  bool inputStatic = llvm::all_of(input.drop_front(), [](int64_t d) {
    return !ShapedType::isDynamic(d);
  });
  if (!inputStatic) {
    if (unknown >= 0)
      out[1 + unknown] = kDynamic;
    return out;
  }
  int64_t total = 1;
  for (int64_t d : input.drop_front())
    if (llvm::MulOverflow(total, d, total))
      return fail(err, "input shape " + formatShape(input) + " has more elements per sample than "
                       "int64 holds");
  if (unknown >= 0) {
    if (total % known != 0)
      return fail(err, "cannot reshape input shape " + formatShape(input) + " to " +
                           formatShape(shape) + ": " + llvm::Twine(total) +
                           " elements per sample are not divisible by " + llvm::Twine(known));
    out[1 + unknown] = total / known;
  } else if (total != known) {
    return fail(err, "cannot reshape input shape " + formatShape(input) + " to " +
                         formatShape(shape) + ": " + llvm::Twine(total) + " vs " +
                         llvm::Twine(known) + " elements per sample");
  }
  return out;
}

FailureOr<Shape> inferTransposeShape(ArrayRef<int64_t> input, ArrayRef<int64_t> perm,
                                     std::string &err) {
  if (perm.size() != input.size())
    return fail(err, "permutation of " + llvm::Twine(perm.size()) +
                         " dims for input shape " + formatShape(input));
  llvm::SmallVector<bool> seen(input.size(), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= (int64_t)input.size() || seen[p])
      return fail(err, "perm " + formatShape(perm) + " is not a permutation of " +
                           llvm::Twine(input.size()) + " dims");
    seen[p] = true;
    out.push_back(input[p]);
  }
  return out;
}

FailureOr<Shape> inferPadShape(ArrayRef<int64_t> input, ArrayRef<int64_t> low,
                               ArrayRef<int64_t> high, std::string &err) {
  if (low.size() != input.size() || high.size() != input.size())
    return fail(err, "padding of " + llvm::Twine(low.size()) + " and " +
                         llvm::Twine(high.size()) + " dims for input shape " +
                         formatShape(input));
  Shape out;
  for (size_t i = 0; i < input.size(); ++i) {
    if (low[i] < 0 || high[i] < 0)
      return fail(err, "padding (" + llvm::Twine(low[i]) + ", " + llvm::Twine(high[i]) +
                           ") of dimension " + llvm::Twine(i) + " is negative");
    if (ShapedType::isDynamic(input[i])) {
      out.push_back(kDynamic);
      continue;
    }
    int64_t d = input[i];
    if (llvm::AddOverflow(d, low[i], d) || llvm::AddOverflow(d, high[i], d))
      return fail(err, "padding dimension " + llvm::Twine(i) + " of " + formatShape(input) +
                           " overflows int64");
    out.push_back(d);
  }
  return out;
}

FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank, std::string &err) {
  if (axis < -rank || axis >= rank) {
    err = "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank);
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

FailureOr<Shape> inferConcatShape(ArrayRef<Shape> inputs, int64_t axis, std::string &err) {
  if (inputs.empty())
    return fail(err, "expected at least one input");
  int64_t rank = inputs[0].size();
  FailureOr<int64_t> ax = normalizeAxis(axis, rank, err);
  if (failed(ax))
    return failure();
  Shape out = inputs[0];
  for (const Shape &s : inputs.drop_front()) {
    if ((int64_t)s.size() != rank)
      return fail(err, "inputs of shapes " + formatShape(inputs[0]) + " and " + formatShape(s) +
                           " have different ranks");
    for (int64_t i = 0; i < rank; ++i) {
      if (i == *ax) {
        out[i] = (ShapedType::isDynamic(out[i]) || ShapedType::isDynamic(s[i]))
                     ? kDynamic
                     : out[i] + s[i];
        continue;
      }
      if (ShapedType::isDynamic(out[i])) {
        out[i] = s[i];
      } else if (!ShapedType::isDynamic(s[i]) && s[i] != out[i]) {
        return fail(err, "inputs of shapes " + formatShape(inputs[0]) + " and " +
                             formatShape(s) + " differ in dimension " + llvm::Twine(i) +
                             ", which is not the concatenation axis " + llvm::Twine(*ax));
      }
    }
  }
  return out;
}

FailureOr<Shape> inferReduceShape(ArrayRef<int64_t> input, ArrayRef<int64_t> axes,
                                  bool keepdims, std::string &err) {
  int64_t rank = input.size();
  llvm::SmallVector<bool> reduced(rank, false);
  for (int64_t a : axes) {
    FailureOr<int64_t> ax = normalizeAxis(a, rank, err);
    if (failed(ax))
      return failure();
    if (reduced[*ax])
      return fail(err, "axis " + llvm::Twine(a) + " is reduced twice");
    reduced[*ax] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      out.push_back(input[i]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

FailureOr<Shape> inferGatherShape(ArrayRef<int64_t> table, ArrayRef<int64_t> indices,
                                  std::string &err) {
  if (table.size() != 2)
    return fail(err, "expected a table of rank 2 (rows, features), got shape " +
                         formatShape(table));
  if (!ShapedType::isDynamic(table[0]) && table[0] < 1)
    return fail(err, "the table " + formatShape(table) + " has no rows");
  Shape out(indices.begin(), indices.end());
  out.push_back(table[1]);
  return out;
}

bool areCompatibleTensorTypes(Type inferred, Type declared) {
  auto a = dyn_cast<TensorType>(inferred);
  auto b = dyn_cast<TensorType>(declared);
  if (!a || !b)
    return inferred == declared;
  if (a.getElementType() != b.getElementType())
    return false;
  if (!a.hasRank() || !b.hasRank())
    return true;
  if (a.getRank() != b.getRank())
    return false;
  for (auto [x, y] : llvm::zip(a.getShape(), b.getShape()))
    if (!ShapedType::isDynamic(x) && !ShapedType::isDynamic(y) && x != y)
      return false;
  return true;
}

} // namespace mlir::kiln
