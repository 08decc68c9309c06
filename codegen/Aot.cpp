//===- Aot.cpp - ahead-of-time objects: baked weights, a plain C entry point, its header -===//
#include "codegen/Aot.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace mlir::kiln {

namespace {
// The generated file PredictMain.c.inc holds PredictMain.c as a string literal.
const char kPredictMain[] =
#include "codegen/PredictMain.c.inc"
    ;
const char kGpuRuntime[] =
#include "codegen/CudaRuntime.c.inc"
    ;
const char kGpuRuntimeHeader[] =
#include "codegen/kiln_gpu.h.inc"
    ;

int64_t numElements(ArrayRef<int64_t> shape, int64_t batch) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d < 0 ? batch : d;
  return n;
}

/// The row-major strides of `shape` with the batch set to `batch`.
SmallVector<Value> stridesOf(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Value batch) {
  auto i64 = b.getI64Type();
  SmallVector<Value> strides(shape.size());
  int64_t inner = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    strides[i] = LLVM::ConstantOp::create(b, loc, i64, inner);
    assert(i == 0 || shape[i] >= 0);
    inner *= shape[i] < 0 ? 1 : shape[i];
  }
  (void)batch;
  return strides;
}
} // namespace

uint64_t weightsFingerprint(const AotModel &model) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  };
  mix(model.weights.size());
  for (const AotArray &w : model.weights) {
    mix(w.shape.size());
    for (int64_t d : w.shape)
      mix(uint64_t(d));
  }
  return h;
}

std::vector<int64_t> weightOffsets(const AotModel &model, int64_t &totalBytes) {
  std::vector<int64_t> offsets;
  int64_t at = kWeightsHeaderBytes;
  for (const AotArray &w : model.weights) {
    offsets.push_back(at);
    at += (4 * numElements(w.shape, 1) + 63) / 64 * 64;
  }
  totalBytes = at;
  return offsets;
}

std::string weightsBlob(const AotModel &model) {
  int64_t total = 0;
  std::vector<int64_t> offsets = weightOffsets(model, total);
  std::string blob(size_t(total), '\0');
  auto put = [&](size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      blob[at + i] = char((v >> (8 * i)) & 0xff); // little-endian whatever the host
  };
  std::memcpy(blob.data(), kWeightsMagic, 8);
  put(8, kWeightsFormatVersion, 4);
  put(12, uint32_t(kAotAbiVersion), 4);
  put(16, weightsFingerprint(model), 8);
  put(24, model.weights.size(), 8);
  put(32, uint64_t(total - kWeightsHeaderBytes), 8);
  for (auto [w, at] : llvm::zip_equal(model.weights, offsets)) {
    int64_t n = numElements(w.shape, 1);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, w.data + i, 4);
      put(size_t(at + 4 * i), bits, 4);
    }
  }
  return blob;
}

int64_t WorkspacePlan::bytes(int64_t batch) const {
  int64_t best = 0;
  for (auto [a, b] : ends)
    best = std::max(best, a * batch + b);
  return best;
}

