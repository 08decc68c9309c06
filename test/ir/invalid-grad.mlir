// Every verifier message of the training ops (ir/GradOps.cpp), one case each.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics

func.func @grad_loss_rank(%loss: tensor<2xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{'kiln.grad' op the loss must be a rank-0 tensor, got (2,)}}
  %0 = kiln.grad %loss wrt %w : (tensor<2xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @grad_count(%loss: tensor<f32>, %w: tensor<4xf32>, %b: tensor<2xf32>) -> tensor<4xf32> {
  // expected-error @below {{'kiln.grad' op has 2 values to differentiate by but 1 results}}
  %0 = kiln.grad %loss wrt %w, %b : (tensor<f32>, tensor<4xf32>, tensor<2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @grad_type(%loss: tensor<f32>, %w: tensor<4xf32>) -> tensor<?xf32> {
  // expected-error @below {{'kiln.grad' op each result must have the type of its value}}
  %0 = kiln.grad %loss wrt %w : (tensor<f32>, tensor<4xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

func.func @unary_grad_kind(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @below {{'kiln.unary_grad' op unknown kind "softmax"}}
  %0 = kiln.unary_grad %x, %x {kind = "softmax"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @unary_grad_grad_shape(%x: tensor<?x4xf32>, %dy: tensor<?x5xf32>) -> tensor<?x4xf32> {
  // expected-error @below {{'kiln.unary_grad' op grad has shape (None, 5), expected (None, 4)}}
  %0 = kiln.unary_grad %x, %dy {kind = "relu"}
      : (tensor<?x4xf32>, tensor<?x5xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @unary_grad_result_shape(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  // expected-error @below {{'kiln.unary_grad' op result has shape (None, 3), expected (None, 4)}}
  %0 = kiln.unary_grad %x, %x {kind = "tanh"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Without a ranked input, the grad gives the result's shape.
func.func @unary_grad_unranked_input(%x: tensor<*xf32>, %dy: tensor<?x4xf32>) -> tensor<?x3xf32> {
  // expected-error @below {{'kiln.unary_grad' op result has shape (None, 3), expected (None, 4)}}
  %0 = kiln.unary_grad %x, %dy {kind = "exp"}
      : (tensor<*xf32>, tensor<?x4xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

func.func @conv_grad_input_rank(%dy: tensor<?x5x4xf32>, %k: tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32> {
  // expected-error @below {{'kiln.conv2d_grad_input' op grad, kernel and result must have rank 4}}
  %0 = kiln.conv2d_grad_input %dy, %k : (tensor<?x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32>
  return %0 : tensor<?x7x7x3xf32>
}

// -----

func.func @conv_grad_input_channels(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x3x4xf32>) -> tensor<?x7x7x2xf32> {
  // expected-error @below {{'kiln.conv2d_grad_input' op result has 2 channels, the kernel 3}}
  %0 = kiln.conv2d_grad_input %dy, %k : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x7x7x2xf32>
  return %0 : tensor<?x7x7x2xf32>
}

// -----

func.func @conv_grad_input_padding(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32> {
  // expected-error @below {{'kiln.conv2d_grad_input' op expected padding "valid" or "same", got "full"}}
  %0 = kiln.conv2d_grad_input %dy, %k {padding = "full"}
      : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32>
  return %0 : tensor<?x7x7x3xf32>
}

// -----

func.func @conv_grad_input_grad_shape(%dy: tensor<?x6x6x4xf32>, %k: tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32> {
  // expected-error @below {{'kiln.conv2d_grad_input' op grad has shape (None, 6, 6, 4), expected (None, 5, 5, 4)}}
  %0 = kiln.conv2d_grad_input %dy, %k : (tensor<?x6x6x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32>
  return %0 : tensor<?x7x7x3xf32>
}

// -----

func.func @conv_grad_kernel_rank(%x: tensor<?x7x7x3xf32>, %dy: tensor<?x5x5x4xf32>) -> tensor<3x3x4xf32> {
  // expected-error @below {{'kiln.conv2d_grad_kernel' op input, grad and result must have rank 4}}
  %0 = kiln.conv2d_grad_kernel %x, %dy : (tensor<?x7x7x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x4xf32>
  return %0 : tensor<3x3x4xf32>
}

// -----

func.func @conv_grad_kernel_static(%x: tensor<?x7x7x3xf32>, %dy: tensor<?x5x5x4xf32>) -> tensor<3x3x3x?xf32> {
  // expected-error @below {{'kiln.conv2d_grad_kernel' op the kernel shape must be static}}
  %0 = kiln.conv2d_grad_kernel %x, %dy : (tensor<?x7x7x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x3x?xf32>
  return %0 : tensor<3x3x3x?xf32>
}

// -----

func.func @conv_grad_kernel_channels(%x: tensor<?x7x7x2xf32>, %dy: tensor<?x5x5x4xf32>) -> tensor<3x3x3x4xf32> {
  // expected-error @below {{'kiln.conv2d_grad_kernel' op input shape (None, 7, 7, 2) has 2 channels but kernel shape (3, 3, 3, 4) expects 3}}
  %0 = kiln.conv2d_grad_kernel %x, %dy : (tensor<?x7x7x2xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x3x4xf32>
  return %0 : tensor<3x3x3x4xf32>
}

// -----

func.func @conv_grad_kernel_grad_shape(%x: tensor<?x7x7x3xf32>, %dy: tensor<?x5x5x8xf32>) -> tensor<3x3x3x4xf32> {
  // expected-error @below {{'kiln.conv2d_grad_kernel' op grad has shape (None, 5, 5, 8), expected (None, 5, 5, 4)}}
  %0 = kiln.conv2d_grad_kernel %x, %dy : (tensor<?x7x7x3xf32>, tensor<?x5x5x8xf32>) -> tensor<3x3x3x4xf32>
  return %0 : tensor<3x3x3x4xf32>
}

// -----

func.func @pool_grad_kind(%x: tensor<?x4x4x2xf32>, %dy: tensor<?x2x2x2xf32>) -> tensor<?x4x4x2xf32> {
  // expected-error @below {{'kiln.pool2d_grad' op kind must be "max" or "avg", got "min"}}
  %0 = kiln.pool2d_grad %x, %dy {kind = "min", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
      : (tensor<?x4x4x2xf32>, tensor<?x2x2x2xf32>) -> tensor<?x4x4x2xf32>
  return %0 : tensor<?x4x4x2xf32>
}

// -----

func.func @pool_grad_strides(%x: tensor<?x4x4x2xf32>, %dy: tensor<?x2x2x2xf32>) -> tensor<?x4x4x2xf32> {
  // expected-error @below {{'kiln.pool2d_grad' op expected strides to be 2 positive integers, got [0, 2]}}
  %0 = kiln.pool2d_grad %x, %dy {kind = "max", pool_size = array<i64: 2, 2>, strides = array<i64: 0, 2>}
      : (tensor<?x4x4x2xf32>, tensor<?x2x2x2xf32>) -> tensor<?x4x4x2xf32>
  return %0 : tensor<?x4x4x2xf32>
}

// -----

func.func @pool_grad_grad_shape(%x: tensor<?x4x4x2xf32>, %dy: tensor<?x3x3x2xf32>) -> tensor<?x4x4x2xf32> {
  // expected-error @below {{'kiln.pool2d_grad' op grad has shape (None, 3, 3, 2), expected (None, 2, 2, 2)}}
  %0 = kiln.pool2d_grad %x, %dy {kind = "avg", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
      : (tensor<?x4x4x2xf32>, tensor<?x3x3x2xf32>) -> tensor<?x4x4x2xf32>
  return %0 : tensor<?x4x4x2xf32>
}

// -----

func.func @pool_grad_result_shape(%x: tensor<?x4x4x2xf32>, %dy: tensor<?x2x2x2xf32>) -> tensor<?x4x4x3xf32> {
  // expected-error @below {{'kiln.pool2d_grad' op result has shape (None, 4, 4, 3), expected (None, 4, 4, 2)}}
  %0 = kiln.pool2d_grad %x, %dy {kind = "avg", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
      : (tensor<?x4x4x2xf32>, tensor<?x2x2x2xf32>) -> tensor<?x4x4x3xf32>
  return %0 : tensor<?x4x4x3xf32>
}

// -----

func.func @broadcast_like_incompatible(%b: tensor<8xf32>, %x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  // expected-error @below {{'kiln.broadcast_like' op shapes (8,) and (None, 16) cannot be broadcast together (dimension 1: 8 vs 16)}}
  %0 = kiln.broadcast_like %b, %x : (tensor<8xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

func.func @broadcast_like_not_to(%b: tensor<4x16xf32>, %x: tensor<1x16xf32>) -> tensor<1x16xf32> {
  // expected-error @below {{'kiln.broadcast_like' op input (4, 16) does not broadcast to (1, 16)}}
  %0 = kiln.broadcast_like %b, %x : (tensor<4x16xf32>, tensor<1x16xf32>) -> tensor<1x16xf32>
  return %0 : tensor<1x16xf32>
}

// -----

func.func @broadcast_like_result(%b: tensor<16xf32>, %x: tensor<?x16xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'kiln.broadcast_like' op result has shape (None, 8), expected (None, 16)}}
  %0 = kiln.broadcast_like %b, %x : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @slice_axis(%x: tensor<?x10xf32>) -> tensor<?x5xf32> {
  // expected-error @below {{'kiln.slice' op axis 2 is out of range for rank 2}}
  %0 = kiln.slice %x {axis = 2 : i64, start = 0 : i64, size = 5 : i64} : (tensor<?x10xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// -----

func.func @slice_range(%x: tensor<?x10xf32>) -> tensor<?x5xf32> {
  // expected-error @below {{'kiln.slice' op slice [7, 12) is out of range for dimension 1 of (None, 10)}}
  %0 = kiln.slice %x {axis = -1 : i64, start = 7 : i64, size = 5 : i64} : (tensor<?x10xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// -----

func.func @slice_result(%x: tensor<?x10xf32>) -> tensor<?x4xf32> {
  // expected-error @below {{'kiln.slice' op result has shape (None, 4), expected (None, 5)}}
  %0 = kiln.slice %x {axis = 1 : i64, start = 5 : i64, size = 5 : i64} : (tensor<?x10xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @compare_predicate(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @below {{'kiln.compare' op unknown predicate "gte"}}
  %0 = kiln.compare %a, %a {predicate = "gte"} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @compare_broadcast(%a: tensor<?x4xf32>, %b: tensor<3xf32>) -> tensor<?x4xf32> {
  // expected-error @below {{'kiln.compare' op shapes (None, 4) and (3,) cannot be broadcast together (dimension 1: 4 vs 3)}}
  %0 = kiln.compare %a, %b {predicate = "lt"} : (tensor<?x4xf32>, tensor<3xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @compare_result(%a: tensor<?x4xf32>, %b: tensor<f32>) -> tensor<?x3xf32> {
  // expected-error @below {{'kiln.compare' op result has shape (None, 3), expected (None, 4)}}
  %0 = kiln.compare %a, %b {predicate = "eq"} : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

func.func @one_hot_depth(%l: tensor<?xf32>) -> tensor<?x10xf32> {
  // expected-error @below {{'kiln.one_hot' op depth must be positive, got 0}}
  %0 = kiln.one_hot %l {depth = 0 : i64} : (tensor<?xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

func.func @one_hot_labels(%l: tensor<?x2xf32>) -> tensor<?x10xf32> {
  // expected-error @below {{'kiln.one_hot' op labels must have shape (N) or (N, 1), got (None, 2)}}
  %0 = kiln.one_hot %l {depth = 10 : i64} : (tensor<?x2xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

func.func @one_hot_result(%l: tensor<?xf32>) -> tensor<?x9xf32> {
  // expected-error @below {{'kiln.one_hot' op result has shape (None, 9), expected (None, 10)}}
  %0 = kiln.one_hot %l {depth = 10 : i64} : (tensor<?xf32>) -> tensor<?x9xf32>
  return %0 : tensor<?x9xf32>
}

// -----

func.func @scatter_add_table(%ids: tensor<?x10xf32>, %dy: tensor<?x10x16xf32>) -> tensor<?x16xf32> {
  // expected-error @below {{'kiln.scatter_add' op the result must be a static (rows, features) table, got (None, 16)}}
  %0 = kiln.scatter_add %ids, %dy : (tensor<?x10xf32>, tensor<?x10x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

func.func @scatter_add_grad(%ids: tensor<?x10xf32>, %dy: tensor<?x9x16xf32>) -> tensor<100x16xf32> {
  // expected-error @below {{'kiln.scatter_add' op grad has shape (None, 9, 16), expected (None, 10, 16)}}
  %0 = kiln.scatter_add %ids, %dy : (tensor<?x10xf32>, tensor<?x9x16xf32>) -> tensor<100x16xf32>
  return %0 : tensor<100x16xf32>
}

// -----

func.func @matmul_grad_kernel_rank(%x: tensor<?x4xf32>, %dy: tensor<?x8xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'kiln.matmul_grad_kernel' op expected an input of rank 3 or more, got (None, 4)}}
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x4xf32>, tensor<?x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @matmul_grad_kernel_static(%x: tensor<?x3x4xf32>, %dy: tensor<?x3x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'kiln.matmul_grad_kernel' op the result must be a static (in, units) kernel, got (None, 8)}}
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x3x4xf32>, tensor<?x3x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @matmul_grad_kernel_k(%x: tensor<?x3x4xf32>, %dy: tensor<?x3x8xf32>) -> tensor<5x8xf32> {
  // expected-error @below {{'kiln.matmul_grad_kernel' op input shape (None, 3, 4) does not match kernel shape (5, 8): last axis 4 vs 5}}
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x3x4xf32>, tensor<?x3x8xf32>) -> tensor<5x8xf32>
  return %0 : tensor<5x8xf32>
}

// -----

func.func @matmul_grad_kernel_grad(%x: tensor<?x3x4xf32>, %dy: tensor<?x2x8xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'kiln.matmul_grad_kernel' op grad has shape (None, 2, 8), expected (None, 3, 8)}}
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x3x4xf32>, tensor<?x2x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
