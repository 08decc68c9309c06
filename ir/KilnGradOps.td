//===- KilnGradOps.td - ops that training adds to the kiln dialect -*- tablegen -*-===//
//
// `kiln.grad` marks where reverse-mode autodiff (the kiln-autodiff pass) expands the gradient of a
// scalar loss; the other ops are what its rules emit: the backward halves of conv, pooling and
// the activations, and the broadcasting helpers. Result types are explicit (the pass knows
// them); verifiers check them.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_GRAD_OPS_TD
#define KILN_GRAD_OPS_TD

class Kiln_GradOp<string mnemonic, list<Trait> traits = []> :
    Kiln_Op<mnemonic, traits # [Pure]> {
  let hasVerifier = 1;
}

def Kiln_GradOp : Kiln_GradOp<"grad"> {
  let summary = "the gradient of a scalar loss with respect to values of the same block";
  let description = [{
    `kiln-autodiff` replaces each `kiln.grad` with the reverse-mode derivative of `loss` (a
    rank-0 tensor) with respect to each of `wrt`: one result per `wrt`, of its type. Every value
    that `loss` depends on must be computed by kiln ops (or be a block argument) in the block of
    the `kiln.grad`.

    ```mlir
    %dw, %db = kiln.grad %loss wrt %w, %b
        : (tensor<f32>, tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xf32>, tensor<16xf32>)
    ```
  }];
  let arguments = (ins Kiln_Tensor:$loss, Variadic<Kiln_Tensor>:$wrt);
  let results = (outs Variadic<Kiln_Tensor>:$grads);
  let assemblyFormat = "$loss `wrt` $wrt attr-dict `:` functional-type(operands, results)";
}