bool isValidPrefix(StringRef prefix) {
  if (prefix.empty() || std::isdigit(static_cast<unsigned char>(prefix[0])))
    return false;
  return llvm::all_of(prefix, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

FailureOr<WorkspacePlan> readWorkspacePlan(ModuleOp module, StringRef func) {
  auto plans = module->getAttrOfType<DictionaryAttr>("kiln.memory_plan");
  auto plan = plans ? plans.getAs<DictionaryAttr>(func) : DictionaryAttr();
  if (!plan)
    return mlir::emitError(module.getLoc(), "kiln: no memory plan for @")
           << func << " (lower with PipelineOptions::planMemory)";
  WorkspacePlan result;
  auto ends = plan.getAs<DenseI64ArrayAttr>("ends");
  auto naive = plan.getAs<DenseI64ArrayAttr>("naive");
  auto buffers = plan.getAs<IntegerAttr>("buffers");
  if (!ends || !naive || naive.size() != 2 || ends.size() % 2 || !buffers)
    return mlir::emitError(module.getLoc(), "kiln: malformed kiln.memory_plan for @") << func;
  for (int64_t i = 0; i < ends.size(); i += 2)
    result.ends.emplace_back(ends[i], ends[i + 1]);
  result.naive = {naive[0], naive[1]};
  result.buffers = buffers.getInt();
  return result;
}

LogicalResult embedModel(ModuleOp module, const AotModel &model) {
  MLIRContext *ctx = module.getContext();
  Location loc = module.getLoc();
  if (!isValidPrefix(model.prefix))
    return mlir::emitError(loc, "kiln: the prefix '")
           << model.prefix << "' is not a C identifier";
  auto predict = module.lookupSymbol<LLVM::LLVMFuncOp>("predict");
  auto sizeFn = module.lookupSymbol<LLVM::LLVMFuncOp>("predict_workspace_size");
  if (!predict || predict.isExternal() || (!sizeFn && !model.gpu))
    return mlir::emitError(loc, "kiln: embedModel needs @predict and @predict_workspace_size "
                                "lowered to the LLVM dialect");

  // The lowered @predict takes every memref exploded: allocated and aligned pointers, offset,
  // sizes, strides. Inputs, weights, outputs, then the workspace (a 1-D i8 buffer).
  SmallVector<std::vector<int64_t>> memrefShapes;
  for (const auto *list : {&model.inputs, &model.weights, &model.outputs})
    for (const AotArray &a : *list)
      memrefShapes.push_back(a.shape);
  if (!model.gpu)
    memrefShapes.push_back({-1});
  unsigned expected = 0;
  for (const auto &s : memrefShapes)
    expected += 3 + 2 * s.size();
  if (predict.getNumArguments() != expected)
    return mlir::emitError(loc, "kiln: @predict has ")
           << predict.getNumArguments() << " lowered arguments, the model's interface needs "
           << expected;

  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto i64 = b.getI64Type();
  auto i32 = b.getI32Type();
  auto f32 = b.getF32Type();

  if (model.externalWeights && model.gpu)
    return mlir::emitError(loc, "kiln: weights from a file are for CPU objects");
  // Weights: one read-only, cache-line-aligned global each; or, from a file, one pointer to
  // the blob that <prefix>_init checked.
  SmallVector<LLVM::GlobalOp> globals;
  LLVM::GlobalOp blobPtr;
  if (model.externalWeights) {
    blobPtr = LLVM::GlobalOp::create(b, loc, ptr, /*isConstant=*/false, LLVM::Linkage::Internal,
                                     model.prefix + "_weights", Attribute(), /*alignment=*/8);
    OpBuilder ib = OpBuilder::atBlockBegin(b.createBlock(&blobPtr.getInitializerRegion()));
    LLVM::ReturnOp::create(ib, loc, ValueRange{LLVM::ZeroOp::create(ib, loc, ptr)});
    b.setInsertionPointToEnd(module.getBody());
  }
  for (auto [i, w] : llvm::enumerate(model.externalWeights ? ArrayRef<AotArray>()
                                                           : ArrayRef<AotArray>(model.weights))) {
    int64_t n = numElements(w.shape, 1);
    auto tensorType = RankedTensorType::get({n}, f32);
    auto value = DenseElementsAttr::get(tensorType, ArrayRef<float>(w.data, n));
    globals.push_back(LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(f32, n), /*isConstant=*/true, LLVM::Linkage::Internal,
        llvm::formatv("{0}_weight{1}", model.prefix, i).str(), value, /*alignment=*/64));
  }

  // int64_t <prefix>_workspace_size(int64_t batch)
  auto sizeWrapper = LLVM::LLVMFuncOp::create(b, loc, model.prefix + "_workspace_size",
                                              LLVM::LLVMFunctionType::get(i64, {i64}));
  {
    OpBuilder fb = OpBuilder::atBlockBegin(sizeWrapper.addEntryBlock(b));
    Value bytes = model.gpu
                      ? LLVM::ConstantOp::create(fb, loc, i64, 0).getResult()
                      : LLVM::CallOp::create(fb, loc, sizeFn, sizeWrapper.getArgument(0)).getResult();
    LLVM::ReturnOp::create(fb, loc, bytes);
  }

  // int <prefix>_predict(const float *x..., float *y..., int64_t batch, void *workspace)
  SmallVector<Type> params(model.inputs.size() + model.outputs.size(), ptr);
  params.push_back(i64);
  params.push_back(ptr);
  auto wrapper = LLVM::LLVMFuncOp::create(b, loc, model.prefix + "_predict",
                                          LLVM::LLVMFunctionType::get(i32, params));
  Block *entry = wrapper.addEntryBlock(b);
  Block *fail = wrapper.addBlock();
  Block *run = wrapper.addBlock();
  OpBuilder fb = OpBuilder::atBlockBegin(entry);
  Value batch = wrapper.getArgument(params.size() - 2);
  Value ws = wrapper.getArgument(params.size() - 1);
  Value zero = LLVM::ConstantOp::create(fb, loc, i64, 0);
  Value null = LLVM::ZeroOp::create(fb, loc, ptr);
  // Refuse a batch below 1, a null buffer, or a null workspace when one is needed.
  Value bad = LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::sle, batch, zero);
  for (unsigned i = 0; i + 2 < params.size(); ++i)
    bad = LLVM::OrOp::create(
        fb, loc, bad, LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::eq, wrapper.getArgument(i), null));
  Value wsBytes = model.gpu ? zero : LLVM::CallOp::create(fb, loc, sizeFn, batch).getResult();
  Value needWs = LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::sgt, wsBytes, zero);
  Value wsNull = LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::eq, ws, null);
  bad = LLVM::OrOp::create(fb, loc, bad, LLVM::AndOp::create(fb, loc, needWs, wsNull));
  LLVM::CondBrOp::create(fb, loc, bad, fail, run);

  fb.setInsertionPointToStart(fail);
  LLVM::ReturnOp::create(fb, loc, ValueRange{LLVM::ConstantOp::create(fb, loc, i32, 1)});

  fb.setInsertionPointToStart(run);
  Value blob;
  if (model.externalWeights) {
    // No weights yet: <prefix>_init has not accepted a blob.
    blob = LLVM::LoadOp::create(fb, loc, ptr, LLVM::AddressOfOp::create(fb, loc, blobPtr), 8);
    Block *uninit = wrapper.addBlock();
    Block *ready = wrapper.addBlock();
    LLVM::CondBrOp::create(fb, loc, LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::eq, blob, null),
                           uninit, ready);
    fb.setInsertionPointToStart(uninit);
    LLVM::ReturnOp::create(fb, loc, ValueRange{LLVM::ConstantOp::create(fb, loc, i32, 2)});
    fb.setInsertionPointToStart(ready);
  }
  LLVM::LLVMFuncOp gpuStatus;
  if (model.gpu) {
    // The device first: without one, return KILN_GPU_UNAVAILABLE before touching anything.
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto statusType = LLVM::LLVMFunctionType::get(i32, {});
    auto init = LLVM::LLVMFuncOp::create(mb, loc, "kiln_gpu_init", statusType);
    gpuStatus = LLVM::LLVMFuncOp::create(mb, loc, "kiln_gpu_status", statusType);
    Value status = LLVM::CallOp::create(fb, loc, init, ValueRange()).getResult();
    Block *noDevice = wrapper.addBlock();
    Block *device = wrapper.addBlock();
    Value failed = LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::ne, status,
                                        LLVM::ConstantOp::create(fb, loc, i32, 0));
    LLVM::CondBrOp::create(fb, loc, failed, noDevice, device);
    fb.setInsertionPointToStart(noDevice);
    LLVM::ReturnOp::create(fb, loc, status);
    fb.setInsertionPointToStart(device);
  }
  SmallVector<Value> args;
  auto pushMemref = [&](Value base, ArrayRef<int64_t> shape, Value size0) {
    args.push_back(base);
    args.push_back(base);
    args.push_back(LLVM::ConstantOp::create(fb, loc, i64, 0));
    for (auto [i, d] : llvm::enumerate(shape))
      args.push_back(d < 0 ? (i == 0 ? size0 : Value()) : LLVM::ConstantOp::create(fb, loc, i64, d));
    llvm::append_range(args, stridesOf(fb, loc, shape, batch));
  };
  unsigned argIndex = 0;
  for (const AotArray &in : model.inputs)
    pushMemref(wrapper.getArgument(argIndex++), in.shape, batch);
  if (model.externalWeights) {
    int64_t total = 0;
    std::vector<int64_t> offsets = weightOffsets(model, total);
    auto i8 = b.getI8Type();
    for (auto [w, at] : llvm::zip_equal(model.weights, offsets))
      pushMemref(LLVM::GEPOp::create(fb, loc, ptr, i8, blob, ArrayRef<LLVM::GEPArg>{at}),
                 w.shape, Value());
  } else {
    LLVM::LLVMFuncOp resident;
    if (model.gpu) {
      // The weights never change: the runtime keeps device copies after the first call.
      OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
      resident = LLVM::LLVMFuncOp::create(
          mb, loc, "kiln_gpu_resident_constant",
          LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(b.getContext()), {i64, i64}));
    }
    for (auto [g, w] : llvm::zip_equal(globals, model.weights)) {
      Value addr = LLVM::AddressOfOp::create(fb, loc, g);
      if (resident) {
        int64_t bytes = 4;
        for (int64_t d : w.shape)
          bytes *= d;
        LLVM::CallOp::create(fb, loc, resident,
                             ValueRange{LLVM::PtrToIntOp::create(fb, loc, i64, addr),
                                        LLVM::ConstantOp::create(fb, loc, i64, bytes)});
      }
      pushMemref(addr, w.shape, Value());
    }
  }
  for (const AotArray &out : model.outputs)
    pushMemref(wrapper.getArgument(argIndex++), out.shape, batch);
  if (!model.gpu)
    pushMemref(ws, {-1}, wsBytes);
  if (llvm::is_contained(args, Value()))
    return mlir::emitError(loc, "kiln: only the first dimension of an input or output may be "
                                "dynamic (the batch)");
  LLVM::CallOp::create(fb, loc, predict, args);
  // On the GPU a failed launch or copy shows only in the runtime's sticky status.
  Value result = model.gpu ? LLVM::CallOp::create(fb, loc, gpuStatus, ValueRange()).getResult()
                           : LLVM::ConstantOp::create(fb, loc, i32, 0).getResult();
  LLVM::ReturnOp::create(fb, loc, result);

  LLVM::LLVMFuncOp initFn;
  if (model.externalWeights) {
    // int <prefix>_init(const void *weights, int64_t size): the blob's size, alignment and
    // header first; only a blob that passes all of them is kept.
    b.setInsertionPointToEnd(module.getBody());
    initFn = LLVM::LLVMFuncOp::create(b, loc, model.prefix + "_init",
                                      LLVM::LLVMFunctionType::get(i32, {ptr, i64}));
    Block *ientry = initFn.addEntryBlock(b);
    Block *reject = initFn.addBlock();
    Block *header = initFn.addBlock();
    Block *accept = initFn.addBlock();
    OpBuilder ib = OpBuilder::atBlockBegin(ientry);
    Value p = initFn.getArgument(0), size = initFn.getArgument(1);
    int64_t total = 0;
    weightOffsets(model, total);
    Value badArg = LLVM::ICmpOp::create(ib, loc, LLVM::ICmpPredicate::eq, p, LLVM::ZeroOp::create(ib, loc, ptr));
    badArg = LLVM::OrOp::create(ib, loc, badArg,
                                LLVM::ICmpOp::create(ib, loc, LLVM::ICmpPredicate::ne, size,
                                                     LLVM::ConstantOp::create(ib, loc, i64, total)));
    Value addr = LLVM::PtrToIntOp::create(ib, loc, i64, p);
    Value misaligned = LLVM::AndOp::create(ib, loc, addr, LLVM::ConstantOp::create(ib, loc, i64, 3));
    badArg = LLVM::OrOp::create(ib, loc, badArg,
                                LLVM::ICmpOp::create(ib, loc, LLVM::ICmpPredicate::ne, misaligned,
                                                     LLVM::ConstantOp::create(ib, loc, i64, 0)));
    LLVM::CondBrOp::create(ib, loc, badArg, reject, header);
    ib.setInsertionPointToStart(reject);
    LLVM::ReturnOp::create(ib, loc, ValueRange{LLVM::ConstantOp::create(ib, loc, i32, 3)});
    ib.setInsertionPointToStart(header);
    // The header as five little-endian words (x86-64 and AArch64 are little-endian).
    auto word = [&](int64_t at, Type type) -> Value {
      Value a = LLVM::GEPOp::create(ib, loc, ptr, b.getI8Type(), p, ArrayRef<LLVM::GEPArg>{at});
      return LLVM::LoadOp::create(ib, loc, type, a, 1);
    };
    uint64_t magic = 0;
    std::memcpy(&magic, kWeightsMagic, 8);
    auto differs = [&](Value v, Type type, uint64_t want) -> Value {
      return LLVM::ICmpOp::create(ib, loc, LLVM::ICmpPredicate::ne, v,
                                  LLVM::ConstantOp::create(ib, loc, type, int64_t(want)));
    };
    Value badHeader = differs(word(0, i64), i64, magic);
    auto orIn = [&](Value v) { badHeader = LLVM::OrOp::create(ib, loc, badHeader, v); };
    orIn(differs(word(8, i32), i32, kWeightsFormatVersion));
    orIn(differs(word(12, i32), i32, uint32_t(kAotAbiVersion)));
    orIn(differs(word(16, i64), i64, weightsFingerprint(model)));
    orIn(differs(word(24, i64), i64, model.weights.size()));
    orIn(differs(word(32, i64), i64, uint64_t(total - kWeightsHeaderBytes)));
    LLVM::CondBrOp::create(ib, loc, badHeader, reject, accept);
    ib.setInsertionPointToStart(accept);
    LLVM::StoreOp::create(ib, loc, p, LLVM::AddressOfOp::create(ib, loc, blobPtr), 8);
    LLVM::ReturnOp::create(ib, loc, ValueRange{LLVM::ConstantOp::create(ib, loc, i32, 0)});
  }

  // Only the entry points stay visible: two models can then share one program.
  for (auto func : module.getOps<LLVM::LLVMFuncOp>())
    if (!func.isExternal() && func != wrapper && func != sizeWrapper && func != initFn)
      func.setLinkage(LLVM::Linkage::Internal);
  for (auto global : module.getOps<LLVM::GlobalOp>())
    if (global.getSymName() != "llvm.global_ctors" && global.getSymName() != "llvm.global_dtors")
      global.setLinkage(LLVM::Linkage::Internal);
  return success();
}

