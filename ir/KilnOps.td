//===- KilnOps.td - kiln dialect operations ---------------*- tablegen -*-===//
//
// The ops a Keras layer is made of. Every op infers its result type through the shape
// functions in ShapeFunctions.cpp; the same functions check layer calls in the frontend.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_OPS_TD
#define KILN_OPS_TD

include "ir/KilnDialect.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Kiln_Tensor : TensorOf<[F32]>;

class Kiln_InferredOp<string mnemonic, list<Trait> traits = []> :
    Kiln_Op<mnemonic, traits # [Pure, InferTypeOpAdaptorWithIsCompatible]>;

//===----------------------------------------------------------------------===//
// Elementwise unary ops: activations and math.
//===----------------------------------------------------------------------===//

class Kiln_UnaryOp<string mnemonic, string formula, list<Trait> traits = []> :
    Kiln_InferredOp<mnemonic, traits # [SameOperandsAndResultElementType]> {
  let summary = "elementwise " # mnemonic;
  let description = "Computes `" # formula # "` for every element; the result has the "
    # "operand's shape.\n\nExample:\n\n```mlir\n%y = kiln." # mnemonic
    # " %x : (tensor<?x10xf32>) -> tensor<?x10xf32>\n```";
  let arguments = (ins Kiln_Tensor:$input);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ReluOp : Kiln_UnaryOp<"relu", "max(x, 0)">;
def Kiln_SigmoidOp : Kiln_UnaryOp<"sigmoid", "1 / (1 + exp(-x))">;
def Kiln_TanhOp : Kiln_UnaryOp<"tanh", "tanh(x)">;
def Kiln_SeluOp : Kiln_UnaryOp<"selu",
    "1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (exp(x) - 1))">;
def Kiln_SoftplusOp : Kiln_UnaryOp<"softplus", "log(exp(x) + 1)">;
def Kiln_SoftsignOp : Kiln_UnaryOp<"softsign", "x / (abs(x) + 1)">;
def Kiln_SiluOp : Kiln_UnaryOp<"silu", "x * sigmoid(x)  (Keras' swish)">;
def Kiln_ExpOp : Kiln_UnaryOp<"exp", "exp(x)  (Keras' exponential)">;
def Kiln_NegOp : Kiln_UnaryOp<"neg", "-x">;
def Kiln_LogOp : Kiln_UnaryOp<"log", "log(x)">;
def Kiln_SqrtOp : Kiln_UnaryOp<"sqrt", "sqrt(x)">;
def Kiln_AbsOp : Kiln_UnaryOp<"abs", "abs(x)">;
def Kiln_SquareOp : Kiln_UnaryOp<"square", "x * x">;

def Kiln_EluOp : Kiln_UnaryOp<"elu", "x > 0 ? x : alpha * (exp(x) - 1)"> {
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<F32Attr, "1.0">:$alpha);
}
def Kiln_LeakyReluOp : Kiln_UnaryOp<"leaky_relu", "x > 0 ? x : alpha * x"> {
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<F32Attr, "0.3">:$alpha);
}
def Kiln_HardSigmoidOp : Kiln_UnaryOp<"hard_sigmoid",
    "clamp(slope * x + offset, 0, 1)  (Keras 2: slope 0.2; Keras 3: slope 1/6; offset 0.5)"> {
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<F32Attr, "0.2">:$slope,
                   DefaultValuedAttr<F32Attr, "0.5">:$offset);
}
def Kiln_GeluOp : Kiln_UnaryOp<"gelu",
    "x * Phi(x) (exact, erf) or its tanh approximation when `approximate` is set"> {
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<BoolAttr, "false">:$approximate);
}

//===----------------------------------------------------------------------===//
// Elementwise binary ops with NumPy broadcasting.
//===----------------------------------------------------------------------===//

