//===- GpuPipeline.cpp - the NVIDIA GPU pipeline: linalg -> gpu -> NVVM -> PTX ---===//
#include "codegen/GpuPipeline.h"
#include "codegen/Passes.h"
#include "codegen/Registration.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/raw_ostream.h"

#include <numeric>

namespace mlir::kiln {

#define GEN_PASS_DECL
#define GEN_PASS_DEF_KILNGPUMARKOUTPUTS
#define GEN_PASS_DEF_KILNGPUMAPLOOPS
#define GEN_PASS_DEF_KILNGPUHOSTBUFFERS
#define GEN_PASS_DEF_KILNGPUASYNCCHAIN
#include "codegen/GpuPasses.h.inc"
#define GEN_PASS_REGISTRATION
#include "codegen/GpuPasses.h.inc"

namespace {

constexpr StringLiteral kNumOutputsAttr = "kiln.gpu.num_outputs";

bool isEntryPoint(func::FuncOp func) { return func.isPublic() && !func.isExternal(); }

struct KilnGpuMarkOutputs : impl::KilnGpuMarkOutputsBase<KilnGpuMarkOutputs> {
  void runOnOperation() override {
    Builder b(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (isEntryPoint(func))
        func->setAttr(kNumOutputsAttr, b.getI64IntegerAttr(func.getNumResults()));
  }
};

struct KilnGpuMapLoops : impl::KilnGpuMapLoopsBase<KilnGpuMapLoops> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<scf::ParallelOp> roots;
    getOperation().walk([&](scf::ParallelOp op) {
      if (!op->getParentOfType<scf::ParallelOp>())
        roots.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ParallelOp op : roots) {
      if (op.getNumResults()) {
        op.emitOpError("kiln-gpu-map-loops: parallel reductions are not mapped to the GPU yet");
        return signalPassFailure();
      }
      scf::ParallelOp flat = op;
      if (op.getNumLoops() > 1) {
        // The collapse replaces the loop; find the new one between its neighbours.
        Operation *before = op->getPrevNode();
        Block *block = op->getBlock();
        std::vector<unsigned> all(op.getNumLoops());
        std::iota(all.begin(), all.end(), 0u);
        rewriter.setInsertionPoint(op);
        collapseParallelLoops(rewriter, op, {all});
        flat = nullptr;
        for (Operation &next :
             llvm::make_range(before ? std::next(before->getIterator()) : block->begin(),
                              block->end()))
          if ((flat = dyn_cast<scf::ParallelOp>(next)))
            break;
        assert(flat && flat.getNumLoops() == 1 && "collapse left no 1-D loop");
      }
      // Blocks of blockSize threads; the inner loop guards the last block with an scf.if.
      scf::tileParallelLoop(flat, {blockSize}, /*noMinMaxBounds=*/true);
    }
  }
};

/// Whether `op` reads or writes memory on the host, outside any kernel.
bool touchesMemoryOnHost(Operation *op) {
  if (op->getParentOfType<gpu::LaunchOp>() || isa<gpu::GPUDialect>(op->getDialect()))
    return false;
  if (isa<memref::AllocOp, memref::DeallocOp, memref::DimOp>(op))
    return false;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return false;
  SmallVector<MemoryEffects::EffectInstance> list;
  effects.getEffects(list);
  return llvm::any_of(list, [](const MemoryEffects::EffectInstance &e) {
    return isa<MemoryEffects::Read, MemoryEffects::Write>(e.getEffect()) && e.getValue() &&
           isa<MemRefType>(e.getValue().getType());
  });
}

/// runtime/gpu/CudaRuntime.c: registers a constant's host address as a resident buffer.
constexpr StringLiteral kResidentConstant = "kiln_gpu_resident_constant";

struct KilnGpuHostBuffers : impl::KilnGpuHostBuffersBase<KilnGpuHostBuffers> {
  bool declareResidentConstant = false;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      Operation *bad = nullptr;
      func.walk([&](Operation *op) {
        if (!bad && touchesMemoryOnHost(op))
          bad = op;
      });
      if (bad) {
        bad->emitOpError("kiln GPU codegen: this op would access device memory from the host "
                         "(it was not mapped onto a kernel)");
        return signalPassFailure();
      }
      rewriteAllocations(func);
      copyHostBuffers(func);
    }
    ModuleOp module = getOperation();
    if (declareResidentConstant && !module.lookupSymbol(kResidentConstant)) {
      OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
      auto i64 = b.getI64Type();
      auto decl = func::FuncOp::create(b, module.getLoc(), kResidentConstant,
                                       b.getFunctionType({i64, i64}, {}));
      decl.setPrivate();
    }
  }