std::string emitHeader(const AotModel &model, const WorkspacePlan &plan) {
  std::string p = model.prefix, P = StringRef(p).upper();
  std::string guard = P + "_H";
  int64_t weightBytes = 0;
  for (const AotArray &w : model.weights)
    weightBytes += 4 * numElements(w.shape, 1);
  auto shapeList = [](const std::vector<int64_t> &s) {
    std::string out = "{";
    for (size_t i = 0; i < s.size(); ++i)
      out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "}";
  };
  auto kerasShape = [](const std::vector<int64_t> &s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i)
      out += (i ? ", " : "") + (s[i] < 0 ? std::string("batch") : std::to_string(s[i]));
    return out + ")";
  };

  std::string h;
  llvm::raw_string_ostream os(h);
  os << "/* " << p << ".h: the C interface of the kiln model '" << model.modelName << "'.\n"
     << " *\n"
     << " * Generated by kilnc " << kKilnVersion << " (C ABI version " << kAotAbiVersion
     << "); do not edit. The object file that\n"
     << (model.externalWeights
             ? " * goes with it holds the compiled model; its weights come from the blob kilnc\n"
               " * wrote with --weights-file, which the caller loads and passes to " + p + "_init.\n"
               " * The object needs\n"
             : " * goes with it holds the compiled model and its weights (read-only data) and needs\n")
     << (model.gpu ? " * libc, libm and kiln's CUDA runtime shim (libKilnGpuRuntime.a: libdl, pthreads;\n"
                     " * the NVIDIA driver is opened at run time). Its kernels run on the GPU; buffers\n"
                     " * stay in host memory. See docs/GPU.md in kiln's sources.\n"
                   : " * only libc and libm. See docs/AOT.md in kiln's sources.\n")
     << " *\n"
     << " * Usage:\n"
     << (model.externalWeights ? " *   " + p + "_init(blob, blob_size);  (once; the blob stays alive)\n"
                               : std::string())
     << " *   void *ws = malloc(" << p << "_workspace_size(batch));\n"
     << " *   int status = " << p << "_predict(";
  for (const AotArray &a : model.inputs)
    os << a.name << ", ";
  for (const AotArray &a : model.outputs)
    os << a.name << ", ";
  os << "batch, ws);\n"
     << " *\n"
     << " * Buffers are dense, row-major (C order) float arrays, batch first:\n";
  for (const AotArray &a : model.inputs)
    os << " *   in:  " << a.name << kerasShape(a.shape) << "\n";
  for (const AotArray &a : model.outputs)
    os << " *   out: " << a.name << kerasShape(a.shape) << "\n";
  os << " *\n"
     << " * Memory: " << p << "_predict allocates nothing. Every intermediate value lives in the\n"
     << " * caller's workspace of " << p << "_workspace_size(batch) bytes (any alignment works;\n"
     << " * 64 bytes is best), planned statically so that buffers that are not live together\n"
     << " * share bytes: " << plan.bytes(1) << " bytes for batch 1 instead of "
     << plan.naiveBytes(1) << " for " << plan.buffers << " separate buffers.\n"
     << " *\n"
     << " * Threads: " << p << "_predict keeps no state; calls may run at once from several\n"
     << " * threads as long as each has its own workspace and outputs. Inputs may be shared.\n"
     << " */\n"
     << "#ifndef " << guard << "\n#define " << guard << "\n\n#include <stdint.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << "/* The kiln release that generated this file, and the version of the generated C ABI\n"
     << " * (it changes when the signatures, the status codes or the buffer layout change). */\n"
     << "#define " << P << "_KILN_VERSION \"" << kKilnVersion << "\"\n"
     << "#define " << P << "_ABI_VERSION " << kAotAbiVersion << "\n\n"
     << "/* Status codes of " << p << "_predict. */\n"
     << "#define " << P << "_STATUS_OK 0\n"
     << "/* batch < 1, a NULL buffer, or a NULL workspace where one is needed. */\n"
     << "#define " << P << "_STATUS_INVALID_ARGUMENT 1\n"
     << (model.gpu ? "/* Compiled for the GPU: no usable GPU or driver (nothing is touched), or a\n"
                     " * CUDA call failed; the runtime printed why (kiln_gpu_error_message()). */\n"
                     "#define " + P + "_STATUS_DEVICE_UNAVAILABLE 2\n"
                     "#define " + P + "_STATUS_DEVICE_ERROR 3\n"
                   : std::string())
     << (model.externalWeights
             ? "/* " + p + "_predict before " + p + "_init accepted a weights blob. */\n"
               "#define " + P + "_STATUS_NOT_INITIALIZED 2\n"
               "/* " + p + "_init: not this model's blob (size, alignment below 4 bytes, magic,\n"
               " * format or ABI version, or the weights' shapes differ). */\n"
               "#define " + P + "_STATUS_BAD_WEIGHTS 3\n"
             : std::string())
     << "\n"
     << "/* Shapes; -1 is the batch. SAMPLE_SIZE is the number of floats per batch row. */\n"
     << "#define " << P << "_NUM_INPUTS " << model.inputs.size() << "\n"
     << "#define " << P << "_NUM_OUTPUTS " << model.outputs.size() << "\n";
  auto shapes = [&](const char *kind, const std::vector<AotArray> &list) {
    for (auto [i, a] : llvm::enumerate(list)) {
      std::string m = P + "_" + kind + std::to_string(i);
      os << "#define " << m << "_RANK " << a.shape.size() << "\n"
         << "#define " << m << "_SHAPE " << shapeList(a.shape) << "\n"
         << "#define " << m << "_SAMPLE_SIZE " << numElements(a.shape, 1) << "\n";
    }
    if (list.size() == 1) {
      std::string m = P + "_" + kind;
      os << "#define " << m << "_RANK " << P << "_" << kind << "0_RANK\n"
         << "#define " << m << "_SHAPE " << P << "_" << kind << "0_SHAPE\n"
         << "#define " << m << "_SAMPLE_SIZE " << P << "_" << kind << "0_SAMPLE_SIZE\n";
    }
  };
  shapes("INPUT", model.inputs);
  shapes("OUTPUT", model.outputs);
  os << "\n/* Workspace bytes for batch 1 (" << p << "_workspace_size(1)), and the weights'\n"
     << (model.externalWeights ? " * float32 bytes (in the weights blob). */\n"
                               : " * bytes baked into the object's read-only data. */\n")
     << "#define " << P << "_WORKSPACE_BYTES_BATCH1 " << plan.bytes(1) << "\n"
     << "#define " << P << "_WEIGHT_BYTES " << weightBytes << "\n\n";
  if (model.externalWeights) {
    int64_t total = 0;
    weightOffsets(model, total);
    os << "/* The weights blob (--weights-file): its exact size in bytes, and the hash of the\n"
       << " * weights' shapes it must carry (bytes 16-23, little-endian). */\n"
       << "#define " << P << "_WEIGHTS_FILE_BYTES " << total << "\n"
       << "#define " << P << "_WEIGHTS_FINGERPRINT 0x" << llvm::utohexstr(weightsFingerprint(model), true)
       << "ULL\n\n"
       << "/* Checks the weights blob `weights` (`size` bytes, as read from the file; at least\n"
       << " * 4-byte aligned, 64 is best) and keeps a pointer to it: the blob must stay alive and\n"
       << " * unchanged while " << p << "_predict may run. Returns " << P << "_STATUS_OK, or\n"
       << " * " << P << "_STATUS_BAD_WEIGHTS and keeps what it had before. Call it before any\n"
       << " * thread calls " << p << "_predict; it copies and allocates nothing. */\n"
       << "int " << p << "_init(const void *weights, int64_t size);\n\n";
  }
  os << "/* Bytes of workspace " << p << "_predict needs for `batch` rows (batch >= 1). Pure;\n"
     << " * thread-safe. */\n"
     << "int64_t " << p << "_workspace_size(int64_t batch);\n\n"
     << "/* Runs the model on `batch` rows: reads the inputs, writes the outputs (their old\n"
     << " * contents are ignored), uses `workspace` (" << p << "_workspace_size(batch) bytes,\n"
     << " * owned by the caller, contents need no initialization) as scratch. Returns\n"
     << " * " << P << "_STATUS_OK, or " << P << "_STATUS_INVALID_ARGUMENT"
     << (model.externalWeights ? " (or " + P + "_STATUS_NOT_INITIALIZED)" : std::string())
     << " without touching\n"
     << " * anything. Reentrant: each concurrent call needs its own workspace and outputs. */\n"
     << "int " << p << "_predict(";
  for (const AotArray &a : model.inputs)
    os << "const float *" << a.name << ", ";
  for (const AotArray &a : model.outputs)
    os << "float *" << a.name << ", ";
  os << "int64_t batch, void *workspace);\n\n"
     << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << guard << " */\n";
  return h;
}