def Kiln_UnaryGradOp : Kiln_GradOp<"unary_grad"> {
  let summary = "dy times the derivative of an elementwise op at x";
  let description = [{
    `kind` names the forward op (`relu`, `sigmoid`, `tanh`, `selu`, `softplus`, `softsign`,
    `silu`, `exp`, `neg`, `log`, `sqrt`, `abs`, `square`, `elu`, `leaky_relu`, `hard_sigmoid`,
    `gelu`); `alpha`, `slope`, `offset` and `approximate` carry its attributes. The result is
    `dy * f'(x)`, with TensorFlow's choices at kinks: `relu'(0) = 0`, `abs'(0) = 0`,
    `elu'(0) = alpha`... (the derivative from the left where Keras' formula uses `x > 0`).

    ```mlir
    %dx = kiln.unary_grad %x, %dy {kind = "relu"}
        : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad, StrAttr:$kind,
                   DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                   DefaultValuedAttr<F32Attr, "0.2">:$slope,
                   DefaultValuedAttr<F32Attr, "0.5">:$offset,
                   DefaultValuedAttr<BoolAttr, "false">:$approximate);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_Conv2DGradInputOp : Kiln_GradOp<"conv2d_grad_input"> {
  let summary = "the gradient of kiln.conv2d with respect to its input";
  let description = [{
    `grad` is the gradient of a `kiln.conv2d` result `(N, OH, OW, F)`, `kernel` its kernel
    `(KH, KW, C, F)`; the result `(N, H, W, C)` is the gradient with respect to the conv's input,
    whose shape the result type gives. `strides`, `dilations` and `padding` are the conv's.

    ```mlir
    %dx = kiln.conv2d_grad_input %dy, %k {strides = array<i64: 2, 2>, padding = "same"}
        : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x9x9x3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$grad, Kiln_Tensor:$kernel,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<StrAttr, "\"valid\"">:$padding);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$grad `,` $kernel attr-dict `:` functional-type(operands, results)";
}

def Kiln_Conv2DGradKernelOp : Kiln_GradOp<"conv2d_grad_kernel"> {
  let summary = "the gradient of kiln.conv2d with respect to its kernel";
  let description = [{
    `input` is the conv's input `(N, H, W, C)`, `grad` the gradient of its result
    `(N, OH, OW, F)`; the result `(KH, KW, C, F)` sums over the batch and the output cells.

    ```mlir
    %dk = kiln.conv2d_grad_kernel %x, %dy
        : (tensor<?x28x28x1xf32>, tensor<?x26x26x32xf32>) -> tensor<3x3x1x32xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<StrAttr, "\"valid\"">:$padding);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_MatmulGradKernelOp : Kiln_GradOp<"matmul_grad_kernel"> {
  let summary = "the gradient of kiln.matmul with respect to its kernel, over leading axes";
  let description = [{
    `input` is a `kiln.matmul`'s input `(..., K)` of rank 3 or more (a Dense layer on sequences),
    `grad` the gradient of its result `(..., N)`; the result `(K, N)` sums `input^T grad` over
    every leading axis, the batch included. (For a rank-2 input the rule is a transpose and a
    `kiln.matmul`.)

    ```mlir
    %dw = kiln.matmul_grad_kernel %x, %dy
        : (tensor<?x10x64xf32>, tensor<?x10x8xf32>) -> tensor<64x8xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_Pool2DGradOp : Kiln_GradOp<"pool2d_grad"> {
  let summary = "the gradient of max or average pooling with respect to its input";
  let description = [{
    `kind` is `"max"` or `"avg"`; `input` is the pool's input, `grad` the gradient of its
    result. Max pooling sends each window's gradient to the window's first maximal cell (as
    TensorFlow does); average pooling spreads it evenly over the window's cells inside the input
    (padding is not counted, as in the forward op).

    ```mlir
    %dx = kiln.pool2d_grad %x, %dy {kind = "max", pool_size = array<i64: 2, 2>,
                                    strides = array<i64: 2, 2>}
        : (tensor<?x26x26x32xf32>, tensor<?x13x13x32xf32>) -> tensor<?x26x26x32xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad, StrAttr:$kind,
                   DenseI64ArrayAttr:$pool_size, DenseI64ArrayAttr:$strides,
                   DefaultValuedAttr<StrAttr, "\"valid\"">:$padding);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_BroadcastLikeOp : Kiln_GradOp<"broadcast_like"> {
  let summary = "broadcast a tensor to the shape of another";
  let description = [{
    NumPy broadcasting of `input` to the shape of `like` (only the shape of `like` is used).

    ```mlir
    %y = kiln.broadcast_like %b, %x : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$like);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $like attr-dict `:` functional-type(operands, results)";
}

def Kiln_SliceOp : Kiln_GradOp<"slice"> {
  let summary = "a contiguous slice along one axis";
  let description = [{
    Elements `[start, start + size)` of dimension `axis` (negative counts from the end); the
    backward rule of `kiln.concat` and `kiln.pad`, and Keras' Cropping2D. Its own backward rule
    is a `kiln.pad` (which needs `axis` to be static).

    ```mlir
    %y = kiln.slice %x {axis = -1 : i64, start = 5 : i64, size = 5 : i64}
        : (tensor<?x10xf32>) -> tensor<?x5xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, I64Attr:$axis, I64Attr:$start, I64Attr:$size);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ScatterAddOp : Kiln_GradOp<"scatter_add"> {
  let summary = "the gradient of kiln.gather with respect to its table";
  let description = [{
    `indices` are a `kiln.gather`'s indices (shape `S`), `grad` the gradient of its result
    (`S x (D)`); the result `(V, D)` (its type gives `V`) is zero but for the rows the indices
    name, where the gradient rows that read them are summed. Indices are truncated and clamped
    as in `kiln.gather`.

    ```mlir
    %dt = kiln.scatter_add %ids, %dy
        : (tensor<?x10xf32>, tensor<?x10x16xf32>) -> tensor<1000x16xf32>
    ```
  }];
  let arguments = (ins TensorOf<[F32, I32, I64]>:$indices, Kiln_Tensor:$grad);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$indices `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_CompareOp : Kiln_GradOp<"compare"> {
  let summary = "1.0 where a comparison holds, else 0.0, with broadcasting";
  let description = [{
    `predicate` is one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`; operands broadcast as in
    `kiln.add`. Masks for the gradients of maximum, minimum and reduce_max, and for metrics.

    ```mlir
    %m = kiln.compare %a, %b {predicate = "ge"}
        : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$lhs, Kiln_Tensor:$rhs, StrAttr:$predicate);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_OneHotOp : Kiln_GradOp<"one_hot"> {
  let summary = "integer class labels (as floats) to one-hot rows";
  let description = [{
    `input` is `(N)` or `(N, 1)` holding class indices as floats; the result is `(N, depth)`,
    1.0 at each label's column. A label outside `[0, depth)` gives a row of zeros (the runtime
    rejects such labels before a step runs).

    ```mlir
    %y = kiln.one_hot %labels {depth = 10 : i64} : (tensor<?xf32>) -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, I64Attr:$depth);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

#endif // KILN_GRAD_OPS_TD
