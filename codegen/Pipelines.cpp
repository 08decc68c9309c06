//===- Pipelines.cpp - the compile pipelines from kiln to LLVM --------------===//
#include "codegen/Pipelines.h"
#include "codegen/GpuPipeline.h"
#include "codegen/IRDump.h"
#include "codegen/Passes.h"
#include "codegen/Registration.h"
#include "passes/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

namespace mlir::kiln {

std::optional<Stage> parseStage(StringRef name) {
  return llvm::StringSwitch<std::optional<Stage>>(name)
      .Case("kiln", Stage::Kiln)
      .Case("linalg", Stage::Linalg)
      .Case("llvm-dialect", Stage::LLVMDialect)
      .Case("llvm-ir", Stage::LLVMIR)
      .Case("asm", Stage::Asm)
      .Case("obj", Stage::Obj)
      .Case("ptx", Stage::Ptx)
      .Default(std::nullopt);
}

namespace {
/// Gives every public function a C interface wrapper (`_mlir_ciface_<name>`) taking memref
/// descriptors by pointer: the ABI of generated code.
struct EmitCInterfacePass : PassWrapper<EmitCInterfacePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(EmitCInterfacePass)
  StringRef getArgument() const final { return "kiln-emit-c-interface"; }
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal())
        func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                      UnitAttr::get(&getContext()));
  }
};

/// Rewrites `memref.copy` as `linalg.copy`, which becomes loops: the LLVM lowering of a
/// strided memref.copy calls `memrefCopy` from MLIR's runtime library, which neither the JIT
/// nor an embedded object has.
struct CopyToLinalgPass : PassWrapper<CopyToLinalgPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(CopyToLinalgPass)
  StringRef getArgument() const final { return "kiln-copy-to-linalg"; }
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
} // namespace

bool isHostTriple(StringRef triple) {
  if (triple.empty())
    return true;
  llvm::Triple host(llvm::sys::getProcessTriple()), t(llvm::Triple::normalize(triple));
  return t.getArch() == host.getArch() && t.getOS() == host.getOS();
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const PipelineOptions &options,
                                                         std::string &err) {
  llvm::Triple host(llvm::sys::getProcessTriple());
  llvm::Triple triple = options.targetTriple.empty()
                            ? host
                            : llvm::Triple(llvm::Triple::normalize(options.targetTriple));
  bool cross = !isHostTriple(options.targetTriple);
  if (cross) {
    // Another architecture needs its backend; LLVM's shared library has them all.
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  } else {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  }
  std::string lookupErr;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, lookupErr);
  if (!target) {
    err = "unknown target triple '" + options.targetTriple + "'";
    return nullptr;
  }
  std::string cpu = options.targetCpu, features;
  if (cpu.empty() || cpu == "native") {
    if (cross) {
      err = "--target-cpu=native describes this machine; name a CPU of '" + triple.str() +
            "' (e.g. generic)";
      return nullptr;
    }
    cpu = llvm::sys::getHostCPUName().str();
    for (auto &f : llvm::sys::getHostCPUFeatures())
      features += (f.second ? "+" : "-") + f.first().str() + ",";
  } else if (!std::unique_ptr<llvm::MCSubtargetInfo>(target->createMCSubtargetInfo(triple, "", ""))
                  ->isCPUStringValid(cpu)) {
    // Asked of a generic subtarget: one made for an unknown CPU complains on stderr.
    err = "unknown CPU '" + cpu + "' for " + triple.getArchName().str();
    return nullptr;
  }
  unsigned optLevel = options.optLevel;
  auto level = optLevel == 0   ? llvm::CodeGenOptLevel::None
               : optLevel == 1 ? llvm::CodeGenOptLevel::Less
               : optLevel == 2 ? llvm::CodeGenOptLevel::Default
                               : llvm::CodeGenOptLevel::Aggressive;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt, level));
}

namespace {
/// f32 lanes per vector register and the accumulators a register tile may hold on the
/// target: AVX-512 has 32 registers of 16 lanes, AVX 16 of 8; otherwise assume SSE (or
/// another target's 128-bit vectors).
std::pair<int64_t, int64_t> registerTileShape(const PipelineOptions &options) {
  std::string err;
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(options, err);
  if (!tm)
    return {8, 12};
  if (!tm->getTargetTriple().isX86())
    return {4, 12}; // 128-bit vectors (NEON and most others)
  const llvm::MCSubtargetInfo *sti = tm->getMCSubtargetInfo();
  if (sti->checkFeatures("+avx512f"))
    return {16, 24};
  if (sti->checkFeatures("+avx"))
    return {8, 12};
  return {4, 12};
}
} // namespace

