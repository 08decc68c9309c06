//===- Kilnc.cpp - the kiln compiler driver: kiln IR to linalg, LLVM, asm, objects -===//
#include "codegen/Driver.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::OptionCategory category("kilnc options");
  cl::opt<std::string> input(cl::Positional, cl::desc("<input .mlir in the kiln dialect>"),
                             cl::init("-"), cl::cat(category));
  cl::opt<std::string> output("o", cl::desc("Output file ('-' for stdout)"),
                              cl::value_desc("file"), cl::init("-"), cl::cat(category));
  cl::opt<std::string> emit("emit",
                            cl::desc("Stage to stop at: kiln, linalg, llvm-dialect, llvm-ir, "
                                     "asm, obj"),
                            cl::init("llvm-dialect"), cl::cat(category));
  cl::opt<bool> noVectorize("no-vectorize",
                            cl::desc("Lower matmul and conv to plain loops (for comparison)"),
                            cl::init(false), cl::cat(category));
  cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level (0-3)"), cl::Prefix,
                             cl::init(3), cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "kilnc: the kiln compiler driver\n");

  std::optional<mlir::kiln::Stage> stage = mlir::kiln::parseStage(emit);
  if (!stage) {
    llvm::errs() << "kilnc: error: unknown --emit stage '" << emit
                 << "' (expected kiln, linalg, llvm-dialect, llvm-ir, asm or obj)\n";
    return 1;
  }
  mlir::kiln::PipelineOptions options;
  options.tileAndVectorize = !noVectorize;
  options.optLevel = std::min(optLevel.getValue(), 3u);
  return mlir::failed(mlir::kiln::compileFile(input, output, *stage, options)) ? 1 : 0;
}
