//===- IrFuzzer.cpp - libFuzzer target: kiln IR text through the parser and verifiers -===//
//
// What kiln-opt does before any pass: parse (the dialect's custom assembly), verify, and, for a
// module that verifies, print and parse again (the round trip ops.mlir relies on).
//
//===----------------------------------------------------------------------===//
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

#include <memory>

namespace {

std::unique_ptr<mlir::MLIRContext> makeContext() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::kiln::KilnDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                  mlir::memref::MemRefDialect, mlir::tensor::TensorDialect>();
  auto ctx = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  ctx->loadAllAvailableDialects();
  ctx->printOpOnDiagnostic(false);
  return ctx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Uniqued types and attributes pile up in a context; start a fresh one now and then.
  static std::unique_ptr<mlir::MLIRContext> ctx;
  static unsigned uses = 0;
  if (!ctx || ++uses % 2000 == 0)
    ctx = makeContext();
  mlir::ScopedDiagnosticHandler quiet(ctx.get(), [](mlir::Diagnostic &) { return mlir::success(); });

  // MLIR's lexer reads up to a NUL terminator, as every MemoryBuffer (and kiln-opt's input)
  // has one; the fuzzer's bytes have none, so copy them into a string that does.
  std::string owned(reinterpret_cast<const char *>(data), size);
  llvm::StringRef text(owned);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(text, ctx.get());
  if (!module || mlir::failed(mlir::verify(*module)))
    return 0;
  std::string printed;
  llvm::raw_string_ostream os(printed);
  module->print(os);
  mlir::OwningOpRef<mlir::ModuleOp> again = mlir::parseSourceString<mlir::ModuleOp>(printed, ctx.get());
  // A module that verified must print as text that parses and verifies again.
  if (!again || mlir::failed(mlir::verify(*again)))
    __builtin_trap();
  return 0;
}
