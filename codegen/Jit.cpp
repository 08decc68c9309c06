//===- Jit.cpp - run LLVM-dialect modules in process through ORC ----------===//
#include "codegen/Jit.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>

namespace mlir::kiln {
namespace {

// The checked allocator of JIT'd code. Each block carries a 16-byte header (malloc's alignment
// is kept) linking it into the list of the guarded call running on this thread, so that a
// failed allocation can free everything the abandoned call held.
struct Block {
  Block *prev, *next; // null while not in a guarded call's list
};
static_assert(sizeof(Block) == 16);

struct Guard {
  std::jmp_buf env;
  Block live; // circular list sentinel
  uint64_t failed = 0;
};

thread_local Guard *activeGuard = nullptr;

void *kilnJitAlloc(uint64_t bytes) {
  Guard *g = activeGuard;
  void *p = bytes <= UINT64_MAX - sizeof(Block) ? std::malloc(bytes + sizeof(Block)) : nullptr;
  if (!p) {
    if (g) {
      g->failed = bytes ? bytes : 1;
      std::longjmp(g->env, 1);
    }
    std::fprintf(stderr, "kiln: out of memory allocating %llu bytes in compiled code\n",
                 static_cast<unsigned long long>(bytes));
    std::abort();
  }
  auto *b = static_cast<Block *>(p);
  if (g) {
    b->next = g->live.next, b->prev = &g->live;
    g->live.next->prev = b, g->live.next = b;
  } else {
    b->prev = b->next = nullptr;
  }
  return b + 1;
}

void kilnJitFree(void *p) {
  if (!p)
    return;
  Block *b = static_cast<Block *>(p) - 1;
  if (b->prev)
    b->prev->next = b->next, b->next->prev = b->prev;
  std::free(b);
}

} // namespace

uint64_t JitModule::callGuarded(PackedFn fn, void **args) {
  Guard g;
  g.live.prev = g.live.next = &g.live;
  Guard *outer = activeGuard;
  activeGuard = &g;
  if (setjmp(g.env) == 0) {
    fn(args);
  } else {
    for (Block *b = g.live.next; b != &g.live;) {
      Block *next = b->next;
      std::free(b);
      b = next;
    }
  }
  activeGuard = outer;
  return g.failed;
}

FailureOr<std::unique_ptr<JitModule>> JitModule::create(ModuleOp module,
                                                        const PipelineOptions &options) {
  prepareContext(module.getContext());
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // The optimizer needs the target's cost model (vector widths, FMA, register count); ORC
  // compiles for the host CPU with its features.
  std::string err;
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(options, err);
  if (!tm)
    return module.emitError("kiln: no target for CPU '") << options.targetCpu << "': " << err;
  auto transformer = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0, tm.get());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = options.optLevel == 0   ? llvm::CodeGenOptLevel::None
                                     : options.optLevel == 1 ? llvm::CodeGenOptLevel::Less
                                     : options.optLevel == 2 ? llvm::CodeGenOptLevel::Default
                                                             : llvm::CodeGenOptLevel::Aggressive;
  engineOptions.enableGDBNotificationListener = false;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine) {
    std::string msg = llvm::toString(engine.takeError());
    return module.emitError("kiln: JIT compilation failed: ") << msg;
  }
  if (options.checkedAllocations)
    (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
      llvm::orc::SymbolMap symbols;
      symbols[interner("_mlir_memref_to_llvm_alloc")] = {
          llvm::orc::ExecutorAddr::fromPtr(&kilnJitAlloc), llvm::JITSymbolFlags::Exported};
      symbols[interner("_mlir_memref_to_llvm_free")] = {
          llvm::orc::ExecutorAddr::fromPtr(&kilnJitFree), llvm::JITSymbolFlags::Exported};
      return symbols;
    });
  auto jit = std::unique_ptr<JitModule>(new JitModule());
  jit->engine = std::move(*engine);
  return jit;
}

LogicalResult JitModule::call(StringRef name, ArrayRef<void *> args, std::string &err) {
  std::string symbol = ("_mlir_ciface_" + name).str();
  if (llvm::Error e = engine->invokePacked(symbol, llvm::MutableArrayRef<void *>(
                                                       const_cast<void **>(args.data()),
                                                       args.size()))) {
    err = llvm::toString(std::move(e));
    return failure();
  }
  return success();
}

FailureOr<JitModule::PackedFn> JitModule::lookup(StringRef name, std::string &err) {
  auto fn = engine->lookupPacked(("_mlir_ciface_" + name).str());
  if (!fn) {
    err = llvm::toString(fn.takeError());
    return failure();
  }
  return *fn;
}
} // namespace mlir::kiln