  /// `%t0 = gpu.wait async; %m, %t1 = gpu.alloc async [%t0] ...; gpu.wait [%t1]`.
  void rewriteAllocations(func::FuncOp func) {
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      if (isa<memref::AllocOp, memref::DeallocOp>(op) && !op->getParentOfType<gpu::LaunchOp>())
        ops.push_back(op);
    });
    IRRewriter b(&getContext());
    auto token = gpu::AsyncTokenType::get(&getContext());
    for (Operation *op : ops) {
      Location loc = op->getLoc();
      b.setInsertionPoint(op);
      Value start = gpu::WaitOp::create(b, loc, token, {}).getAsyncToken();
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto dev = gpu::AllocOp::create(b, loc, alloc.getType(), token, {start},
                                        alloc.getDynamicSizes(), alloc.getSymbolOperands());
        gpu::WaitOp::create(b, loc, Type(), {dev.getAsyncToken()});
        b.replaceOp(alloc, dev.getMemref());
      } else {
        auto dealloc = cast<memref::DeallocOp>(op);
        auto free = gpu::DeallocOp::create(b, loc, token, {start}, dealloc.getMemref());
        gpu::WaitOp::create(b, loc, Type(), {free.getAsyncToken()});
        b.eraseOp(dealloc);
      }
    }
  }

  /// Public functions copy their arguments in and their outputs out; every function copies
  /// the constants it uses in.
  void copyHostBuffers(func::FuncOp func) {
    auto numOutputsAttr = func->getAttrOfType<IntegerAttr>(kNumOutputsAttr);
    unsigned numArgs = func.getNumArguments();
    unsigned numOutputs = numOutputsAttr ? numOutputsAttr.getInt() : 0;
    func->removeAttr(kNumOutputsAttr);
    OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
    auto token = gpu::AsyncTokenType::get(&getContext());
    Location loc = func.getLoc();
    SmallVector<std::pair<Value, Value>> copies; // host buffer, device buffer
    // Host buffers: the arguments, and constants (memref.get_global, e.g. the divisors of
    // "same" average pooling), which the kernels must read from device memory too.
    SmallVector<Value> hosts(func.getArguments().begin(), func.getArguments().end());
    func.walk([&](memref::GetGlobalOp op) {
      if (!op->getParentOfType<gpu::LaunchOp>())
        hosts.push_back(op);
    });
    for (Value arg : hosts) {
      if (isa<BlockArgument>(arg) && !isEntryPoint(func))
        continue;
      bool constant = !isa<BlockArgument>(arg);
      auto type = dyn_cast<MemRefType>(arg.getType());
      if (!type)
        continue;
      if (Operation *def = arg.getDefiningOp())
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPointToStart(&func.getBody().front());
      SmallPtrSet<Operation *, 4> ours;
      SmallVector<Value> sizes;
      for (int64_t d = 0; d < type.getRank(); ++d)
        if (type.isDynamicDim(d)) {
          auto dim = memref::DimOp::create(b, loc, arg, d);
          ours.insert(dim);
          sizes.push_back(dim);
        }
      Value start = gpu::WaitOp::create(b, loc, token, {}).getAsyncToken();
      auto dev = gpu::AllocOp::create(b, loc, type, token, {start}, sizes, {});
      Value done = dev.getAsyncToken();
      auto blockArg = dyn_cast<BlockArgument>(arg);
      bool isOutput = blockArg && blockArg.getArgNumber() >= numArgs - numOutputs;
      if (constant && type.hasStaticShape()) {
        // A constant never changes: the runtime keeps a device copy (kiln_gpu.h's resident
        // buffers), so the copy below reads device memory after the first call.
        auto addr = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, arg);
        ours.insert(addr);
        Value a64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), addr);
        int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
        Value n = arith::ConstantIntOp::create(b, loc, b.getI64Type(), bytes);
        func::CallOp::create(b, loc, kResidentConstant, TypeRange{}, ValueRange{a64, n});
        declareResidentConstant = true;
      }
      if (!isOutput) {
        auto copy = gpu::MemcpyOp::create(b, loc, token, {done}, dev.getMemref(), arg);
        ours.insert(copy);
        done = copy.getAsyncToken();
      }
      gpu::WaitOp::create(b, loc, Type(), {done});
      arg.replaceAllUsesExcept(dev.getMemref(), ours);
      copies.push_back({arg, dev.getMemref()});
    }
    func.walk([&](func::ReturnOp ret) {
      OpBuilder rb(ret);
      Value t = gpu::WaitOp::create(rb, loc, token, {}).getAsyncToken();
      for (auto [host, dev] : copies)
        if (auto arg = dyn_cast<BlockArgument>(host);
            arg && arg.getArgNumber() >= numArgs - numOutputs)
          t = gpu::MemcpyOp::create(rb, loc, token, {t}, host, dev).getAsyncToken();
      for (auto [host, dev] : copies)
        t = gpu::DeallocOp::create(rb, loc, token, {t}, dev).getAsyncToken();
      gpu::WaitOp::create(rb, loc, Type(), {t});
    });
  }
};