StringRef predictDriverSource() { return kPredictMain; }
StringRef gpuRuntimeSource() { return kGpuRuntime; }
StringRef gpuRuntimeHeader() { return kGpuRuntimeHeader; }

namespace {

/// Writes `files` into a temporary directory, runs `compiler` on them with `args` (each "{dir}"
/// replaced by the directory, in the arguments and in `.s` files) to link `dir/a.out`, and
/// moves that to `outputPath` (copied next to it, then renamed: a reader never sees half an
/// executable, and a failure leaves no output behind). `what` names the program in errors.
LogicalResult linkProgram(StringRef compiler,
                          ArrayRef<std::pair<std::string, StringRef>> files,
                          ArrayRef<std::string> args, StringRef outputPath, StringRef what,
                          std::string &err) {
  llvm::ErrorOr<std::string> cc = llvm::sys::findProgramByName(compiler);
  if (!cc) {
    err = "cannot find the C compiler '" + compiler.str() + "' (set --cc)";
    return failure();
  }
  llvm::SmallString<128> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("kilnc-exe", dir)) {
    err = "cannot create a temporary directory: " + ec.message();
    return failure();
  }
  auto cleanup = llvm::make_scope_exit([&] { llvm::sys::fs::remove_directories(dir); });
  for (const auto &[name, contents] : files) {
    llvm::SmallString<128> path(dir);
    llvm::sys::path::append(path, name);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    std::string text = contents.str();
    if (StringRef(name).ends_with(".s")) // assembly names its .incbin inputs by {dir}
      for (size_t at; (at = text.find("{dir}")) != std::string::npos;)
        text.replace(at, 5, dir.str().str());
    if (!ec)
      os << text;
    if (ec || os.has_error()) {
      err = "cannot write '" + path.str().str() + "'";
      return failure();
    }
  }
  llvm::SmallString<128> exe(dir);
  llvm::sys::path::append(exe, "a.out");
  std::vector<std::string> storage;
  for (const std::string &a : args) {
    std::string v = a;
    for (size_t at; (at = v.find("{dir}")) != std::string::npos;)
      v.replace(at, 5, dir.str().str());
    storage.push_back(v);
  }
  storage.insert(storage.end(), {"-o", exe.str().str()});
  SmallVector<StringRef> argv{*cc};
  for (const std::string &a : storage)
    argv.push_back(a);
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*cc, argv, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    err = "linking the " + what.str() + " with '" + *cc + "' failed" +
          (message.empty() ? "" : ": " + message);
    return failure();
  }
  std::string temp = outputPath.str() + ".kilnc-tmp";
  std::error_code ec = llvm::sys::fs::copy_file(exe, temp);
  if (!ec)
    ec = llvm::sys::fs::setPermissions(temp, llvm::sys::fs::all_read | llvm::sys::fs::all_exe |
                                                 llvm::sys::fs::owner_write);
  if (!ec)
    ec = llvm::sys::fs::rename(temp, outputPath);
  if (ec) {
    llvm::sys::fs::remove(temp);
    err = "cannot write '" + outputPath.str() + "': " + ec.message();
    return failure();
  }
  return success();
}

} // namespace

