//===- Driver.cpp - compile a kiln .mlir file to one of the pipeline's stages -===//
#include "codegen/Driver.h"
#include "codegen/GpuPipeline.h"
#include "codegen/Registration.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::kiln {

LogicalResult writeFileAtomically(StringRef path, StringRef contents, std::string &err) {
  if (path == "-") {
    llvm::outs() << contents;
    llvm::outs().flush();
    return success();
  }
  auto temp = llvm::sys::fs::TempFile::create(path + "-%%%%%%.tmp");
  if (!temp) {
    err = "cannot create a temporary file next to '" + path.str() +
          "': " + llvm::toString(temp.takeError());
    return failure();
  }
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    os << contents;
    os.flush();
    if (os.has_error()) {
      err = "cannot write '" + path.str() + "': " + os.error().message();
      os.clear_error();
      llvm::consumeError(temp->discard());
      return failure();
    }
  }
  if (llvm::Error e = temp->keep(path)) {
    err = "cannot write '" + path.str() + "': " + llvm::toString(std::move(e));
    return failure();
  }
  return success();
}

LogicalResult compileFile(StringRef inputPath, StringRef outputPath, Stage stage,
                          const PipelineOptions &options) {
  DialectRegistry registry;
  registerAllKilnDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // A diagnostic names the op's location; dumping a whole lowered module helps nobody.
  context.printOpOnDiagnostic(false);

  std::string err;
  std::unique_ptr<llvm::MemoryBuffer> input = openInputFile(inputPath, &err);
  if (!input) {
    llvm::errs() << "kilnc: error: " << err << "\n";
    return failure();
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return failure();
  Stage lowerTo = stage > Stage::LLVMDialect ? Stage::LLVMDialect : stage;
  if (failed(lowerToStage(*module, lowerTo, options)))
    return failure();

  std::string text;
  if (stage == Stage::Ptx) {
    FailureOr<std::string> ptx = extractPtx(*module);
    if (failed(ptx))
      return failure();
    text = std::move(*ptx);
  } else if (stage <= Stage::LLVMDialect) {
    llvm::raw_string_ostream os(text);
    module->print(os);
  } else {
    FailureOr<std::string> translated = translateModule(*module, stage, options);
    if (failed(translated))
      return failure();
    text = std::move(*translated);
  }
  if (failed(writeFileAtomically(outputPath, text, err))) {
    llvm::errs() << "kilnc: error: " << err << "\n";
    return failure();
  }
  return success();
}

} // namespace mlir::kiln