struct KilnGpuAsyncChain : impl::KilnGpuAsyncChainBase<KilnGpuAsyncChain> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.getBody().hasOneBlock())
        continue;
      // A GPU op under host control flow (not expected after kiln-gpu-serial-kernels) keeps
      // its own synchronization: such a function is left as it is.
      bool nested = false;
      func.walk([&](Operation *op) {
        if (isa<gpu::GPUDialect>(op->getDialect()) && op->getParentOp() != func &&
            !op->getParentOfType<gpu::LaunchOp>())
          nested = true;
      });
      if (!nested && failed(chain(func)))
        return signalPassFailure();
    }
  }

  LogicalResult chain(func::FuncOp func) {
    IRRewriter b(&getContext());
    auto tokenType = gpu::AsyncTokenType::get(&getContext());
    Value current; // the last op of the open chain; null when none is open
    auto open = [&](Operation *before) {
      b.setInsertionPoint(before);
      current = gpu::WaitOp::create(b, before->getLoc(), tokenType, {}).getAsyncToken();
    };
    auto close = [&](Operation *before) {
      if (!current)
        return;
      b.setInsertionPoint(before);
      gpu::WaitOp::create(b, before->getLoc(), Type(), {current});
      current = nullptr;
    };
    for (Operation &op : llvm::make_early_inc_range(func.getBody().front())) {
      if (auto wait = dyn_cast<gpu::WaitOp>(op)) {
        // The chain orders everything: a new stream joins it, a host wait goes away.
        if (Value token = wait.getAsyncToken()) {
          if (!current)
            open(wait);
          token.replaceAllUsesWith(current);
        }
        b.eraseOp(wait);
        continue;
      }
      if (auto async = dyn_cast<gpu::AsyncOpInterface>(op)) {
        OperandRange deps = async.getAsyncDependencies();
        if (deps.size() > 1)
          return op.emitOpError("kiln-gpu-async-chain: more than one async dependency");
        if (!current)
          open(&op);
        if (!async.getAsyncToken()) {
          auto launch = dyn_cast<gpu::LaunchFuncOp>(op);
          if (!launch) { // a synchronous copy or allocation: it waits for the chain
            close(&op);
            continue;
          }
          b.setInsertionPoint(launch);
          std::optional<gpu::KernelDim3> cluster;
          if (launch.hasClusterSize())
            cluster = launch.getClusterSizeOperandValues();
          auto made = gpu::LaunchFuncOp::create(
              b, launch.getLoc(), launch.getKernelAttr(), launch.getGridSizeOperandValues(),
              launch.getBlockSizeOperandValues(), launch.getDynamicSharedMemorySize(),
              launch.getKernelOperands(), tokenType, ValueRange{current}, cluster);
          b.eraseOp(launch);
          current = made.getAsyncToken();
          continue;
        }
        if (deps.empty())
          async.addAsyncDependency(current);
        else
          op.setOperand(deps.getBeginOperandIndex(), current);
        current = async.getAsyncToken();
        continue;
      }
      // Returns, calls and other host ops that may touch memory wait for the chain (but not
      // the registration of a constant, which touches no buffer).
      if (auto call = dyn_cast<func::CallOp>(op); call && call.getCallee() == kResidentConstant)
        continue;
      if (op.hasTrait<OpTrait::IsTerminator>() || !isMemoryEffectFree(&op))
        close(&op);
    }
    return success();
  }
};

