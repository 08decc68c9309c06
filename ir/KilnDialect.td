//===- KilnDialect.td - the kiln dialect definition -------*- tablegen -*-===//
//
// The kiln dialect: tensor ops at the level a Keras layer is made of.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_TD
#define KILN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::mlir::kiln";
  let summary = "Tensor ops that Keras layers are made of.";
  let description = [{
    The `kiln` dialect holds a Keras model after the frontend has expanded each layer into the
    tensor ops it is made of: a `Dense` layer becomes `kiln.matmul`, `kiln.add` (the bias, by
    broadcasting) and an activation op; a `Conv2D` becomes `kiln.conv2d`, `kiln.add` and an
    activation. Values are builtin `tensor`s of `f32`. Layouts follow Keras: activations are
    channels-last (NHWC), Dense kernels are `(in, units)`, Conv2D kernels are `(kh, kw, in, out)`
    (HWIO).

    **Dynamic batch.** The leading (batch) dimension is `?` everywhere, Keras' `None`; every other
    dimension is static once shape inference has run. Ops accept operands with unranked or
    partially known types so that the frontend may emit before shapes are known; every op
    implements `InferTypeOpInterface` and the `kiln-shape-inference` pass refines result types.
    The verifier of each op calls the same shape function (ir/ShapeFunctions.cpp) that the
    frontend calls to check a layer call, so the messages are the same wherever a mismatch shows.

    **Entry points.** A model is a `func.func @predict` whose arguments are the model's inputs
    followed by its weights (in Keras' `get_weights()` order), and whose results are the model's
    outputs. Training adds `@train_step` / `@eval_step` (see docs/Design.md for how state, the
    training flag and random seeds are threaded).

    **Locations.** The frontend gives every op a `NameLoc` with the Keras layer name, and a shape
    error repeats it in its message: `'kiln.matmul' op layer 'dense_1': input shape (None, 784)
    does not match kernel shape (100, 10): last axis 784 vs 100`.
  }];
  let useDefaultAttributePrinterParser = 0;
}

class Kiln_Op<string mnemonic, list<Trait> traits = []> :
    Op<Kiln_Dialect, mnemonic, traits>;

#endif // KILN_DIALECT_TD
