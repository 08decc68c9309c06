//===- GuardedCall.h - call compiled code whose allocations may fail -------===//
//
// Compiled entry points lowered with PipelineOptions::checkedAllocations allocate through
// `_mlir_memref_to_llvm_alloc` / `_free`; the JIT and the standalone trainer point those at
// guardedAlloc / guardedFree. An allocation that fails inside callGuarded abandons the call
// (longjmp) and frees what it held. No LLVM or MLIR here: kiln's JIT and kiln's standalone
// programs share it.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_GUARDEDCALL_H
#define KILN_RUNTIME_GUARDEDCALL_H

#include <cstdint>

namespace kiln::detail {

/// A packed entry point: one `void **` argument list, each element pointing to a pointer to a
/// memref descriptor (MLIR's C interface, as ExecutionEngine packs it).
using StepFn = void (*)(void **);

/// Calls `fn(args)` and returns 0 when it completed. When one of its heap allocations cannot
/// be made, the call is abandoned at that point, everything it had allocated is freed, and
/// the size that failed is returned. Calls on different threads are independent. The
/// generated code holds no locks and owns no resources besides its heap buffers, so leaving it
/// early is sound.
uint64_t callGuarded(StepFn fn, void **args);

/// The checked allocator itself: 16 bytes of header per block (malloc's alignment is kept).
/// Outside callGuarded a failed allocation prints a message and aborts.
void *guardedAlloc(uint64_t bytes);
void guardedFree(void *p);

} // namespace kiln::detail

#endif // KILN_RUNTIME_GUARDEDCALL_H