/// memref.copy as linalg.copy, so that it becomes a kernel like every other loop nest.
struct GpuCopyToLinalgPass : PassWrapper<GpuCopyToLinalgPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GpuCopyToLinalgPass)
  StringRef getArgument() const final { return "kiln-gpu-copy-to-linalg"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<linalg::LinalgDialect>();
  }
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp op) { copies.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (memref::CopyOp op : copies) {
      rewriter.setInsertionPoint(op);
      linalg::CopyOp::create(rewriter, op.getLoc(), op.getSource(), op.getTarget());
      rewriter.eraseOp(op);
    }
  }
};

/// A linalg op with no parallel loop (a reduction to a scalar: a mean loss, a global norm; an
/// op on 0-d buffers) would become loops on the host over device memory. Each goes into a
/// one-iteration scf.parallel, which becomes a kernel of one thread: slow for large reductions,
/// but those in a train step are small (the batch's losses), and the host never dereferences
/// a device pointer.
struct GpuSerialKernelsPass : PassWrapper<GpuSerialKernelsPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GpuSerialKernelsPass)
  StringRef getArgument() const final { return "kiln-gpu-serial-kernels"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<scf::SCFDialect, arith::ArithDialect>();
  }
  void runOnOperation() override {
    IRRewriter b(&getContext());
    // Parallel loops first: a reduction loop outside a parallel one (a bias gradient sums over
    // (batch, y, x) for each channel) would stay on the host and launch one kernel per
    // iteration. Such ops are generalized and their loops interchanged.
    SmallVector<linalg::LinalgOp> reorder;
    getOperation().walk([&](linalg::LinalgOp op) {
      SmallVector<utils::IteratorType> its = op.getIteratorTypesArray();
      bool seenReduction = false, bad = false;
      for (utils::IteratorType it : its) {
        if (it != utils::IteratorType::parallel)
          seenReduction = true;
        else if (seenReduction)
          bad = true;
      }
      if (bad && !op->getParentOfType<scf::ParallelOp>())
        reorder.push_back(op);
    });
    for (linalg::LinalgOp op : reorder) {
      b.setInsertionPoint(op);
      linalg::GenericOp generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        FailureOr<linalg::GenericOp> g = linalg::generalizeNamedOp(b, op);
        if (failed(g))
          continue;
        generic = *g;
      }
      SmallVector<unsigned> order;
      SmallVector<utils::IteratorType> its = generic.getIteratorTypesArray();
      for (unsigned i = 0; i < its.size(); ++i)
        if (its[i] == utils::IteratorType::parallel)
          order.push_back(i);
      for (unsigned i = 0; i < its.size(); ++i)
        if (its[i] != utils::IteratorType::parallel)
          order.push_back(i);
      (void)linalg::interchangeGenericOp(b, generic, order);
    }

    SmallVector<Operation *> serial;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op.getNumParallelLoops() == 0 && !op->getParentOfType<scf::ParallelOp>())
        serial.push_back(op);
    });
    // Loops that are not linalg ops (Embedding's gradient: a scatter-add over the batch's
    // indices, whose iterations may hit the same row) run as one-thread kernels too.
    for (Operation &op : getOperation().getBody().getOps())
      if (isa<scf::ForOp>(op) && op.getNumResults() == 0)
        serial.push_back(&op);
    for (Operation *op : serial) {
      Location loc = op->getLoc();
      b.setInsertionPoint(op);
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      auto par = scf::ParallelOp::create(b, loc, ValueRange{zero}, ValueRange{one},
                                         ValueRange{one});
      op->moveBefore(par.getBody()->getTerminator());
    }
  }
};

} // namespace

