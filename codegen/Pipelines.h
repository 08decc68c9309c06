//===- Pipelines.h - the compile pipelines from kiln to LLVM ----------------===//
#ifndef KILN_CODEGEN_PIPELINES_H
#define KILN_CODEGEN_PIPELINES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/LLVM.h"

#include <memory>
#include <string>

namespace llvm {
class TargetMachine;
} // namespace llvm

namespace mlir::kiln {

/// The stages `kilnc --emit=` can stop at, in pipeline order. Ptx is the GPU kernels'
/// PTX text (Device::GPU only), taken from the LLVM-dialect module.
enum class Stage { Kiln, Linalg, LLVMDialect, LLVMIR, Asm, Obj, Ptx };

/// Parses "kiln", "linalg", "llvm-dialect", "llvm-ir", "asm", "obj", "ptx".
std::optional<Stage> parseStage(StringRef name);

/// Where generated code runs.
enum class Device { CPU, GPU };

struct PipelineOptions {
  /// CPU: the tile/vectorize pipeline below. GPU: codegen/GpuPipeline.h (NVIDIA, PTX); the
  /// CPU-only options (tiling, microkernels, targetCpu, planMemory) do not apply to it.
  Device device = Device::CPU;
  /// With Device::GPU: the chip the PTX targets ("sm_90" for Hopper; "sm_80" PTX also runs on
  /// later chips, compiled by the driver).
  std::string gpuChip = "sm_90";
  /// Tile and vectorize matmul and conv (off only to compare against the plain lowering).
  bool tileAndVectorize = true;
  /// LLVM optimization level for the JIT and object emission.
  unsigned optLevel = 3;
  /// The CPU that generated code is tuned and compiled for: an LLVM CPU name (e.g.
  /// "skylake-avx512", "znver4"), or "native" for the host CPU with all its features.
  std::string targetCpu = "native";
  /// The target triple of generated code (e.g. "x86_64-unknown-linux-gnu",
  /// "aarch64-linux-gnu"); empty for the host's. With another triple, targetCpu must name a
  /// CPU of that target ("native" describes this machine only).
  std::string targetTriple;
  /// Producer-consumer fusion: elementwise chains (bias add, activation, the backward
  /// elementwise work, the optimizer update) into one loop nest each
  /// (linalg-fuse-elementwise-ops), and with tileAndVectorize the image chains below. Off
  /// only to measure what it saves (`kilnc compile --no-fusion`, KILN_NO_FUSION=1 for the
  /// JIT path of predict and fit).
  bool fusion = true;
  /// With tileAndVectorize: run conv -> bias/activation -> pooling chains one image at a time
  /// (kiln-fuse-image-chains), so that their intermediates stay in cache.
  bool fuseImageChains = true;
  /// With tileAndVectorize: conv2d and matmul become register-blocked vector loops after
  /// bufferization (kiln-lower-to-microkernels) instead of tiled vector.contract ops.
  bool microkernels = true;
  /// Place intermediate buffers in one caller-provided workspace (kiln-plan-memory) instead
  /// of allocating and freeing them: every public function gets a trailing `memref<?xi8>`
  /// argument and a `<name>_workspace_size` companion. For ahead-of-time objects.
  bool planMemory = false;
  /// CPU: heap allocations of the generated code call `_mlir_memref_to_llvm_alloc` / `_free`
  /// (FinalizeMemRef's generic functions) instead of malloc / free. JitModule provides them:
  /// an allocation that fails ends a JitModule::callGuarded call cleanly instead of handing
  /// the generated code a null pointer. For in-process JIT code only.
  bool checkedAllocations = false;
  /// When not empty, lowerToStage writes the IR after every pass to this directory, one
  /// numbered file per pass (`NNN-<pass argument>.mlir`), each parseable by kiln-opt.
  std::string dumpIRDir;
};

/// A TargetMachine for `options.targetCpu` on `options.targetTriple` (the host's when empty;
/// PIC, `options.optLevel`); null with `err` set (one line) when the triple or CPU is unknown.
std::unique_ptr<llvm::TargetMachine> createTargetMachine(const PipelineOptions &options,
                                                         std::string &err);

/// Whether code for `triple` runs on this machine: empty, or the host's architecture and OS
/// (vendor and environment may differ).
bool isHostTriple(StringRef triple);

/// kiln -> shape inference, canonicalize -> linalg on tensors.
void buildKilnToLinalgPipeline(OpPassManager &pm, const PipelineOptions &options);
/// linalg on tensors -> tiling/vectorization -> one-shot bufferize (results become out-params)
/// -> loops -> LLVM dialect. Every func gets `llvm.emit_c_interface`.
void buildLinalgToLLVMPipeline(OpPassManager &pm, const PipelineOptions &options);

/// Adds to `ctx` every dialect, interface and translation the pipelines and the JIT rely on
/// (bufferization and tiling models, LLVM IR translation). lowerToStage, translateModule and
/// JitModule::create call it themselves; it is cheap to call again.
void prepareContext(MLIRContext *ctx);

/// Registers `kiln-to-linalg` and `kiln-linalg-to-llvm` pipelines for kiln-opt.
void registerKilnPipelines();

/// Marks public functions with `llvm.emit_c_interface`, so that each gets a
/// `_mlir_ciface_<name>` wrapper taking memref descriptors by pointer (what the JIT calls).
std::unique_ptr<Pass> createEmitCInterfacePass();

/// Runs the pipelines on `module` up to `stage` (Kiln, Linalg or LLVMDialect; later stages
/// lower to the LLVM dialect). Diagnostics go to the context's handler.
LogicalResult lowerToStage(ModuleOp module, Stage stage, const PipelineOptions &options);

/// Translates a module in the LLVM dialect to LLVM IR text, assembly, or an object file's bytes
/// for the host CPU.
FailureOr<std::string> translateModule(ModuleOp module, Stage stage,
                                       const PipelineOptions &options);

} // namespace mlir::kiln

#endif // KILN_CODEGEN_PIPELINES_H