class Kiln_BinaryOp<string mnemonic, string formula> :
    Kiln_InferredOp<mnemonic, [SameOperandsAndResultElementType]> {
  let summary = "elementwise " # mnemonic # " with broadcasting";
  let description = "Computes `" # formula # "` with NumPy broadcasting: shapes are aligned "
    # "at their trailing dimensions and a dimension of size 1 stretches. A bias add is a "
    # "`kiln.add` of a rank-1 tensor.\n\nExample:\n\n```mlir\n%y = kiln." # mnemonic
    # " %x, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>\n```";
  let arguments = (ins Kiln_Tensor:$lhs, Kiln_Tensor:$rhs);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_AddOp : Kiln_BinaryOp<"add", "lhs + rhs">;
def Kiln_SubOp : Kiln_BinaryOp<"sub", "lhs - rhs">;
def Kiln_MulOp : Kiln_BinaryOp<"mul", "lhs * rhs">;
def Kiln_DivOp : Kiln_BinaryOp<"div", "lhs / rhs">;
def Kiln_MaximumOp : Kiln_BinaryOp<"maximum", "max(lhs, rhs)">;
def Kiln_MinimumOp : Kiln_BinaryOp<"minimum", "min(lhs, rhs)">;

//===----------------------------------------------------------------------===//
// Contractions and windows.
//===----------------------------------------------------------------------===//

def Kiln_MatmulOp : Kiln_InferredOp<"matmul", [SameOperandsAndResultElementType]> {
  let summary = "matrix product over the last axis (Keras Dense)";
  let description = [{
    `lhs` has shape `(..., K)`, `rhs` has shape `(K, N)`; the result has shape `(..., N)`. This is
    a Dense layer's kernel product: Keras' kernel layout `(in, units)` is used as is.

    ```mlir
    %y = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$lhs, Kiln_Tensor:$rhs);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_Conv2DOp : Kiln_InferredOp<"conv2d", [SameOperandsAndResultElementType]> {
  let summary = "2-D convolution, NHWC input, HWIO kernel";
  let description = [{
    Keras' Conv2D without bias and activation: `input` is `(N, H, W, C)`, `kernel` is
    `(KH, KW, C, F)`, the result is `(N, OH, OW, F)`. `padding` is `"valid"` (no padding) or
    `"same"` (TensorFlow's rule: the output has `ceil(H / stride)` rows, the padding is split with
    the extra row at the bottom and the extra column at the right). `dilations` spread the
    kernel taps.

    ```mlir
    %y = kiln.conv2d %x, %k {strides = array<i64: 2, 2>, padding = "same"}
        : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x14x14x32xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$kernel,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<StrAttr, "\"valid\"">:$padding);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $kernel attr-dict `:` functional-type(operands, results)";
}

class Kiln_Pool2DOp<string mnemonic, string what> :
    Kiln_InferredOp<mnemonic, [SameOperandsAndResultElementType]> {
  let summary = what # " pooling over an NHWC tensor";
  let description = "Keras' " # what # " pooling: a `pool_size` window moved by `strides` "
    # "over H and W of an `(N, H, W, C)` tensor; `padding` as in `kiln.conv2d`. With "
    # "`\"same\"` padding, padded cells are ignored (not counted in an average).\n\n"
    # "```mlir\n%y = kiln." # mnemonic # " %x {pool_size = array<i64: 2, 2>, "
    # "strides = array<i64: 2, 2>}\n    : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>\n```";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$pool_size,
                   DenseI64ArrayAttr:$strides,
                   DefaultValuedAttr<StrAttr, "\"valid\"">:$padding);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_MaxPool2DOp : Kiln_Pool2DOp<"max_pool2d", "max">;
def Kiln_AvgPool2DOp : Kiln_Pool2DOp<"avg_pool2d", "average">;

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

def Kiln_ReshapeOp : Kiln_InferredOp<"reshape", [SameOperandsAndResultElementType]> {
  let summary = "reshape every sample, keeping the batch dimension";
  let description = [{
    Keras' Reshape and Flatten: dimension 0 (the batch) is kept, the other dimensions are
    replaced by `shape`, in which one entry may be `-1` (computed from the element count).
    Flatten is `shape = [-1]`.

    ```mlir
    %y = kiln.reshape %x {shape = array<i64: -1>} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_TransposeOp : Kiln_InferredOp<"transpose", [SameOperandsAndResultElementType]> {
  let summary = "permute dimensions";
  let description = [{
    Result dimension `i` is operand dimension `perm[i]`; `perm` is a permutation of all
    dimensions, the batch included (Keras' Permute is `perm = [0, dims...]`).

    ```mlir
    %y = kiln.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<?x3x4xf32>) -> tensor<?x4x3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_PadOp : Kiln_InferredOp<"pad", [SameOperandsAndResultElementType]> {
  let summary = "pad with zeros";
  let description = [{
    Keras' ZeroPadding2D (and the backward rule of `kiln.slice`): `low[i]` zeros before and
    `high[i]` zeros after dimension `i`; both list every dimension, the batch included, and
    hold no negative entry. A dynamic dimension stays dynamic.

    ```mlir
    %y = kiln.pad %x {low = array<i64: 0, 1, 2, 0>, high = array<i64: 0, 1, 0, 0>}
        : (tensor<?x4x4x3xf32>) -> tensor<?x6x6x3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$low, DenseI64ArrayAttr:$high);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ConcatOp : Kiln_InferredOp<"concat"> {
  let summary = "concatenate along an axis";
  let description = [{
    Keras' Concatenate: all operands have the same rank and agree on every dimension but
    `axis` (negative counts from the end, Keras' default is -1).

    ```mlir
    %y = kiln.concat %a, %b {axis = -1 : i64}
        : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$inputs, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
}

def Kiln_GatherOp : Kiln_InferredOp<"gather"> {
  let summary = "rows of a table at integer-valued indices (Keras Embedding)";
  let description = [{
    `table` is `(V, D)`, `indices` any shape `S` (float32 holding integer values, as Keras feeds
    an Embedding, or i32 / i64); the result `S x (D)` holds `table[indices[s], :]` at every
    position `s`. A float index is truncated toward zero (TensorFlow's cast to int32). An index
    outside `[0, V)` reads the nearest row (it is clamped): the compiled code never reads out of
    bounds, and the frontend refuses such inputs before they reach it.

    ```mlir
    %y = kiln.gather %table, %ids : (tensor<1000x16xf32>, tensor<?x10xf32>) -> tensor<?x10x16xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$table, TensorOf<[F32, I32, I64]>:$indices);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$table `,` $indices attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Normalizing and reducing ops.
//===----------------------------------------------------------------------===//

def Kiln_SoftmaxOp : Kiln_InferredOp<"softmax", [SameOperandsAndResultElementType]> {
  let summary = "softmax along an axis";
  let description = [{
    `exp(x - max(x)) / sum(exp(x - max(x)))` along `axis` (negative counts from the end).

    ```mlir
    %y = kiln.softmax %x {axis = -1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

class Kiln_ReduceOp<string mnemonic, string what> :
    Kiln_InferredOp<mnemonic, [SameOperandsAndResultElementType]> {
  let summary = what # " over axes";
  let description = "Reduces `axes` (negative counts from the end, each at most once) by "
    # what # "; with `keepdims` the reduced dimensions stay with size 1.\n\n```mlir\n%y = kiln."
    # mnemonic # " %x {axes = array<i64: 1, 2>} : (tensor<?x7x7x64xf32>) -> tensor<?x64xf32>\n```";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$axes,
                   DefaultValuedAttr<BoolAttr, "false">:$keepdims);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ReduceSumOp : Kiln_ReduceOp<"reduce_sum", "sum">;
def Kiln_ReduceMeanOp : Kiln_ReduceOp<"reduce_mean", "mean">;
def Kiln_ReduceMaxOp : Kiln_ReduceOp<"reduce_max", "maximum">;

//===----------------------------------------------------------------------===//
// Constants and training-aware ops.
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_Op<"constant",
    [ConstantLike, Pure, AllTypesMatch<["value", "result"]>]> {
  let summary = "a constant tensor";
  let description = [{
    ```mlir
    %c = kiln.constant dense<1.0> : tensor<4xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$value attr-dict";
  let hasFolder = 1;
}

def Kiln_DropoutOp : Kiln_InferredOp<"dropout"> {
  let summary = "Keras Dropout: identity at inference, seeded mask in training";
  let description = [{
    With `training = false` (every `@predict`), the op is the identity and folds away. With
    `training = true` (in `@train_step`), each element is kept with probability `1 - rate` and
    scaled by `1 / (1 - rate)`; the mask comes from a counter-based RNG (Philox 4x32-10) keyed
    by `seed` and counting over the `step` operand (the `@train_step` iteration, required in
    training) and the element's flat index, so a run is reproducible (see docs/Design.md).

    ```mlir
    %y = kiln.dropout %x, %step {rate = 5.0e-01 : f32, seed = 7 : i64, training = true}
        : (tensor<?x128xf32>, tensor<i64>) -> tensor<?x128xf32>
    ```

    ```mlir
    %y = kiln.dropout %x {rate = 5.0e-01 : f32, seed = 7 : i64}
        : (tensor<?x128xf32>) -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Optional<0DTensorOf<[I64]>>:$step, F32Attr:$rate,
                   DefaultValuedAttr<I64Attr, "0">:$seed,
                   DefaultValuedAttr<BoolAttr, "false">:$training);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input (`,` $step^)? attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Kiln_RandomNormalOp : Kiln_InferredOp<"random_normal"> {
  let summary = "standard normal samples shaped like a tensor (training-time noise)";
  let description = [{
    One sample of N(0, 1) per element of `like`, whose values are not read: the counter-based
    RNG of `kiln.dropout` (Philox 4x32-10 keyed by `seed`, counting over the element's flat
    index and the `step` operand, the `@train_step` iteration) through the Box-Muller
    transform, so a run is reproducible. Keras' GaussianNoise adds it (scaled) in training,
    GaussianDropout multiplies by `1 + stddev * n`; no gradient flows through it.

    ```mlir
    %n = kiln.random_normal %x, %step {seed = 7 : i64}
        : (tensor<?x16xf32>, tensor<i64>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$like, 0DTensorOf<[I64]>:$step,
                   DefaultValuedAttr<I64Attr, "0">:$seed);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$like `,` $step attr-dict `:` functional-type(operands, results)";
}

include "ir/KilnGradOps.td"

#endif // KILN_OPS_TD
