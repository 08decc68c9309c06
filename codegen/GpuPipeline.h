//===- GpuPipeline.h - the NVIDIA GPU pipeline: linalg -> gpu -> NVVM -> PTX ---===//
#ifndef KILN_CODEGEN_GPUPIPELINE_H
#define KILN_CODEGEN_GPUPIPELINE_H

#include "codegen/Pipelines.h"

#include <string>
#include <vector>

namespace mlir::kiln {

/// Threads per block of the generated kernels (one thread per output element).
inline constexpr int64_t kGpuBlockSize = 256;

/// linalg on tensors -> one-shot bufferize (results become out-params) -> parallel loops ->
/// one kernel per loop nest (blocks of kGpuBlockSize threads) -> NVVM -> PTX for
/// `options.gpuChip`, embedded in the host module as `gpu.binary` ops -> LLVM dialect.
/// Public functions keep taking host buffers: they copy them to device memory on entry and
/// the outputs back on exit; intermediates are device allocations (mgpuMemAlloc), not a
/// planned workspace. Needs `options.planMemory == false`.
void buildLinalgToGpuPipeline(OpPassManager &pm, const PipelineOptions &options);

/// Registers the NVVM target's serialization (PTX) and the gpu/NVVM translations to LLVM IR
/// (registerAllKilnDialects calls it).
void registerGpuTranslations(DialectRegistry &registry);

/// Adds what the GPU pipeline needs beyond prepareContext: the NVVM target's serialization
/// and the gpu/NVVM dialects' translation to LLVM IR.
void prepareGpuContext(MLIRContext *ctx);

/// Registers `kiln-linalg-to-gpu` (option gpu-chip) for kiln-opt.
void registerKilnGpuPipeline();

/// The PTX text of every kernel in a module lowered by buildLinalgToGpuPipeline, in module
/// order, each preceded by a comment line naming its gpu.binary.
FailureOr<std::string> extractPtx(ModuleOp module);

} // namespace mlir::kiln

#endif // KILN_CODEGEN_GPUPIPELINE_H
