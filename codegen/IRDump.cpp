//===- IRDump.cpp - write the IR after every pass to numbered files -------===//
#include "codegen/IRDump.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/Pass.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::kiln {

namespace {
class FileDumpConfig : public PassManager::IRPrinterConfig {
public:
  explicit FileDumpConfig(std::string dir)
      : IRPrinterConfig(/*printModuleScope=*/true), dir(std::move(dir)) {}

  void printBeforeIfEnabled(Pass *pass, Operation *op, PrintCallbackFn print) override {
    if (count == 0)
      write("input", op, print);
  }
  void printAfterIfEnabled(Pass *pass, Operation *op, PrintCallbackFn print) override {
    StringRef name = pass->getArgument();
    write(name.empty() ? pass->getName() : name, op, print);
  }

private:
  void write(StringRef name, Operation *op, PrintCallbackFn) {
    std::string file = llvm::formatv("{0:3}-{1}.mlir", count++, name).str();
    std::replace(file.begin(), file.end(), ' ', '0');
    for (char &c : file)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
        c = '_';
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, file);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
    if (ec) {
      mlir::emitWarning(op->getLoc(), "kiln: cannot write IR dump '") << path << "': "
                                                                      << ec.message();
      return;
    }
    // The whole module, exactly as kiln-opt prints it, so that a dump diffs cleanly against
    // kiln-opt's output for the same pass.
    Operation *top = op;
    while (Operation *parent = top->getParentOp())
      top = parent;
    top->print(os, getOpPrintingFlags());
    os << "\n";
  }

  std::string dir;
  unsigned count = 0;
};
} // namespace

LogicalResult enableIRDumps(PassManager &pm, StringRef dir) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return mlir::emitError(UnknownLoc::get(pm.getContext()),
                           "kiln: cannot create the IR dump directory '")
           << dir << "': " << ec.message();
  // The printer prints the whole module from inside nested passes.
  pm.getContext()->disableMultithreading();
  pm.enableIRPrinting(std::make_unique<FileDumpConfig>(dir.str()));
  return success();
}

} // namespace mlir::kiln
