//===- Passes.td - kiln dialect passes -------------------*- tablegen -*-===//
#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnShapeInference : Pass<"kiln-shape-inference", "func::FuncOp"> {
  let summary = "Refine kiln result types from operand types";
  let description = [{
    Walks a function in order and replaces every kiln op's result type by the type its shape
    function infers (unranked or partially dynamic results become static except for the
    batch), then updates the function's result types to match its `return`. A shape error is
    reported at the op's location, which names the Keras layer.
  }];
  let dependentDialects = ["::mlir::kiln::KilnDialect", "::mlir::func::FuncDialect"];
}

def KilnAutodiff : Pass<"kiln-autodiff", "func::FuncOp"> {
  let summary = "Expand kiln.grad into reverse-mode derivatives";
  let description = [{
    For every `kiln.grad %loss wrt %v...`, walks the ops of its block that `%loss` depends on in
    reverse, applies one gradient rule per op (the backward ops are kiln ops too: matmul and
    transpose for Dense, `kiln.conv2d_grad_input` / `kiln.conv2d_grad_kernel`,
    `kiln.pool2d_grad`, `kiln.unary_grad` for activations, reductions that undo broadcasting...)
    and replaces the `kiln.grad` results with the accumulated adjoints of `%v...`. Only values
    that depend on some `%v` get adjoints, so no work is spent on the input's gradient. An op
    without a rule on the path from `%v` to `%loss` is an error naming the op and its layer.
  }];
  let dependentDialects = ["::mlir::kiln::KilnDialect", "::mlir::func::FuncDialect"];
}

def KilnPlanMemory : Pass<"kiln-plan-memory", "ModuleOp"> {
  let summary = "Place every intermediate buffer in one caller-provided workspace";
  let description = [{
    Runs on bufferized code (after `buffer-results-to-out-params`, instead of the deallocation
    pipeline). For every public function it appends a `memref<?xi8>` workspace argument and
    replaces each `memref.alloc` / `memref.alloca` by a `memref.view` into it, so the generated
    code allocates nothing. Buffers whose live ranges (from the allocation to the last use of
    the buffer or of a view of it, in the function's top-level block) do not overlap share
    bytes: offsets come from a greedy best-fit by decreasing size, so the workspace is close
    to the peak of live buffers rather than their sum.

    Sizes may depend on the batch (the only dynamic dimension): every size and offset is kept
    as `a * batch + b` bytes (64-byte aligned) and two buffers may share bytes only when their
    order holds for every batch >= 1. The pass also emits `func.func @<name>_workspace_size(
    %batch: i64) -> i64`, the exact number of bytes for a batch, and records the plan in the
    module attribute `kiln.memory_plan` (`{<name> = {ends = [a, b, ...], naive = [a, b],
    buffers = N}}`: the candidate workspace ends and the sum of all buffers, as `a`, `b` pairs).

    ```mlir
    %0 = memref.alloc(%n) {alignment = 64 : i64} : memref<?x26x26x32xf32>
    // becomes, with %ws the new last argument
    %off = arith.constant 0 : index
    %0 = memref.view %ws[%off][%n] : memref<?xi8> to memref<?x26x26x32xf32>
    ```

    A buffer that escapes (returned, passed to a call) or whose dynamic size is not the batch
    is an error at its location.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect"];
}

#endif // KILN_PASSES_TD
