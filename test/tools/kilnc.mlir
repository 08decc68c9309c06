// RUN: kilnc %s --emit=kiln | FileCheck %s --check-prefix=KILN
// RUN: kilnc %s --emit=linalg | FileCheck %s --check-prefix=LINALG
// RUN: kilnc %s --emit=llvm-dialect | FileCheck %s --check-prefix=LLVMD
// RUN: kilnc %s --emit=llvm-ir -o %t.ll && FileCheck %s --check-prefix=IR --input-file %t.ll
// RUN: kilnc %s --emit=asm -o %t.s && FileCheck %s --check-prefix=ASM --input-file %t.s
// RUN: kilnc %s --emit=obj -o %t.o && llvm-nm %t.o | FileCheck %s --check-prefix=OBJ
// RUN: kilnc %s --emit=linalg --no-vectorize | FileCheck %s --check-prefix=LINALG
// RUN: kilnc --help | FileCheck %s --check-prefix=HELP
// RUN: not kilnc %s --emit=bogus 2>&1 | FileCheck %s --check-prefix=BADSTAGE
// RUN: not kilnc %S/Inputs/bad-shapes.mlir --emit=obj -o %t.bad.o 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not test -e %t.bad.o

// KILN: kiln.matmul
// LINALG: linalg.matmul
// LLVMD: llvm.func @_mlir_ciface_predict
// IR: define void @_mlir_ciface_predict(ptr
// ASM: _mlir_ciface_predict:
// OBJ: T _mlir_ciface_predict
// The object needs nothing beyond libc (this model needs no scratch buffer at all: the
// matmul accumulates in registers and relu runs in place in the caller's output).
// OBJ-NOT: U {{_mlir|memrefCopy}}
// HELP: --emit=<string>
// HELP: --no-vectorize
// BADSTAGE: kilnc: error: unknown --emit stage 'bogus'
// BAD: bad-shapes.mlir:{{[0-9]+}}:{{[0-9]+}}: error:
func.func @predict(%x: tensor<?x4xf32>, %w: tensor<4x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %1 = kiln.relu %0 : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %1 : tensor<?x3xf32>
}