LogicalResult linkPredictExecutable(StringRef compiler, StringRef objectBytes, StringRef header,
                                    StringRef outputPath, std::string &err, bool gpu) {
  std::vector<std::pair<std::string, StringRef>> files = {
      {"kiln_model.o", objectBytes},
      {"kiln_model.h", header},
      {"predict_main.c", predictDriverSource()}};
  std::vector<std::string> args = {"-std=c99", "-O2", "-I{dir}", "{dir}/predict_main.c",
                                   "{dir}/kiln_model.o"};
  if (gpu) {
    files.push_back({"kiln_gpu_runtime.c", gpuRuntimeSource()});
    files.push_back({"kiln_gpu.h", gpuRuntimeHeader()});
    args.push_back("{dir}/kiln_gpu_runtime.c");
  }
  args.insert(args.end(), {"-lm", "-pthread"});
  if (gpu)
    args.push_back("-ldl");
  return linkProgram(compiler, files, args, outputPath, "predict program", err);
}

FailureOr<std::string> trainerWrappers(ModuleOp module, std::string &err) {
  std::string out = "/* Generated by kilnc: the packed entry points of a standalone trainer. */\n";
  for (StringRef name : {"grad_step", "apply_step", "eval_step"}) {
    std::string symbol = ("_mlir_ciface_" + name).str();
    auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(symbol);
    if (!fn) {
      err = "the training module has no " + symbol;
      return failure();
    }
    if (!isa<LLVM::LLVMVoidType>(fn.getFunctionType().getReturnType())) {
      err = symbol + " returns a value; expected out-parameters only";
      return failure();
    }
    unsigned n = fn.getNumArguments();
    std::string params, call;
    for (unsigned i = 0; i < n; ++i) {
      params += std::string(i ? ", " : "") + "void *";
      call += std::string(i ? ", " : "") + "*(void **)a[" + std::to_string(i) + "]";
    }
    out += "void " + symbol + "(" + (n ? params : "void") + ");\n";
    out += "void kiln_trainer_" + name.str() + "(void **a) { " + symbol + "(" + call +
           "); }\n";
  }
  return out;
}

