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
    (mgpuStreamCreate, mgpuMemAlloc, mgpuMemcpy, mgpuStreamSynchronize).

    Fails on any memory access left outside a kernel: the host must not touch device memory.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect"];
}

#endif // KILN_CODEGEN_GPUPASSES_TD