std::unique_ptr<Pass> createEmitCInterfacePass() { return std::make_unique<EmitCInterfacePass>(); }

void buildKilnToLinalgPipeline(OpPassManager &pm, const PipelineOptions &options) {
  // Every kiln lowering needs ranked operands with a static shape except the batch.
  pm.addNestedPass<func::FuncOp>(createKilnShapeInference());
  // kiln.grad -> backward ops, before anything lowers.
  pm.addNestedPass<func::FuncOp>(createKilnAutodiff());
  // Folds inference-mode dropout and constant-only subgraphs before they are lowered.
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createKilnLowerToLinalg());
  // The lowering leaves tensor.dim chains and duplicate fills that later passes would copy.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void buildLinalgToLLVMPipeline(OpPassManager &pm, const PipelineOptions &options) {
  // Bias adds, activations and softmax steps become one loop nest each instead of many.
  if (options.fusion)
    pm.addNestedPass<func::FuncOp>(createLinalgElementwiseOpFusionPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.tileAndVectorize) {
    if (options.fusion && options.fuseImageChains) {
      // conv -> bias/activation -> pool one image at a time: intermediates stay in cache.
      pm.addNestedPass<func::FuncOp>(createKilnFuseImageChains());
      pm.addPass(createCanonicalizerPass());
    }
    // Register tiles for pooling (and matmul/conv without microkernels); the rest stays for
    // LLVM's loop vectorizer.
    KilnTileAndVectorizeOptions tiling;
    tiling.contractions = !options.microkernels;
    pm.addNestedPass<func::FuncOp>(createKilnTileAndVectorize(tiling));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
  }
  // tanh, erf, exp become arith polynomials: vectorizable, and no libm symbol to resolve.
  pm.addNestedPass<func::FuncOp>(createKilnExpandMath());

  // Tensors -> buffers across the whole module; arguments and results are plain strided-free
  // memrefs so that the C caller passes contiguous arrays.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  // Results become out-params: the caller allocates outputs (dynamic batch included).
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.hoistDynamicAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  if (options.tileAndVectorize) {
    // The per-image scratch buffers of fused chains: one allocation per call, not per image.
    pm.addNestedPass<func::FuncOp>(bufferization::createBufferLoopHoistingPass());
    if (options.microkernels) {
      // conv2d and matmul become register-blocked FMA loops sized for the target's vectors.
      auto [lanes, accumulators] = registerTileShape(options);
      KilnLowerToMicrokernelsOptions kernels;
      kernels.vectorSize = lanes;
      kernels.accumulators = accumulators;
      pm.addNestedPass<func::FuncOp>(createKilnLowerToMicrokernels(kernels));
    }
    // Keeps pooling (and matmul/conv) accumulators in registers across the reduction loops.
    pm.addNestedPass<func::FuncOp>(createKilnHoistVectorTransfers());
  }
  if (options.planMemory)
    // Intermediates become views into the caller's workspace: nothing to allocate or free.
    pm.addPass(createKilnPlanMemory());
  else
    // Frees every intermediate buffer: repeated calls must not leak.
    bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  pm.addNestedPass<func::FuncOp>(std::make_unique<CopyToLinalgPass>());
  // Whatever linalg is left (elementwise, fills, copies) becomes scalar loops.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // Masked transfers (the dynamic batch tail of a matmul) fold their masks in.
  pm.addNestedPass<func::FuncOp>(vector::createLowerVectorMaskPass());
  // n-D transfers become unrolled 1-D transfers that map onto vector loads and stores.
  pm.addNestedPass<func::FuncOp>(
      createConvertVectorToSCFPass(VectorTransferToSCFOptions().enableFullUnroll(true)));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(std::make_unique<EmitCInterfacePass>());
  // Contractions become outer products (broadcast + FMA rows), which map well onto AVX.
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.vectorContractLowering = vector::VectorContractLowering::OuterProduct;
  vectorToLLVM.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addNestedPass<func::FuncOp>(createConvertMathToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  // Subviews and reshapes become explicit offset/stride arithmetic before memref lowering.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  // Allocations through kiln's checked allocator (JIT only; objects keep malloc / free).
  memrefToLLVM.useGenericFunctions = options.checkedAllocations;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerKilnPipelines() {
  struct CliOptions : PassPipelineOptions<CliOptions> {
    Option<bool> tileAndVectorize{*this, "tile-and-vectorize",
                                  llvm::cl::desc("Tile and vectorize matmul and conv"),
                                  llvm::cl::init(true)};
    Option<bool> fuseImageChains{
        *this, "fuse-image-chains",
        llvm::cl::desc("Run conv -> bias/activation -> pool chains one image at a time"),
        llvm::cl::init(true)};
    Option<bool> fusion{*this, "fusion",
                        llvm::cl::desc("Fuse elementwise chains and image chains (off: to "
                                       "measure what fusion saves)"),
                        llvm::cl::init(true)};
    Option<bool> microkernels{
        *this, "microkernels",
        llvm::cl::desc("Register-blocked conv2d/matmul kernels after bufferization"),
        llvm::cl::init(true)};
    Option<std::string> targetCpu{*this, "target-cpu",
                                  llvm::cl::desc("CPU to tune for ('native': the host)"),
                                  llvm::cl::init("native")};
  };
  PassPipelineRegistration<>("kiln-to-linalg",
                             "kiln -> shape inference -> linalg on tensors",
                             [](OpPassManager &pm) { buildKilnToLinalgPipeline(pm, {}); });
  PassPipelineRegistration<CliOptions>(
      "kiln-linalg-to-llvm", "linalg on tensors -> tile/vectorize -> bufferize -> LLVM dialect",
      [](OpPassManager &pm, const CliOptions &cli) {
        PipelineOptions options;
        options.tileAndVectorize = cli.tileAndVectorize;
        options.fuseImageChains = cli.fuseImageChains;
        options.fusion = cli.fusion;
        options.microkernels = cli.microkernels;
        options.targetCpu = cli.targetCpu;
        buildLinalgToLLVMPipeline(pm, options);
      });
}

/// Makes sure the context knows every interface the pipelines rely on (bufferization,
/// tiling, LLVM translation), whoever created it.
void prepareContext(MLIRContext *ctx) {
  DialectRegistry registry;
  registerAllKilnDialects(registry);
  ctx->appendDialectRegistry(registry);
}

LogicalResult lowerToStage(ModuleOp module, Stage stage, const PipelineOptions &options) {
  bool gpu = options.device == Device::GPU;
  if (gpu)
    prepareGpuContext(module.getContext());
  else
    prepareContext(module.getContext());
  if (stage == Stage::Kiln)
    return mlir::verify(module.getOperation());
  PassManager pm(module.getContext());
  buildKilnToLinalgPipeline(pm, options);
  if (stage != Stage::Linalg && gpu)
    buildLinalgToGpuPipeline(pm, options);
  else if (stage != Stage::Linalg)
    buildLinalgToLLVMPipeline(pm, options);
  if (!options.dumpIRDir.empty() && failed(enableIRDumps(pm, options.dumpIRDir)))
    return failure();
  return pm.run(module);
}


FailureOr<std::string> translateModule(ModuleOp module, Stage stage,
                                       const PipelineOptions &options) {
  if (options.device == Device::GPU)
    prepareGpuContext(module.getContext());
  else
    prepareContext(module.getContext());
  if (stage != Stage::LLVMIR && stage != Stage::Asm && stage != Stage::Obj)
    return mlir::emitError(module.getLoc(), "kiln: translateModule needs stage llvm-ir, asm or obj");
  std::string err;
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(options, err);
  if (!tm)
    return mlir::emitError(module.getLoc(), "kiln: ") << err;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return mlir::emitError(module.getLoc(), "kiln: translation to LLVM IR failed");
  llvmModule->setTargetTriple(tm->getTargetTriple());
  llvmModule->setDataLayout(tm->createDataLayout());
  auto optimize = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0, tm.get());
  if (llvm::Error e = optimize(llvmModule.get()))
    return mlir::emitError(module.getLoc(), "kiln: LLVM optimization failed: ") << llvm::toString(std::move(e));

  std::string out;
  llvm::raw_string_ostream os(out);
  if (stage == Stage::LLVMIR) {
    llvmModule->print(os, nullptr);
    return out;
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream bos(buffer);
  llvm::legacy::PassManager codegen;
  auto fileType = stage == Stage::Asm ? llvm::CodeGenFileType::AssemblyFile
                                      : llvm::CodeGenFileType::ObjectFile;
  if (tm->addPassesToEmitFile(codegen, bos, nullptr, fileType))
    return mlir::emitError(module.getLoc(), "kiln: the target cannot emit this file type");
  codegen.run(*llvmModule);
  return std::string(buffer.begin(), buffer.end());
}

} // namespace mlir::kiln
