//===- Driver.h - compile a kiln .mlir file to one of the pipeline's stages -===//
#ifndef KILN_CODEGEN_DRIVER_H
#define KILN_CODEGEN_DRIVER_H

#include "codegen/Pipelines.h"

namespace mlir::kiln {

/// Parses the kiln-dialect file `inputPath` ("-" for stdin), lowers it to `stage` and writes
/// the result to `outputPath` ("-" for stdout) through a temporary file renamed into place,
/// so a failed compile never leaves a half-written output. Diagnostics go to stderr.
LogicalResult compileFile(StringRef inputPath, StringRef outputPath, Stage stage,
                          const PipelineOptions &options);

/// Writes `contents` to `path` ("-": stdout) through a temporary file in the same directory
/// renamed into place, so a failure never leaves a half-written file. Errors go to `err`.
LogicalResult writeFileAtomically(StringRef path, StringRef contents, std::string &err);

} // namespace mlir::kiln

#endif // KILN_CODEGEN_DRIVER_H
