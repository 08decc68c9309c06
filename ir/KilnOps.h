//===- KilnOps.h - kiln dialect operations ---------------------------------===//
#ifndef KILN_IR_KILNOPS_H
#define KILN_IR_KILNOPS_H

#include "ir/KilnDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ir/KilnOps.h.inc"

namespace mlir::kiln {

/// The Keras layer an op belongs to: the name of the first `NameLoc` in `loc`, if any.
std::optional<StringRef> getLayerName(Location loc);

/// Reports a shape or attribute error of `kiln.<opName>` at `loc` (if given) in the one
/// wording every kiln diagnostic uses: `'kiln.matmul' op layer 'dense_1': <message>`.
LogicalResult emitKilnOpError(std::optional<Location> loc, StringRef opName,
                              const Twine &message);

} // namespace mlir::kiln

#endif // KILN_IR_KILNOPS_H