void buildLinalgToGpuPipeline(OpPassManager &pm, const PipelineOptions &options) {
  // Bias adds and activations join one loop nest each: they ride in one kernel.
  if (options.fusion)
    pm.addNestedPass<func::FuncOp>(createLinalgElementwiseOpFusionPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Narrow reductions (bias and filter gradients) as partials over many threads plus a fold.
  pm.addNestedPass<func::FuncOp>(createKilnGpuSplitReductions());
  // tanh, erf, exp as arith polynomials: the same approximations as the CPU path, no libdevice.
  pm.addNestedPass<func::FuncOp>(createKilnExpandMath());
  pm.addPass(createKilnGpuMarkOutputs());

  // Bufferize as the CPU path does: identity-layout arguments, results as out-params.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.hoistDynamicAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  // Every intermediate is freed; kiln-gpu-host-buffers turns the frees into gpu.dealloc.
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  pm.addNestedPass<func::FuncOp>(std::make_unique<GpuCopyToLinalgPass>());
  // One scf.parallel per linalg op; reductions stay sequential scf.for inside it.
  pm.addNestedPass<func::FuncOp>(std::make_unique<GpuSerialKernelsPass>());
  // Reductions accumulate in a register; the rest become plain parallel loops.
  pm.addNestedPass<func::FuncOp>(createKilnGpuReductionLoops());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  KilnGpuMapLoopsOptions map;
  map.blockSize = kGpuBlockSize;
  pm.addNestedPass<func::FuncOp>(createKilnGpuMapLoops(map));
  // Outer loop -> block x, inner loop -> thread x, anything deeper stays sequential.
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  // Host buffers copied in and out, intermediates in device memory.
  pm.addPass(createKilnGpuHostBuffers());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Each gpu.launch becomes a gpu.func in its own gpu.module, launched by gpu.launch_func.
  pm.addPass(createGpuKernelOutliningPass());
  // One stream per call, no host synchronization between its operations.
  pm.addPass(createKilnGpuAsyncChain());

  GpuNVVMAttachTargetOptions target;
  target.chip = options.gpuChip;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // Kernels: gpu/arith/memref/math -> NVVM and LLVM dialects.
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());
  // Host: launches, allocations and copies become mgpu* runtime calls (runtime/gpu/).
  pm.addPass(createEmitCInterfacePass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  // Kernels -> PTX text (the driver JIT-compiles it for the GPU at hand; no CUDA needed here).
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createCanonicalizerPass());
}

void registerGpuTranslations(DialectRegistry &registry) {
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerGPUDialectTranslation(registry);
  // gpu.binary + gpu.launch_func -> the PTX as a global, module load in a constructor.
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
  registerNVVMDialectTranslation(registry);
}

void prepareGpuContext(MLIRContext *ctx) {
  prepareContext(ctx);
  DialectRegistry registry;
  registerGpuTranslations(registry);
  ctx->appendDialectRegistry(registry);
}

void registerKilnGpuPipeline() {
  struct CliOptions : PassPipelineOptions<CliOptions> {
    Option<std::string> gpuChip{*this, "gpu-chip",
                                llvm::cl::desc("NVIDIA chip the PTX is for (sm_90, sm_80, ...)"),
                                llvm::cl::init("sm_90")};
  };
  PassPipelineRegistration<CliOptions>(
      "kiln-linalg-to-gpu",
      "linalg on tensors -> bufferize -> GPU kernels -> NVVM -> PTX; host code in LLVM dialect",
      [](OpPassManager &pm, const CliOptions &cli) {
        PipelineOptions options;
        options.device = Device::GPU;
        options.gpuChip = cli.gpuChip;
        buildLinalgToGpuPipeline(pm, options);
      });
  registerKilnGpuPasses();
}

FailureOr<std::string> extractPtx(ModuleOp module) {
  std::string out;
  llvm::raw_string_ostream os(out);
  for (auto binary : module.getOps<gpu::BinaryOp>())
    for (Attribute attr : binary.getObjects()) {
      auto object = dyn_cast<gpu::ObjectAttr>(attr);
      if (!object || object.getFormat() != gpu::CompilationTarget::Assembly)
        return mlir::emitError(binary.getLoc(), "kiln: gpu.binary @")
               << binary.getSymName() << " holds no PTX text";
      StringRef ptx = object.getObject().getValue().rtrim(StringRef("\0", 1));
      os << "// kernel module @" << binary.getSymName() << "\n" << ptx;
      if (!out.empty() && out.back() != '\n')
        os << "\n";
    }
  if (out.empty())
    return mlir::emitError(module.getLoc(), "kiln: the module has no GPU kernels");
  return out;
}

} // namespace mlir::kiln
