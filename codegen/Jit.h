//===- Jit.h - run LLVM-dialect modules in process through ORC ------------===//
#ifndef KILN_CODEGEN_JIT_H
#define KILN_CODEGEN_JIT_H

#include "codegen/Pipelines.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"

#include <memory>

namespace mlir::kiln {

/// A module compiled to native code in this process.
class JitModule {
public:
  /// Compiles `module`, which must be in the LLVM dialect (see lowerToStage).
  static FailureOr<std::unique_ptr<JitModule>> create(ModuleOp module,
                                                      const PipelineOptions &options);

  /// Calls `name` through its C interface (`_mlir_ciface_<name>`): `args[i]` points to the
  /// i-th argument, for a memref that is a pointer to a pointer to its descriptor
  /// ({allocated, aligned, offset, sizes[rank], strides[rank]}).
  LogicalResult call(StringRef name, ArrayRef<void *> args, std::string &err);

  /// The packed entry point of `name`'s C interface (what `call` invokes): a function of one
  /// `void **` argument list, safe to call from several threads at once.
  using PackedFn = void (*)(void **);
  FailureOr<PackedFn> lookup(StringRef name, std::string &err);

  /// Calls `fn(args)` (code compiled with PipelineOptions::checkedAllocations) and returns 0
  /// when it completed. When one of its heap allocations cannot be made, the call is abandoned
  /// at that point, everything it had allocated is freed, and the size that failed is
  /// returned: the caller reports it; the outputs are then incomplete. Calls on different
  /// threads are independent. The generated code holds no locks and owns no resources besides
  /// its heap buffers, so leaving it early (longjmp) is sound.
  static uint64_t callGuarded(PackedFn fn, void **args);

  /// A GPU module's constants may have device copies (kiln_gpu_resident_constant): they are
  /// forgotten with it, since a later module may reuse their addresses.
  ~JitModule();

private:
  std::unique_ptr<ExecutionEngine> engine;
  bool gpu = false;
};

} // namespace mlir::kiln

#endif // KILN_CODEGEN_JIT_H
