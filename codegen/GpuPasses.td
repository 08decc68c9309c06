//===- GpuPasses.td - passes of kiln's NVIDIA GPU pipeline -------*- tablegen -*-===//
#ifndef KILN_CODEGEN_GPUPASSES_TD
#define KILN_CODEGEN_GPUPASSES_TD

include "mlir/Pass/PassBase.td"

def KilnGpuMarkOutputs : Pass<"kiln-gpu-mark-outputs", "ModuleOp"> {
  let summary = "Record how many results each public function has, before bufferization";
  let description = [{
    Sets `kiln.gpu.num_outputs` on every public function: after
    `buffer-results-to-out-params` the last that many arguments are its outputs, which
    `kiln-gpu-host-buffers` copies back to the host.
  }];
}

def KilnGpuMapLoops : Pass<"kiln-gpu-map-loops", "func::FuncOp"> {
  let summary = "Shape every outermost scf.parallel for one GPU thread per iteration";
  let description = [{
    Collapses each outermost `scf.parallel` (one per linalg op after
    `convert-linalg-to-parallel-loops`) into one dimension and tiles it by `block-size`
    without min/max bounds (the inner loop guards with `scf.if`), so that
    `gpu-map-parallel-loops` maps the outer loop onto blocks and the inner one onto the
    threads of a block: one thread per output element, reductions sequential in the thread.

    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c16) step (%c1, %c1) { ... }
    // becomes
    scf.parallel (%b) = (%c0) to (%nj) step (%c256) {
      scf.parallel (%t) = (%c0) to (%c256) step (%c1) { scf.if ... }
    }
    ```
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect"];
}

def KilnGpuHostBuffers : Pass<"kiln-gpu-host-buffers", "ModuleOp"> {
  let summary = "Host buffers in, device buffers inside: copies and device allocations";
  let description = [{
    Runs after the loops became `gpu.launch` ops. Every public function keeps its host
    arguments: on entry each is copied to a fresh device buffer (`gpu.alloc`, `gpu.memcpy`)
    that replaces it in the body; before each return the outputs (the last
    `kiln.gpu.num_outputs` arguments) are copied back and the device buffers freed.
    `memref.alloc`/`memref.dealloc` outside kernels become `gpu.alloc`/`gpu.dealloc`. The
    operations are async with an explicit `gpu.wait`, the form `gpu-to-llvm` lowers
    (mgpuStreamCreate, mgpuMemAlloc, mgpuMemcpy, mgpuStreamSynchronize). Each constant
    (`memref.get_global` of a static shape) is registered first with
    `kiln_gpu_resident_constant(address, bytes)`, so that the runtime copies it from a device
    mirror after the first call instead of from host memory.

    Fails on any memory access left outside a kernel: the host must not touch device memory.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect"];
}

def KilnGpuAsyncChain : Pass<"kiln-gpu-async-chain", "ModuleOp"> {
  let summary = "One stream per call: every GPU op of a function joins one async chain";
  let description = [{
    Runs after kernel outlining. In each function with one block, every allocation, copy,
    free and kernel launch becomes async and depends on the one before it, so that a call
    runs on one stream (created by the first `gpu.wait async`) with no host synchronization
    between its operations; the chain is waited for before the function returns, and before
    any host operation with memory effects (a call), after which a new chain starts. The
    `gpu.wait` pairs that `kiln-gpu-host-buffers` puts around each allocation and copy go
    away.

    ```mlir
    %0 = gpu.wait async
    %m, %t = gpu.alloc async [%0] () : memref<16xf32>
    gpu.wait [%t]
    gpu.launch_func @k::@k blocks in (...) threads in (...) args(...)
    // becomes
    %0 = gpu.wait async
    %m, %t = gpu.alloc async [%0] () : memref<16xf32>
    %1 = gpu.launch_func async [%t] @k::@k blocks in (...) threads in (...) args(...)
    ...
    gpu.wait [%n]
    return
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def KilnGpuSplitReductions : Pass<"kiln-gpu-split-reductions", "func::FuncOp"> {
  let summary = "Turn reduction loops of narrow reductions into parallel loops of partial sums";
  let description = [{
    On the GPU every linalg op becomes one kernel with one thread per output element and its
    reductions sequential in the thread. A reduction with few outputs and many terms (a bias
    gradient: one sum per channel over batch x height x width; a convolution's filter
    gradient) then runs on one or two blocks of the whole GPU.

    On linalg ops on tensors whose parallel iteration space is smaller than
    `min-parallel` (a dynamic dimension counts as 32), a reduction dimension that some input
    reads directly is made parallel: the op writes partial results into a tensor with that
    dimension in front, filled with the combiner's neutral element, and a `linalg.reduce`
    with the same combiner folds the partials into the original init. Repeated while the
    op is still narrow and each thread keeps at least `min-terms` terms. An op with a single
    static reduction loop that no other loop can stand in for (a matmul's k) is split by a
    ratio instead (`linalg::splitReduction`: k = (k_outer parallel) x (k_inner reduction)).
    Only ops whose payload is a recognizable reduction (one combiner with a neutral element:
    addf, maxnumf, ...) are split.

    ```mlir
    // sum over (n, y, x) of x[n, y, x, c] into out[c]
    linalg.generic {iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
    // becomes partials[n, c] (n now parallel), then linalg.reduce over n into out[c]
    ```
  }];
  let options = [
    Option<"minParallel", "min-parallel", "int64_t", /*default=*/"65536",
           "Split while the parallel iteration space is smaller than this">,
    Option<"minTerms", "min-terms", "int64_t", /*default=*/"16",
           "Leave at least this many reduction terms per thread">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def KilnGpuReductionLoops : Pass<"kiln-gpu-reduction-loops", "func::FuncOp"> {
  let summary = "Lower linalg reductions on buffers to loops that accumulate in a register";
  let description = [{
    `convert-linalg-to-parallel-loops` lowers a reduction to loops that load and store the
    output element at every step: in a GPU kernel that is a global-memory round trip per
    multiply-add of a matmul or convolution (the compiler cannot keep it in a register,
    since the output buffer might alias an input). This pass lowers each linalg op on
    buffers with reduction loops and one output, whose output is indexed by parallel loops
    only, to an `scf.parallel` over the parallel loops (absent if there is none) holding an
    `scf.for` nest over the reduction loops that carries the accumulator as an iteration
    argument: the output element is loaded once and stored once. Inputs are read through
    their indexing maps (`affine.apply` for non-trivial expressions).

    ```mlir
    scf.parallel (%i, %j) = ... {
      %init = memref.load %C[%i, %j]
      %sum = scf.for %k = %c0 to %K step %c1 iter_args(%acc = %init) -> (f32) {
        %a = memref.load %A[%i, %k]  %b = memref.load %B[%k, %j]
        ... payload with %acc for the output argument ...
        scf.yield %next : f32
      }
      memref.store %sum, %C[%i, %j]
    }
    ```
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"];
}

#endif // KILN_CODEGEN_GPUPASSES_TD
