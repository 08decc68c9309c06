// Every verifier message of the training ops (ir/GradOps.cpp), one case each.

func.func @grad_loss_rank(%loss: tensor<2xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.grad %loss wrt %w : (tensor<2xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
