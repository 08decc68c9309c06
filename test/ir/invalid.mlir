// Every verifier message of the kiln dialect, one case each.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics
//
// A shape error comes from an op's inferReturnTypes (ir/ShapeFunctions.cpp); MLIR's
// InferTypeOpInterface verifier then adds "failed to infer returned types", so those cases
// expect both errors.

// Elementwise ops broadcast NumPy-style from the trailing dimension.
func.func @broadcast(%a: tensor<?x16xf32>, %b: tensor<8xf32>) -> tensor<*xf32> {
  // expected-error @below {{shapes (None, 16) and (8,) cannot be broadcast together (dimension 1: 16 vs 8)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.add %a, %b : (tensor<?x16xf32>, tensor<8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Dense: the input's last axis must match the kernel's first.
func.func @matmul_k(%x: tensor<?x4xf32>, %w: tensor<5x16xf32>) -> tensor<*xf32> {
  // expected-error @below {{input shape (None, 4) does not match kernel shape (5, 16): last axis 4 vs 5}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<5x16xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @matmul_kernel_rank(%x: tensor<?x4xf32>, %w: tensor<4xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected a kernel of rank 2, got shape (4,)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @matmul_scalar(%x: tensor<f32>, %w: tensor<4x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected an input of rank >= 1, got shape ()}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.matmul %x, %w : (tensor<f32>, tensor<4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Conv2D: NHWC input, HWIO kernel.
func.func @conv_rank(%x: tensor<?x28x28xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected an input of rank 4 (batch, rows, cols, channels), got shape (None, 28, 28)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @conv_kernel_rank(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected a kernel of rank 4 (rows, cols, in, out), got shape (3, 3, 8)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @conv_channels(%x: tensor<?x28x28x3xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{input shape (None, 28, 28, 3) has 3 channels but kernel shape (3, 3, 1, 8) expects 1}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x3xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @conv_strides(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected strides to be 2 positive integers, got [0, 1]}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k {strides = array<i64: 0, 1>} : (tensor<?x28x28x1xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @conv_dilations(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected dilation_rate to be 2 positive integers, got [2]}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k {dilations = array<i64: 2>} : (tensor<?x28x28x1xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @conv_padding(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected padding "valid" or "same", got "causal"}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k {padding = "causal"} : (tensor<?x28x28x1xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @conv_small(%x: tensor<?x2x2x1xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{input shape (None, 2, 2, 1) is smaller than the kernel (3, 3) with padding "valid"}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %k : (tensor<?x2x2x1xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Pooling windows.
func.func @pool_rank(%x: tensor<?x28x28xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected an input of rank 4 (batch, rows, cols, channels), got shape (None, 28, 28)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x28x28xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @pool_size(%x: tensor<?x28x28x1xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected pool_size to be 2 positive integers, got [2, 2, 2]}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x28x28x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @pool_strides(%x: tensor<?x28x28x1xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected strides to be 2 positive integers, got [-1, 2]}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.avg_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: -1, 2>} : (tensor<?x28x28x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @pool_padding(%x: tensor<?x28x28x1xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected padding "valid" or "same", got "SAME"}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.avg_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = "SAME"} : (tensor<?x28x28x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @pool_small(%x: tensor<?x1x28x1xf32>) -> tensor<*xf32> {
  // expected-error @below {{input shape (None, 1, 28, 1) is smaller than the pool (2, 2) with padding "valid"}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x1x28x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Pooling strides are explicit in the IR; the frontend fills in Keras' default (pool_size).
func.func @pool_missing(%x: tensor<?x28x28x1xf32>) -> tensor<*xf32> {
  // expected-error @below {{requires attribute 'strides'}}
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2>} : (tensor<?x28x28x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Reshape / Flatten.
func.func @reshape_two_unknown(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{target shape (-1, -1) has more than one -1}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: -1, -1>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @reshape_zero(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{target shape (0, 16) has a dimension < 1}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: 0, 16>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// The target shape is checked before the input is ranked.
func.func @reshape_unranked_bad(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error @below {{target shape (-1, -1) has more than one -1}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: -1, -1>} : (tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @reshape_size(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{cannot reshape input shape (None, 4, 4) to (3, 5): 16 vs 15 elements per sample}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: 3, 5>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @reshape_divisible(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{cannot reshape input shape (None, 4, 4) to (-1, 5): 16 elements per sample are not divisible by 5}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: -1, 5>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @reshape_scalar(%x: tensor<f32>) -> tensor<*xf32> {
  // expected-error @below {{expected an input with a batch dimension, got a scalar}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: 1>} : (tensor<f32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Transpose / Permute.
func.func @transpose_count(%x: tensor<?x3x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{permutation of 2 dims for input shape (None, 3, 4)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.transpose %x {perm = array<i64: 0, 1>} : (tensor<?x3x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @transpose_perm(%x: tensor<?x3x4xf32>) -> tensor<*xf32> {
  // expected-error @below {{perm (0, 1, 1) is not a permutation of 3 dims}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.transpose %x {perm = array<i64: 0, 1, 1>} : (tensor<?x3x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Concatenate.
func.func @concat_none() -> tensor<*xf32> {
  // expected-error @below {{expected at least one input}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.concat : () -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @concat_rank(%a: tensor<?x8xf32>, %b: tensor<?x8x1xf32>) -> tensor<*xf32> {
  // expected-error @below {{inputs of shapes (None, 8) and (None, 8, 1) have different ranks}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.concat %a, %b : (tensor<?x8xf32>, tensor<?x8x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @concat_dim(%a: tensor<?x8x2xf32>, %b: tensor<?x7x2xf32>) -> tensor<*xf32> {
  // expected-error @below {{inputs of shapes (None, 8, 2) and (None, 7, 2) differ in dimension 1, which is not the concatenation axis 2}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.concat %a, %b : (tensor<?x8x2xf32>, tensor<?x7x2xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @concat_axis(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{axis 2 is out of range for rank 2}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 2 : i64} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Reductions.
func.func @reduce_axis(%x: tensor<?x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{axis -3 is out of range for rank 2}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reduce_sum %x {axes = array<i64: -3>} : (tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @reduce_dup(%x: tensor<?x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{axis -1 is reduced twice}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.reduce_mean %x {axes = array<i64: 1, -1>} : (tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @softmax_axis(%x: tensor<?x8xf32>) -> tensor<*xf32> {
  // expected-error @below {{axis 2 is out of range for rank 2}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.softmax %x {axis = 2 : i64} : (tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// kiln values are f32 tensors; a mixed element type fails the operand constraint first.
func.func @elt_operand(%a: tensor<?x8xf32>, %b: tensor<8xf16>) -> tensor<*xf32> {
  // expected-error @below {{operand #1 must be tensor of 32-bit float values, but got 'tensor<8xf16>'}}
  %0 = kiln.add %a, %b : (tensor<?x8xf32>, tensor<8xf16>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @elt_result(%a: tensor<?x8xf32>) -> tensor<?x8xf16> {
  // expected-error @below {{result #0 must be tensor of 32-bit float values, but got 'tensor<?x8xf16>'}}
  %0 = kiln.relu %a : (tensor<?x8xf32>) -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}

// -----

// A declared result type must be compatible with the inferred one.
func.func @declared(%x: tensor<?x4xf32>, %w: tensor<4x16xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{inferred type(s) 'tensor<?x16xf32>' are incompatible with return type(s) of operation 'tensor<?x8xf32>'}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @declared_rank(%x: tensor<?x4xf32>) -> tensor<?x4x1xf32> {
  // expected-error @below {{inferred type(s) 'tensor<?x4xf32>' are incompatible with return type(s) of operation 'tensor<?x4x1xf32>'}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.relu %x : (tensor<?x4xf32>) -> tensor<?x4x1xf32>
  return %0 : tensor<?x4x1xf32>
}

// -----

// The generic form can give a constant a type other than its value's.
func.func @const_type() -> tensor<3xf32> {
  // expected-error @below {{failed to verify that all of {value, result} have same type}}
  %0 = "kiln.constant"() <{value = dense<1.0> : tensor<4xf32>}> : () -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @const_elt() -> tensor<4xf64> {
  // expected-error @below {{result #0 must be tensor of 32-bit float values, but got 'tensor<4xf64>'}}
  %0 = kiln.constant dense<1.0> : tensor<4xf64>
  return %0 : tensor<4xf64>
}

// -----

// Keras rejects a dropout rate outside [0, 1); 1 would scale by 1 / 0.
func.func @dropout_rate(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{expected rate in [0, 1), got 1.5}}
  %0 = kiln.dropout %x {rate = 1.5 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @dropout_no_rate(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{requires attribute 'rate'}}
  %0 = kiln.dropout %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
// -----

// A NameLoc names the Keras layer; the message repeats it, so it survives a location printer
// that shows only files and lines.
func.func @layer_name(%x: tensor<?x4xf32>, %w: tensor<5x16xf32>) -> tensor<*xf32> {
  // expected-error @unknown {{'kiln.matmul' op layer 'dense_1': input shape (None, 4) does not match kernel shape (5, 16): last axis 4 vs 5}}
  // expected-error @unknown {{failed to infer returned types}}
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<5x16xf32>) -> tensor<*xf32> loc("dense_1")
  return %0 : tensor<*xf32>
}

// -----

// Training-mode dropout draws its mask from (seed, step, index): the step is required.
func.func @dropout_training_without_step(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'kiln.dropout' op training = true needs the step operand (the RNG counter)}}
  %0 = kiln.dropout %x {rate = 0.5 : f32, training = true} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Pad (ZeroPadding2D).
func.func @pad_negative(%x: tensor<?x4x4x3xf32>) -> tensor<*xf32> {
  // expected-error @below {{padding (-1, 0) of dimension 1 is negative}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.pad %x {low = array<i64: 0, -1, 0, 0>, high = array<i64: 0, 0, 0, 0>} : (tensor<?x4x4x3xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @pad_rank(%x: tensor<?x4x4x3xf32>) -> tensor<*xf32> {
  // expected-error @below {{padding of 2 and 2 dims for input shape (None, 4, 4, 3)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.pad %x {low = array<i64: 1, 1>, high = array<i64: 1, 1>} : (tensor<?x4x4x3xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @pad_result(%x: tensor<?x4x4x3xf32>) -> tensor<?x5x4x3xf32> {
  // expected-error @below {{'kiln.pad' op inferred type(s) 'tensor<?x6x4x3xf32>' are incompatible with return type(s) of operation 'tensor<?x5x4x3xf32>'}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.pad %x {low = array<i64: 0, 1, 0, 0>, high = array<i64: 0, 1, 0, 0>} : (tensor<?x4x4x3xf32>) -> tensor<?x5x4x3xf32>
  return %0 : tensor<?x5x4x3xf32>
}

// -----

// Embedding: the table is (rows, features).
func.func @gather_table_rank(%t: tensor<16xf32>, %ids: tensor<?x10xf32>) -> tensor<*xf32> {
  // expected-error @below {{expected a table of rank 2 (rows, features), got shape (16,)}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.gather %t, %ids : (tensor<16xf32>, tensor<?x10xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @gather_no_rows(%t: tensor<0x4xf32>, %ids: tensor<?x10xf32>) -> tensor<*xf32> {
  // expected-error @below {{the table (0, 4) has no rows}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.gather %t, %ids : (tensor<0x4xf32>, tensor<?x10xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @gather_result(%t: tensor<10x4xf32>, %ids: tensor<?x3xf32>) -> tensor<?x3x5xf32> {
  // expected-error @below {{'kiln.gather' op inferred type(s) 'tensor<?x3x4xf32>' are incompatible with return type(s) of operation 'tensor<?x3x5xf32>'}}
  // expected-error @below {{failed to infer returned types}}
  %0 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<?x3xf32>) -> tensor<?x3x5xf32>
  return %0 : tensor<?x3x5xf32>
}

// -----

func.func @gather_index_type(%t: tensor<10x4xf32>, %ids: tensor<?x3xf16>) -> tensor<?x3x4xf32> {
  // expected-error @below {{'kiln.gather' op operand #1 must be tensor of 32-bit float or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<?x3xf16>'}}
  %0 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<?x3xf16>) -> tensor<?x3x4xf32>
  return %0 : tensor<?x3x4xf32>
}