LogicalResult linkTrainerExecutable(StringRef compiler, StringRef objectBytes,
                                    StringRef wrappers, StringRef description, StringRef data,
                                    ArrayRef<std::string> libraries, StringRef outputPath,
                                    std::string &err) {
  // The description and the weights go in as read-only data, through the assembler's .incbin.
  StringRef assembly =
      "  .section .rodata\n"
      "  .globl kiln_trainer_meta\n  .globl kiln_trainer_meta_end\n"
      "  .globl kiln_trainer_data\n  .globl kiln_trainer_data_end\n"
      "kiln_trainer_meta:\n  .incbin \"{dir}/description.json\"\nkiln_trainer_meta_end:\n"
      "  .p2align 6\n"
      "kiln_trainer_data:\n  .incbin \"{dir}/data.bin\"\nkiln_trainer_data_end:\n"
      "  .section .note.GNU-stack,\"\",@progbits\n";
  std::vector<std::pair<std::string, StringRef>> files = {
      {"kiln_model.o", objectBytes},
      {"wrappers.c", wrappers},
      {"description.json", description},
      {"data.bin", data},
      {"data.s", assembly}};
  std::vector<std::string> args = {"-O2", "{dir}/wrappers.c", "{dir}/data.s",
                                   "{dir}/kiln_model.o"};
  args.insert(args.end(), libraries.begin(), libraries.end());
  args.insert(args.end(), {"-lstdc++", "-lm", "-pthread"});
  return linkProgram(compiler, files, args, outputPath, "trainer", err);
}

} // namespace mlir::kiln
