//===- IRDump.h - write the IR after every pass to numbered files ---------===//
#ifndef KILN_CODEGEN_IRDUMP_H
#define KILN_CODEGEN_IRDUMP_H

#include "mlir/Pass/PassManager.h"

namespace mlir::kiln {

/// Makes `pm` write the whole module before its first pass to `dir/000-input.mlir` and after
/// every pass to `dir/NNN-<pass argument>.mlir` (NNN counts from 001 in execution order; a pass
/// nested on functions writes one file per function it ran on). Creates `dir`; disables
/// multithreading on the pass manager's context so that printing the module is safe. Each
/// file parses with kiln-opt, which can run the next pass on it.
LogicalResult enableIRDumps(PassManager &pm, StringRef dir);

} // namespace mlir::kiln

#endif // KILN_CODEGEN_IRDUMP_H
