#!/usr/bin/python3
"""Makes kiln's golden training trajectories from the Keras oracle (TensorFlow.js layers 4.22
with Keras' optimizer update rules and loss formulas, keras3 optimizer flavour).

Each case is one small Keras model with seeded random initial weights, a seeded data set,
and a compile/fit configuration. The oracle trains it (`oracle.mjs fit --batch-log`,
shuffle=False, cpu backend, float32) and this script stores the trajectory. For case <name>
it writes test/golden_fit/<name>/:

  model.json              the Keras model_config (tf.keras 2.x layout), as in test/golden/
  weights/manifest.json   the oracle's weight manifest ("keras-oracle-weights-v1") of the
                          initial weights; "file" entries relative to weights/
  weights/<layer>/<i>.npy initial weights: float32 C-order, Keras shapes, get_weights() order
  final/<layer>/<i>.npy   the weights after fit (same layout); final/manifest.json likewise
  x.npy, y.npy            training data (x float32; y float32, or int32 integer labels of
                          shape (N,) for sparse_categorical_crossentropy)
  spec.json               the oracle fit spec (loss, metrics, optimizer {class_name, config},
                          batch_size, epochs, shuffle false, optimizer_flavor "keras3")
  history.json            the oracle's history.json (per-epoch history + per-batch "batches")
  case.json               what a C++ test needs, schema below

case.json:
  {"name": "mlp_sgd",
   "layers": [{"name", "class_name", "config", "inbound", "calls", "call_refs",   # as test/golden
               "weights": ["weights/dense/0.npy", ...],          # initial
               "final_weights": ["final/dense/0.npy", ...]}, ...],  # after fit
   "model_inputs": ["input_1"], "model_outputs": ["dense_2"],
   "model_output_refs": [["dense_2", 0, 0]],
   "inputs": [{"file": "x.npy", "shape": [4]}],
   "x": "x.npy", "y": "y.npy", "y_dtype": "float32" | "int32", "y_shape": [N, ...],
   "compile": {"loss": "binary_crossentropy",
               "optimizer": {"name": "sgd", "learning_rate": 0.1, ...every option of that
                             optimizer under its Keras 3 name, defaults filled in},
               "metrics": ["accuracy"]},
   "fit": {"batch_size": 16, "epochs": 2, "shuffle": false},
   "steps_per_epoch": 8, "num_samples": 128,
   "batch_losses": [...],     # one per optimizer step, in order over all epochs: the loss of
                              # THAT batch alone (mean over the batch's samples), computed with
                              # the weights before that step's update. NOT Keras' progress-bar /
                              # on_train_batch_end value, which is the running mean over the
                              # epoch so far; that is "batch_losses_running_mean".
   "batch_losses_running_mean": [...],   # Keras' per-batch log: sample-weighted running mean
                                         # of batch_losses since the epoch began
   "batch_metrics": {"accuracy": [...]}, # per batch, the batch's own value (same convention)
   "epoch_logs": {"loss": [...], "accuracy": [...]},   # History.history: per epoch, the
                              # sample-weighted mean of that epoch's batch values
   "tolerance": {"loss_rtol": ..., "weights_atol": ..., "rule": ...},
   "noise_estimate": {...},   # the same fit on tfjs's wasm backend (another f32 kernel set)
   "cross_check": {...},      # independent numpy float64 replay (Dense-only models)
   "source": "oracle fit (tfjs-layers 4.22, keras3 optimizer flavor)",
   "seed": ..., "notes": ...}

Usage (re-runnable, deterministic: numpy seeds are fixed, tfjs's cpu backend is):
  cp -r ../shared/oracle /tmp/oracle-fit && (cd /tmp/oracle-fit && npm ci)
  /usr/bin/python3 test/golden_fit/make_fit_golden.py [--oracle /tmp/oracle-fit] [--only a,b]
      [--no-wasm]

Needs /usr/bin/python3 with numpy, node, and Debian's dataset-fashion-mnist
(KILN_FASHION_MNIST_DIR overrides its directory). Reuses the layer/model builders of
test/golden/make_golden.py.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "golden"))
import make_golden as mg  # noqa: E402

SOURCE = "oracle fit (tfjs-layers 4.22, keras3 optimizer flavor)"
EPS = 1e-7

# Keras 3 optimizer options (all of them, with Keras 3 defaults) and class names.
OPT_DEFAULTS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
             "amsgrad": False},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                "centered": False},
    "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
}
OPT_CLASS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}

# Tolerances a float32 reimplementation (kiln) should meet against these goldens.
# Rule: for every step i, |kiln_loss_i - golden_i| <= loss_rtol * max(1, |golden_i|), the
# same for epoch_logs; for every final weight, |kiln - golden| <= weights_atol * max(1, max|w|).
# Basis: on every case, a second f32 implementation (tfjs wasm, or torch float32 for the CNNs)
# and a float64 replay differ from the oracle by <= 4e-7 in both measures (noise_estimate,
# cross_check), so 1e-5 leaves ~25x headroom for other summation orders, fused kernels and
# approximate exp/log/tanh, yet catches a wrong formula: e.g. mlp_rmsprop trained with the
# legacy rule lr*g/(sqrt(v)+eps) instead of Keras 3's lr*g/sqrt(v+eps) ends 5e-2 away in
# weights and 7e-3 in batch loss. (Adagrad's epsilon placement is invisible here: its
# accumulator starts at initial_accumulator_value 0.1.)
DEFAULT_TOL = {"loss_rtol": 1e-5, "weights_atol": 1e-5}
TOL_RULE = ("per step and per epoch: |kiln - golden| <= loss_rtol * max(1, |golden|); "
            "final weights: |kiln - golden| <= weights_atol * max(1, max|golden layer weight|); "
            "metrics such as accuracy: exact, or off by one sample's share where a prediction "
            "sits at the decision threshold")


def opt(name, **kw):
    o = {"name": name, **OPT_DEFAULTS[name]}
    for k, v in kw.items():
        if k not in o:
            raise ValueError(f"{name} has no option {k}")
        o[k] = v
    return o


# ------------------------------------------------------------------ data
def fashion_mnist_train(count):
    d = os.environ.get("KILN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"

    def read(stem):
        for name in (stem, stem + ".gz"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                return (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
        sys.exit(f"make_fit_golden: no {stem}(.gz) in {d}; apt-get install dataset-fashion-mnist "
                 "or set KILN_FASHION_MNIST_DIR")
    raw = read("train-images-idx3-ubyte")
    n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols, 1)
    lab = np.frombuffer(read("train-labels-idx1-ubyte"), dtype=np.uint8, offset=8)
    return (imgs[:count].astype(np.float32) / np.float32(255.0)), lab[:count].astype(np.int32)


def one_hot(labels, k):
    return np.eye(k, dtype=np.float32)[labels]


# ------------------------------------------------------------------ the cases
def mlp_binary(name, seed, optimizer, epochs=2):
    def make():
        g = mg.Graph(name, seed, sequential=True)
        t = g.input("input_1", (4,))
        t = g.call(mg.dense("dense", 16, "relu"), t)
        t = g.call(mg.dense("dense_1", 8, "relu"), t)
        g.outputs = [g.call(mg.dense("dense_2", 1, "sigmoid"), t)]
        x = g.rng.uniform(-2, 2, size=(128, 4)).astype(np.float32)
        y = ((x[:, 0] * x[:, 1] + 0.5 * x[:, 2] - 0.3 * x[:, 3]) > 0).astype(np.float32)[:, None]
        comp = {"loss": "binary_crossentropy", "optimizer": optimizer, "metrics": ["accuracy"]}
        return g, x, y, comp, {"batch_size": 16, "epochs": epochs, "shuffle": False}, {}
    return make


def case_mlp_mse():
    g = mg.Graph("mlp_mse", 311, sequential=True)
    t = g.input("input_1", (4,))
    t = g.call(mg.dense("dense", 8, "tanh"), t)
    g.outputs = [g.call(mg.dense("dense_1", 3), t)]
    # 100 samples, batch 16: 6 full batches and a last one of 4, so the sample-weighted
    # epoch mean differs from the plain mean of the batch losses.
    x = g.rng.uniform(-2, 2, size=(100, 4)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1], 0.5 * x[:, 2] * x[:, 3], x[:, 0] - x[:, 3]],
                 axis=1)
    y = (y + 0.05 * g.rng.normal(size=y.shape)).astype(np.float32)
    comp = {"loss": "mean_squared_error", "optimizer": opt("adam", learning_rate=0.01),
            "metrics": ["mean_absolute_error"]}
    return g, x, y, comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {
        "notes": "100 samples with batch 16: the last batch of each epoch has 4 samples; "
                 "epoch_logs are sample-weighted means"}


def case_mlp_cce():
    g = mg.Graph("mlp_cce", 312, sequential=True)
    t = g.input("input_1", (4,))
    t = g.call(mg.dense("dense", 16, "relu"), t)
    g.outputs = [g.call(mg.dense("dense_1", 3, "softmax"), t)]
    x = g.rng.uniform(-2, 2, size=(128, 4)).astype(np.float32)
    w = np.array([[1, -1, 0.5], [0.5, 1, -1], [-1, 0.5, 1], [0.3, -0.3, 0.2]])
    y = one_hot(np.argmax(x @ w, axis=1), 3)
    comp = {"loss": "categorical_crossentropy", "optimizer": opt("sgd", learning_rate=0.1),
            "metrics": ["accuracy"]}
    return g, x, y, comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {}


def cnn(name, seed, sparse):
    def make():
        g = mg.Graph(name, seed, sequential=True)
        t = g.input("input_1", (28, 28, 1))
        t = g.call(mg.conv2d("conv2d", 4, 3, activation="relu"), t)
        t = g.call(mg.pool2d("MaxPooling2D", "max_pooling2d", 2, 2), t)
        t = g.call(mg.conv2d("conv2d_1", 8, 3, activation="relu"), t)
        t = g.call(mg.pool2d("MaxPooling2D", "max_pooling2d_1", 2, 2), t)
        t = g.call(mg.flatten("flatten"), t)
        t = g.call(mg.dense("dense", 16, "relu"), t)
        g.outputs = [g.call(mg.dense("dense_1", 10, "softmax"), t)]
        x, lab = fashion_mnist_train(256)
        y = lab if sparse else one_hot(lab, 10)
        loss = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
        comp = {"loss": loss, "optimizer": opt("adam", learning_rate=1e-3), "metrics": ["accuracy"]}
        extra = {"x_source": {"dataset": "fashion_mnist_train", "first": 256,
                              "scaling": "uint8 / 255", "also_stored_as": "x.npy"}}
        if sparse:
            extra["notes"] = ("y.npy holds int32 class indices of shape (N,); 'accuracy' "
                              "resolves to sparse_categorical_accuracy")
        return g, x, y, comp, {"batch_size": 32, "epochs": 2, "shuffle": False}, extra
    return make


def loss_case(name, seed, loss, kind, lr):
    """A short MLP case (64 samples, batch 16, 1 epoch = 4 SGD steps) for one loss formula."""
    def make():
        g = mg.Graph(name, seed, sequential=True)
        t = g.input("input_1", (4,))
        t = g.call(mg.dense("dense", 8, "tanh"), t)
        rng = g.rng
        out_act = {"regression": "linear", "positive": "softplus", "prob": "softmax",
                   "pm1": "tanh", "mape": "linear"}[kind]
        units = 1 if kind == "pm1" else 3
        g.outputs = [g.call(mg.dense("dense_1", units, out_act), t)]
        x = rng.uniform(-2, 2, size=(64, 4)).astype(np.float32)
        if kind == "regression":      # errors on both sides of huber's delta 1
            y = 1.5 * np.stack([x[:, 0] + x[:, 1], x[:, 2] * x[:, 3], np.sin(2 * x[:, 0])], 1)
        elif kind == "mape":          # targets away from 0, both signs
            s = np.where(rng.uniform(size=(64, 3)) < 0.5, -1.0, 1.0)
            y = s * rng.uniform(0.5, 2.0, size=(64, 3))
        elif kind == "positive":      # counts (poisson) / positive reals (msle)
            rate = np.exp(0.5 * np.stack([x[:, 0], x[:, 1] - x[:, 2], x[:, 3]], 1))
            y = rng.poisson(rate) if loss == "poisson" else rate * rng.uniform(0.5, 1.5, (64, 3))
        elif kind == "prob":          # target distributions
            y = rng.dirichlet([1.0, 1.0, 1.0], size=64)
        else:                         # {0,1} labels; Keras maps them to {-1,1} for hinge losses
            y = (x[:, 0] - x[:, 1] + 0.5 * x[:, 2] > 0).astype(np.float64)[:, None]
        comp = {"loss": loss, "optimizer": opt("sgd", learning_rate=lr), "metrics": []}
        extra = {}
        if kind == "pm1":
            extra["notes"] = ("y holds {0,1} labels; Keras (and the oracle) convert them to "
                              "{-1,1} per batch when every label of the batch is 0 or 1")
        if loss == "huber":
            extra["notes"] = "huber delta 1.0 (Keras default)"
        return g, x, y.astype(np.float32), comp, {"batch_size": 16, "epochs": 1,
                                                  "shuffle": False}, extra
    return make


def with_config(layer, **kw):
    layer["config"].update(kw)
    return layer


def case_functional_frozen():
    """A functional model whose two-layer sub-network (base, base_1) is frozen (trainable
    false): the optimizer must leave it alone while the rest trains through it."""
    g = mg.Graph("functional_frozen", 341, sequential=False)
    i = g.input("input_1", (6,))
    t = g.call(with_config(mg.dense("base", 12, "relu"), trainable=False), i)
    t = g.call(with_config(mg.dense("base_1", 8, "tanh"), trainable=False), t)
    s = g.call(mg.dense("side", 4, "tanh"), i)
    c = g.call(mg.concatenate("concatenate"), t, s)
    g.outputs = [g.call(mg.dense("head", 1, "sigmoid"), c)]
    x = g.rng.uniform(-2, 2, size=(96, 6)).astype(np.float32)
    y = ((x[:, 0] * x[:, 1] - 0.5 * x[:, 2] + 0.3 * x[:, 4]) > 0).astype(np.float32)[:, None]
    comp = {"loss": "binary_crossentropy", "optimizer": opt("adam", learning_rate=1e-2),
            "metrics": ["accuracy"]}
    return g, x, y, comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {
        "notes": "layers base and base_1 have trainable false: their final weights equal the "
                 "initial ones; summary counts them as non-trainable"}


def case_mlp_regularized():
    """Kernel and bias regularizers (L2, L1, L1L2) on Dense layers: Keras adds the penalties
    to the loss it minimizes and reports."""
    g = mg.Graph("mlp_regularized", 342, sequential=True)
    t = g.input("input_1", (4,))
    t = g.call(with_config(mg.dense("dense", 16, "relu"),
                           kernel_regularizer={"class_name": "L2", "config": {"l2": 0.01}},
                           bias_regularizer={"class_name": "L1", "config": {"l1": 0.02}}), t)
    t = g.call(with_config(mg.dense("dense_1", 8, "tanh"),
                           kernel_regularizer={"class_name": "L1L2",
                                               "config": {"l1": 0.005, "l2": 0.02}}), t)
    g.outputs = [g.call(mg.dense("dense_2", 2), t)]
    x = g.rng.uniform(-2, 2, size=(80, 4)).astype(np.float32)
    y = np.stack([x[:, 0] * x[:, 1], np.sin(x[:, 2]) - 0.5 * x[:, 3]], 1).astype(np.float32)
    comp = {"loss": "mean_squared_error", "optimizer": opt("sgd", learning_rate=0.05),
            "metrics": []}
    return g, x, y, comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {
        "notes": "the losses include the regularization penalties l1*sum|w| + l2*sum w^2 of "
                 "the weights before each step's update"}


def case_cnn_regularized():
    """Conv2D with L2 kernel and L1 bias regularizers and a frozen Conv2D before it, then a
    Dense with an L1L2 kernel regularizer (SGD)."""
    g = mg.Graph("cnn_regularized", 343, sequential=True)
    t = g.input("input_1", (8, 8, 2))
    t = g.call(with_config(mg.conv2d("conv2d", 3, 3, padding="same", activation="tanh"),
                           trainable=False), t)
    t = g.call(with_config(mg.conv2d("conv2d_1", 4, 3, activation="relu"),
                           kernel_regularizer={"class_name": "L2", "config": {"l2": 0.02}},
                           bias_regularizer={"class_name": "L1", "config": {"l1": 0.05}}), t)
    t = g.call(mg.flatten("flatten"), t)
    g.outputs = [g.call(with_config(mg.dense("dense", 3),
                                    kernel_regularizer={"class_name": "L1L2",
                                                        "config": {"l1": 0.002, "l2": 0.01}}), t)]
    x = g.rng.normal(size=(48, 8, 8, 2)).astype(np.float32)
    y = np.stack([x[:, :4, :4, 0].mean((1, 2)), x[:, 4:, :, 1].std((1, 2)),
                  x[:, :, :, 0].max((1, 2)) - 2], 1).astype(np.float32)
    comp = {"loss": "mean_squared_error", "optimizer": opt("sgd", learning_rate=0.05,
                                                           momentum=0.5),
            "metrics": []}
    return g, x, y, comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {
        "notes": "conv2d is frozen (trainable false); the losses include the penalties of "
                 "conv2d_1's and dense's regularizers"}


def case_conv1d_fit():
    """Conv1D (same; valid, strided), MaxPooling1D, AveragePooling1D, Dense; Adam (tfjs has no
    gradient for dilated convolutions), binary crossentropy."""
    g = mg.Graph("conv1d_fit", 344, sequential=True)
    t = g.input("input_1", (16, 3))
    t = g.call(mg.conv1d("conv1d", 6, 3, padding="same", activation="relu"), t)
    t = g.call(mg.pool1d("MaxPooling1D", "max_pooling1d", 2, 2), t)
    t = g.call(mg.conv1d("conv1d_1", 4, 3, strides=2, activation="tanh"), t)
    # "valid": tfjs's average-pooling gradient divides by the whole window also where "same"
    # padding cuts it (its forward, Keras and kiln count only the cells inside).
    t = g.call(mg.pool1d("AveragePooling1D", "average_pooling1d", 2, 1, "valid"), t)
    t = g.call(mg.flatten("flatten"), t)
    g.outputs = [g.call(mg.dense("dense", 1, "sigmoid"), t)]
    x = g.rng.normal(size=(64, 16, 3)).astype(np.float32)
    y = (x[:, :8, 0].mean(1) - x[:, 8:, 1].mean(1) > 0).astype(np.float32)[:, None]
    comp = {"loss": "binary_crossentropy", "optimizer": opt("adam", learning_rate=1e-2),
            "metrics": ["accuracy"]}
    return g, x, y, comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {}


def case_conv2d_family_fit():
    """SeparableConv2D, DepthwiseConv2D (strided, depth_multiplier 2), Conv2DTranspose; SGD
    with momentum, mean squared error."""
    g = mg.Graph("conv2d_family_fit", 345, sequential=True)
    t = g.input("input_1", (8, 8, 2))
    t = g.call(mg.separable_conv2d("separable_conv2d", 4, 3, padding="same", multiplier=2,
                                   activation="relu"), t)
    t = g.call(mg.depthwise_conv2d("depthwise_conv2d", 3, strides=2, padding="same",
                                   multiplier=2), t)
    t = g.call(mg.conv2d_transpose("conv2d_transpose", 3, 3, strides=2, padding="same",
                                   activation="tanh"), t)
    t = g.call(mg.conv2d_transpose("conv2d_transpose_1", 2, 2, strides=1), t)
    t = g.call(mg.flatten("flatten"), t)
    g.outputs = [g.call(mg.dense("dense", 2), t)]
    x = g.rng.normal(size=(48, 8, 8, 2)).astype(np.float32)
    y = np.stack([x[:, :4, :, 0].mean((1, 2)), x[:, :, 4:, 1].std((1, 2)) - 1], 1)
    comp = {"loss": "mean_squared_error",
            "optimizer": opt("sgd", learning_rate=0.05, momentum=0.9), "metrics": []}
    return g, x, y.astype(np.float32), comp, {"batch_size": 16, "epochs": 2, "shuffle": False}, {}


def text_classifier(name, seed, cls, lr):
    """Embedding -> LSTM / GRU -> Dense(1, sigmoid) on token sequences: label 1 when the
    sequence holds more low tokens (< 10) than high ones (>= 20)."""
    def make():
        g = mg.Graph(name, seed, sequential=True)
        t = g.input("input_1", (10,))
        t = g.call(mg.embedding("embedding", 30, 8), t)
        base = "lstm" if cls == "LSTM" else "gru"
        t = g.call(mg.recurrent(cls, base, 8), t)
        g.outputs = [g.call(mg.dense("dense", 1, "sigmoid"), t)]
        x = g.rng.integers(0, 30, size=(128, 10))
        y = ((x < 10).sum(1) > (x >= 20).sum(1)).astype(np.float32)[:, None]
        comp = {"loss": "binary_crossentropy", "optimizer": opt("adam", learning_rate=lr),
                "metrics": ["accuracy"]}
        return g, x.astype(np.float32), y, comp, {"batch_size": 16, "epochs": 2,
                                                   "shuffle": False}, {
            "notes": "x holds integer token ids as float32, as Keras feeds an Embedding"}
    return make


def case_masked_embedding_lstm_adam():
    """Embedding(mask_zero) -> LSTM -> Dense(1, sigmoid) on padded token sequences (0s at the
    end of most rows, in the middle of some): label 1 when the real tokens hold more low ones
    (< 10) than high ones (>= 20). The LSTM skips the padding in the forward pass and in the
    gradients."""
    g = mg.Graph("masked_embedding_lstm_adam", 350, sequential=True)
    t = g.input("input_1", (10,))
    t = g.call(mg.masked_embedding("embedding", 30, 8), t)
    t = g.call(mg.recurrent("LSTM", "lstm", 8), t)
    g.outputs = [g.call(mg.dense("dense", 1, "sigmoid"), t)]
    x = g.rng.integers(1, 30, size=(128, 10))
    lengths = g.rng.integers(2, 11, size=128)
    for i, n in enumerate(lengths):
        x[i, n:] = 0
        if i % 5 == 0:
            x[i, g.rng.integers(0, 10)] = 0
    y = ((x < 10) & (x > 0)).sum(1) > (x >= 20).sum(1)
    comp = {"loss": "binary_crossentropy", "optimizer": opt("adam", learning_rate=0.01),
            "metrics": ["accuracy"]}
    return g, x.astype(np.float32), y.astype(np.float32)[:, None], comp, {
        "batch_size": 16, "epochs": 2, "shuffle": False}, {
        "notes": "x holds integer token ids as float32 with 0 as padding (mask_zero); "
                 "the oracle (tfjs-layers 4.22) and Keras 3 agree on a masked LSTM whose "
                 "output is its last state"}


CASES = {
    "masked_embedding_lstm_adam": case_masked_embedding_lstm_adam,
    "functional_frozen": case_functional_frozen,
    "conv1d_fit": case_conv1d_fit,
    "conv2d_family_fit": case_conv2d_family_fit,
    "cnn_regularized": case_cnn_regularized,
    "mlp_regularized": case_mlp_regularized,
    "mlp_sgd": mlp_binary("mlp_sgd", 301, opt("sgd", learning_rate=0.1)),
    "mlp_sgd_momentum": mlp_binary("mlp_sgd_momentum", 302,
                                   opt("sgd", learning_rate=0.05, momentum=0.9, nesterov=True)),
    "mlp_sgd_momentum_plain": mlp_binary("mlp_sgd_momentum_plain", 303,
                                         opt("sgd", learning_rate=0.05, momentum=0.9)),
    "mlp_adam": mlp_binary("mlp_adam", 304, opt("adam", learning_rate=1e-2)),
    "mlp_adam_amsgrad": mlp_binary("mlp_adam_amsgrad", 305,
                                   opt("adam", learning_rate=1e-2, amsgrad=True)),
    "mlp_rmsprop": mlp_binary("mlp_rmsprop", 306, opt("rmsprop", learning_rate=1e-2)),
    "mlp_rmsprop_centered": mlp_binary("mlp_rmsprop_centered", 307,
                                       opt("rmsprop", learning_rate=1e-2, centered=True,
                                           momentum=0.5)),
    "mlp_adagrad": mlp_binary("mlp_adagrad", 308, opt("adagrad", learning_rate=0.1)),
    "mlp_mse": case_mlp_mse,
    "mlp_cce": case_mlp_cce,
    "cnn_adam": cnn("cnn_adam", 321, sparse=False),
    "cnn_sparse": cnn("cnn_sparse", 321, sparse=True),
    "loss_mae": loss_case("loss_mae", 331, "mean_absolute_error", "regression", 0.05),
    "loss_huber": loss_case("loss_huber", 332, "huber", "regression", 0.05),
    "loss_log_cosh": loss_case("loss_log_cosh", 333, "log_cosh", "regression", 0.05),
    "loss_mape": loss_case("loss_mape", 334, "mean_absolute_percentage_error", "mape", 0.001),
    "loss_msle": loss_case("loss_msle", 335, "mean_squared_logarithmic_error", "positive", 0.1),
    "loss_poisson": loss_case("loss_poisson", 336, "poisson", "positive", 0.05),
    "loss_kl_divergence": loss_case("loss_kl_divergence", 337, "kl_divergence", "prob", 0.1),
    "loss_hinge": loss_case("loss_hinge", 338, "hinge", "pm1", 0.1),
    "loss_squared_hinge": loss_case("loss_squared_hinge", 339, "squared_hinge", "pm1", 0.1),
    "embedding_lstm_adam": text_classifier("embedding_lstm_adam", 341, "LSTM", 0.01),
    "embedding_gru_adam": text_classifier("embedding_gru_adam", 342, "GRU", 0.01),
}
# Losses kiln has that the oracle (lib/losses.mjs) lacks; build() confirms the refusal.
UNSUPPORTED_LOSSES = ["categorical_hinge", "cosine_similarity"]


# ------------------------------------------------------------------ numpy float64 replay
# An independent re-implementation of Keras training for Dense-only Sequential models:
# forward, hand-written backward, Keras loss formulas (epsilon 1e-7), Keras 3 update rules.
ACT = {
    "linear": (lambda z: z, lambda z, a, g: g),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a, g: g * (z > 0)),
    "tanh": (np.tanh, lambda z, a, g: g * (1 - a * a)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a, g: g * a * (1 - a)),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z, a, g: g / (1 + np.exp(-z))),
    "softmax": (lambda z: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(z - z.max(-1, keepdims=True))),
                lambda z, a, g: a * (g - (g * a).sum(-1, keepdims=True))),
}


def np_loss(name, y, p):
    """Mean loss over the batch and d(loss)/d(p), Keras formulas (probabilities, eps 1e-7)."""
    n, k = p.shape
    if name == "binary_crossentropy":
        inside = (p >= EPS) & (p <= 1 - EPS)
        pc = np.clip(p, EPS, 1 - EPS)
        li = -(y * np.log(pc + EPS) + (1 - y) * np.log(1 - pc + EPS)).mean(-1)
        d = -(y / (pc + EPS) - (1 - y) / (1 - pc + EPS)) / k * inside
    elif name == "categorical_crossentropy":
        s = p.sum(-1, keepdims=True)
        q = p / s
        inside = (q >= EPS) & (q <= 1 - EPS)
        qc = np.clip(q, EPS, 1 - EPS)
        li = -(y * np.log(qc)).sum(-1)
        dq = -y / qc * inside
        d = (dq - (dq * q).sum(-1, keepdims=True)) / s
    elif name == "mean_squared_error":
        li = ((p - y) ** 2).mean(-1)
        d = 2 * (p - y) / k
    elif name == "mean_absolute_error":
        li = np.abs(p - y).mean(-1)
        d = np.sign(p - y) / k
    elif name == "huber":
        e = p - y
        a = np.abs(e)
        q = np.minimum(a, 1.0)
        li = (0.5 * q * q + (a - q)).mean(-1)
        d = np.where(a <= 1.0, e, np.sign(e)) / k
    elif name == "log_cosh":
        e = p - y
        li = (e + np.logaddexp(0, -2 * e) - np.log(2)).mean(-1)
        d = np.tanh(e) / k
    elif name == "mean_absolute_percentage_error":
        den = np.maximum(np.abs(y), EPS)
        li = 100 * (np.abs(y - p) / den).mean(-1)
        d = 100 * np.sign(p - y) / den / k
    elif name == "mean_squared_logarithmic_error":
        pc = np.maximum(p, EPS)
        e = np.log1p(pc) - np.log1p(np.maximum(y, EPS))
        li = (e * e).mean(-1)
        d = 2 * e / (1 + pc) * (p >= EPS) / k
    elif name == "poisson":
        li = (p - y * np.log(p + EPS)).mean(-1)
        d = (1 - y / (p + EPS)) / k
    elif name == "kl_divergence":
        t = np.clip(y, EPS, 1)
        pc = np.clip(p, EPS, 1)
        li = (t * np.log(t / pc)).sum(-1)
        d = -t / pc * ((p >= EPS) & (p <= 1))
    elif name in ("hinge", "squared_hinge"):
        t = 2 * y - 1 if np.all((y == 0) | (y == 1)) else y
        m = np.maximum(1 - t * p, 0)
        if name == "hinge":
            li = m.mean(-1)
            d = -t * (m > 0) / k
        else:
            li = (m * m).mean(-1)
            d = -2 * t * m / k
    else:
        raise NotImplementedError(name)
    return li.mean(), d / n


class NpOptimizer:
    def __init__(self, o):
        self.o = o
        self.t = 0
        self.s = {}

    def slot(self, key, like, init=0.0):
        if key not in self.s:
            self.s[key] = np.full_like(like, init)
        return self.s[key]

    def step(self, params, grads):
        self.t += 1
        o, t = self.o, self.t
        lr = o["learning_rate"]
        for i, (w, g) in enumerate(zip(params, grads)):
            if o["name"] == "sgd":
                if o["momentum"] > 0:
                    m = self.slot(("m", i), w)
                    m[...] = o["momentum"] * m - lr * g
                    w += (o["momentum"] * m - lr * g) if o["nesterov"] else m
                else:
                    w -= lr * g
            elif o["name"] == "adam":
                m, v = self.slot(("m", i), w), self.slot(("v", i), w)
                m += (g - m) * (1 - o["beta_1"])
                v += (g * g - v) * (1 - o["beta_2"])
                vv = v
                if o["amsgrad"]:
                    vh = self.slot(("vh", i), w)
                    np.maximum(vh, v, out=vh)
                    vv = vh
                alpha = lr * np.sqrt(1 - o["beta_2"] ** t) / (1 - o["beta_1"] ** t)
                w -= alpha * m / (np.sqrt(vv) + o["epsilon"])
            elif o["name"] == "rmsprop":
                ms = self.slot(("ms", i), w)
                ms[...] = o["rho"] * ms + (1 - o["rho"]) * g * g
                den = ms
                if o["centered"]:
                    mg_ = self.slot(("mg", i), w)
                    mg_[...] = o["rho"] * mg_ + (1 - o["rho"]) * g
                    den = ms - mg_ * mg_
                inc = lr * g / np.sqrt(den + o["epsilon"])
                if o["momentum"] > 0:
                    mom = self.slot(("mom", i), w)
                    mom[...] = o["momentum"] * mom + inc
                    w -= mom
                else:
                    w -= inc
            elif o["name"] == "adagrad":
                acc = self.slot(("acc", i), w, o["initial_accumulator_value"])
                acc += g * g
                w -= lr * g / np.sqrt(acc + o["epsilon"])


def np_regularizer(r):
    """(l1, l2) of a Keras regularizer config, or None."""
    if not r:
        return None
    c = r.get("config", {})
    return float(c.get("l1", 0.0)), float(c.get("l2", 0.0))


def numpy_replay(g, x, y, comp, fit, max_steps=None):
    """Trains a Dense-only Sequential model in float64; returns (batch losses, weights)."""
    layers = [l for l in g.layers if l["class_name"] == "Dense"]
    if len(layers) != len(g.layers) - 1:
        return None
    ws = [[w.astype(np.float64).copy() for w in g.weights[l["config"]["name"]]] for l in layers]
    opt_ = NpOptimizer(comp["optimizer"])
    x, y = x.astype(np.float64), y.astype(np.float64)
    n, bs = len(x), fit["batch_size"]
    losses = []
    for _ in range(fit["epochs"]):
        for s in range(0, n, bs):
            if max_steps is not None and len(losses) == max_steps:
                return losses, ws
            xb, yb = x[s:s + bs], y[s:s + bs]
            zs, acts = [], [xb]
            for l, (k, b) in zip(layers, ws):
                z = acts[-1] @ k + b
                zs.append(z)
                acts.append(ACT[l["config"]["activation"]][0](z))
            loss, gr = np_loss(comp["loss"], yb, acts[-1])
            # Keras adds the weight regularizers' penalties l1*sum|w| + l2*sum w^2
            for l, lw in zip(layers, ws):
                for key, w in zip(("kernel_regularizer", "bias_regularizer"), lw):
                    r = np_regularizer(l["config"].get(key))
                    if r:
                        loss += r[0] * np.abs(w).sum() + r[1] * (w * w).sum()
            losses.append(float(loss))
            grads = [None] * len(layers)
            for li in range(len(layers) - 1, -1, -1):
                gz = ACT[layers[li]["config"]["activation"]][1](zs[li], acts[li + 1], gr)
                grads[li] = [acts[li].T @ gz, gz.sum(0)]
                for j, key in enumerate(("kernel_regularizer", "bias_regularizer")):
                    r = np_regularizer(layers[li]["config"].get(key))
                    if r:
                        grads[li][j] = grads[li][j] + r[0] * np.sign(ws[li][j]) + 2 * r[1] * ws[li][j]
                gr = gz @ ws[li][0].T
            opt_.step([w for lw in ws for w in lw], [gg for lg in grads for gg in lg])
    return losses, ws


def torch_recurrent(cls, c, w, x, mask=None):
    """Keras' LSTM (gates i, f, c, o) or GRU (z, r, h; reset_after with a (2, 3u) bias) with
    tanh / sigmoid, last output, written from Keras' cell formulas. `mask` (batch, steps) of
    1s and 0s: a masked step keeps the previous states (Keras' backend rnn)."""
    import torch
    assert c["activation"] == "tanh" and c["recurrent_activation"] == "sigmoid"
    assert not c["return_sequences"] and not c["go_backwards"] and c["use_bias"]
    u = c["units"]
    k, r, b = w
    h = torch.zeros(x.shape[0], u, dtype=x.dtype)
    cs = torch.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t]
        h_old, c_old = h, cs
        if cls == "LSTM":
            z = xt @ k + h @ r + b
            i, f = torch.sigmoid(z[:, :u]), torch.sigmoid(z[:, u:2 * u])
            cs = f * cs + i * torch.tanh(z[:, 2 * u:3 * u])
            h = torch.sigmoid(z[:, 3 * u:]) * torch.tanh(cs)
        else:
            assert c["reset_after"]
            mx, mi = xt @ k + b[0], h @ r + b[1]
            zg = torch.sigmoid(mx[:, :u] + mi[:, :u])
            rg = torch.sigmoid(mx[:, u:2 * u] + mi[:, u:2 * u])
            hh = torch.tanh(mx[:, 2 * u:] + rg * mi[:, 2 * u:])
            h = zg * h + (1 - zg) * hh
        if mask is not None:
            m = mask[:, t:t + 1]
            h = m * h + (1 - m) * h_old
            cs = m * cs + (1 - m) * c_old
    return h


def torch_replay(g, x, y, comp, fit, dtype):
    """Trains a Conv2D/MaxPooling2D/Flatten/Dense Sequential model with torch autograd in
    `dtype` (Keras layouts converted: NHWC data, (kh, kw, in, out) kernels, NHWC flatten
    order), Keras crossentropy formulas, Keras 3 Adam/SGD. Returns (batch losses, weights)."""
    import torch
    import torch.nn.functional as F
    o = comp["optimizer"]
    if comp["loss"] not in ("categorical_crossentropy", "sparse_categorical_crossentropy",
                            "binary_crossentropy") \
            or o["name"] != "adam" or o["amsgrad"]:
        return None
    layers = g.layers[1:]
    ws = {l["config"]["name"]: [torch.tensor(w.astype(np.float64), dtype=dtype, requires_grad=True)
                                for w in g.weights[l["config"]["name"]]]
          for l in layers if l["config"]["name"] in g.weights}
    params = [w for l in layers for w in ws.get(l["config"]["name"], [])]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    xt = torch.tensor(x, dtype=dtype)
    yt = torch.tensor(one_hot(y, 10) if y.ndim == 1 and comp["loss"] != "binary_crossentropy"
                      else y, dtype=dtype)
    n, bs = len(x), fit["batch_size"]
    losses, t = [], 0
    for _ in range(fit["epochs"]):
        for s in range(0, n, bs):
            a = xt[s:s + bs]
            mask = None
            for l in layers:
                c, cls = l["config"], l["class_name"]
                if cls == "Conv2D":
                    k, b = ws[c["name"]]
                    a = F.conv2d(a.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1), b).permute(0, 2, 3, 1)
                elif cls == "MaxPooling2D":
                    a = F.max_pool2d(a.permute(0, 3, 1, 2), c["pool_size"], c["strides"]).permute(0, 2, 3, 1)
                elif cls == "Flatten":
                    a = a.reshape(a.shape[0], -1)
                elif cls == "Dense":
                    k, b = ws[c["name"]]
                    a = a @ k + b
                elif cls == "Embedding":
                    if c.get("mask_zero"):
                        mask = (a != 0).to(dtype)
                    a = ws[c["name"]][0][a.long()]
                    continue
                elif cls in ("LSTM", "GRU"):
                    a = torch_recurrent(cls, c, ws[c["name"]], a, mask)
                    mask = None
                    continue
                else:
                    return None
                act = c.get("activation", "linear")
                a = {"relu": torch.relu, "softmax": lambda z: torch.softmax(z, -1),
                     "sigmoid": torch.sigmoid, "linear": lambda z: z}[act](a)
            yb = yt[s:s + bs]
            if comp["loss"] == "binary_crossentropy":
                q = torch.clamp(a, EPS, 1 - EPS)
                loss = -(yb * torch.log(q) + (1 - yb) * torch.log(1 - q)).mean()
            elif comp["loss"] == "categorical_crossentropy":
                q = torch.clamp(a / a.sum(-1, keepdim=True), EPS, 1 - EPS)
                loss = -(yb * torch.log(q)).sum(-1).mean()
            else:
                lp = torch.log(torch.clamp(a, EPS, 1 - EPS))
                loss = -(yb * torch.log_softmax(lp, -1)).sum(-1).mean()
            losses.append(float(loss))
            grads = torch.autograd.grad(loss, params)
            t += 1
            lr = o["learning_rate"]
            alpha = lr * np.sqrt(1 - o["beta_2"] ** t) / (1 - o["beta_1"] ** t)
            with torch.no_grad():
                for p_, g_, m_, v_ in zip(params, grads, m, v):
                    m_ += (g_ - m_) * (1 - o["beta_1"])
                    v_ += (g_ * g_ - v_) * (1 - o["beta_2"])
                    p_ -= alpha * m_ / (torch.sqrt(v_) + o["epsilon"])
    return losses, {name: [w.detach().double().numpy() for w in lw] for name, lw in ws.items()}


# ------------------------------------------------------------------ oracle
# oracle.mjs's --batch-log maps tfjs's batch logs to Keras names by position, but tfjs's
# batch logs begin with "batch" and "size": the batch index lands in "loss", the batch size
# in the first metric, and the real loss is overwritten (history.json "batches" entries look
# like {"batch": 0, "loss": 0, "accuracy": 16, "undefined": 0.5}). The per-epoch history is
# unaffected. We run a copy of oracle.mjs, written next to it, that drops those two keys first.
BATCH_LOG_BUG = ("      for (const [k, v] of Object.entries(logs)) r[k] = typeof v === 'number' ? v : "
                 "(await v.data())[0];")
BATCH_LOG_FIX = ("      for (const [k, v] of Object.entries(logs)) if (k !== 'batch' && k !== 'size') "
                 "r[k] = typeof v === 'number' ? v : (await v.data())[0];")
ORACLE_PATCH = ("oracle.mjs fit --batch-log run from a patched copy (oracle.fitgold.mjs): the "
                "onBatchEnd callback skips tfjs's 'batch' and 'size' log keys before the positional "
                "mapping to Keras names; unpatched, the per-batch loss is lost")


class Oracle:
    def __init__(self, d):
        self.dir = d
        if not os.path.exists(os.path.join(d, "node_modules")):
            sys.exit(f"make_fit_golden: {d}/node_modules missing; run npm ci there first")
        with open(os.path.join(d, "oracle.mjs")) as fh:
            src = fh.read()
        self.script = os.path.join(d, "oracle.mjs")
        self.patch = None
        if BATCH_LOG_BUG in src:
            self.script = os.path.join(d, "oracle.fitgold.mjs")
            with open(self.script, "w") as fh:
                fh.write(src.replace(BATCH_LOG_BUG, BATCH_LOG_FIX))
            self.patch = ORACLE_PATCH

    def fit(self, model_dir, x, y, spec, outdir, backend="cpu"):
        cmd = ["node", self.script, "fit", "--model", model_dir,
               "--x", x, "--y", y, "--spec", spec, "--outdir", outdir, "--batch-log",
               "--backend", backend, "--quiet"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(mg.first_error_line(r.stderr))
        with open(os.path.join(outdir, "history.json")) as fh:
            return json.load(fh)


def read_weights_dir(d):
    """{layer: [np arrays]} from a model directory's weights/manifest.json."""
    with open(os.path.join(d, "weights", "manifest.json")) as fh:
        man = json.load(fh)
    return {e["name"]: [np.load(os.path.join(d, "weights", w["file"])) for w in e["weights"]]
            for e in man["layers"] if e["weights"]}


def oracle_spec(comp, fit):
    o = dict(comp["optimizer"])
    name = o.pop("name")
    return {"loss": comp["loss"], "metrics": comp["metrics"],
            "optimizer": {"class_name": OPT_CLASS[name], "config": o},
            "batch_size": fit["batch_size"], "epochs": fit["epochs"], "shuffle": False,
            "optimizer_flavor": "keras3", "validation_split": 0}


def running_mean(vals, sizes, steps_per_epoch):
    out, tot, seen = [], 0.0, 0
    for i, (v, s) in enumerate(zip(vals, sizes)):
        if i % steps_per_epoch == 0:
            tot, seen = 0.0, 0
        tot += v * s
        seen += s
        out.append(tot / seen)
    return out


def max_weight_diff(a, b):
    """max over layers of max|a - b| / max(1, max|b|) (the weights_atol rule)."""
    m = 0.0
    for name, ws in b.items():
        for wa, wb in zip(a[name], ws):
            scale = max(1.0, float(np.abs(wb).max()))
            m = max(m, float(np.abs(wa.astype(np.float64) - wb.astype(np.float64)).max()) / scale)
    return m


def max_loss_rdiff(a, b):
    return max(abs(p - q) / max(1.0, abs(q)) for p, q in zip(a, b))


# ------------------------------------------------------------------ writing a case
def build(name, oracle, wasm):
    g, x, y, comp, fit, extra = CASES[name]()
    case_dir = os.path.join(HERE, name)
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.json"), "w") as fh:
        json.dump(g.model_config(), fh, indent=1)
        fh.write("\n")
    weight_files = g.write_weights(case_dir)
    np.save(os.path.join(case_dir, "x.npy"), np.ascontiguousarray(x, dtype="<f4"))
    y_dtype = "int32" if y.dtype.kind in "iu" else "float32"
    np.save(os.path.join(case_dir, "y.npy"), np.ascontiguousarray(y, dtype="<i4" if y_dtype == "int32" else "<f4"))
    spec = oracle_spec(comp, fit)
    spec_path = os.path.join(case_dir, "spec.json")
    with open(spec_path, "w") as fh:
        json.dump(spec, fh, indent=1)
        fh.write("\n")

    tmp = tempfile.mkdtemp(prefix=f"fitgold-{name}-")
    try:
        xp, yp = os.path.join(case_dir, "x.npy"), os.path.join(case_dir, "y.npy")
        out = os.path.join(tmp, "cpu")
        hist = oracle.fit(case_dir, xp, yp, spec_path, out)
        with open(os.path.join(case_dir, "history.json"), "w") as fh:
            json.dump(hist, fh, indent=1)
            fh.write("\n")
        final = read_weights_dir(out)
        # final/<layer>/<i>.npy (+ manifest), same layout as weights/
        final_files = {}
        fman = {"format": "keras-oracle-weights-v1", "layers": []}
        for l in g.layers:
            lname = l["config"]["name"]
            if lname not in g.weights:
                continue
            kinds = mg.weight_kinds(l)
            os.makedirs(os.path.join(case_dir, "final", lname), exist_ok=True)
            entry = {"name": lname, "weights": []}
            for i, w in enumerate(final[lname]):
                assert w.shape == g.weights[lname][i].shape, (lname, i, w.shape)
                rel = f"{lname}/{i}.npy"
                np.save(os.path.join(case_dir, "final", rel), np.ascontiguousarray(w, dtype="<f4"))
                entry["weights"].append({"name": f"{lname}/{kinds[i]}:0", "shape": list(w.shape),
                                         "dtype": "float32", "file": rel})
                final_files.setdefault(lname, []).append(f"final/{rel}")
            fman["layers"].append(entry)
        with open(os.path.join(case_dir, "final", "manifest.json"), "w") as fh:
            json.dump(fman, fh, indent=1)
            fh.write("\n")

        # a frozen layer (trainable false) ends with its initial weights, bit for bit
        for l in g.layers:
            if not l["config"].get("trainable", True) and l["config"]["name"] in g.weights:
                for w0, w1 in zip(g.weights[l["config"]["name"]], final[l["config"]["name"]]):
                    assert np.array_equal(w0, w1), (name, l["config"]["name"])

        n, bs = len(x), fit["batch_size"]
        spe = -(-n // bs)
        sizes = [min(bs, n - s) for s in range(0, n, bs)] * fit["epochs"]
        batches = hist["batches"]
        assert len(batches) == spe * fit["epochs"], (len(batches), spe, fit["epochs"])
        batch_losses = [b["loss"] for b in batches]
        metric_keys = [k for k in hist["history"] if k != "loss"]
        batch_metrics = {k: [b[k] for b in batches] for k in metric_keys}
        # the epoch value is the sample-weighted mean of the batches' own values: check that
        # this is what the batch log holds (and not a running mean)
        for e in range(fit["epochs"]):
            seg = slice(e * spe, (e + 1) * spe)
            wm = float(np.dot(batch_losses[seg], sizes[seg]) / n)
            ep = hist["history"]["loss"][e]
            assert abs(wm - ep) <= 1e-5 * max(1, abs(ep)), (name, e, wm, ep)

        layers = g.case_layers(weight_files)
        for entry in layers:
            entry["final_weights"] = final_files.get(entry["name"], [])
        case = {"name": name, "layers": layers,
                "model_inputs": [r[0] for r in g.inputs],
                "model_outputs": [r[0] for r in g.outputs],
                "model_output_refs": [list(r) for r in g.outputs],
                "inputs": [{"file": "x.npy", "shape": list(x.shape[1:])}],
                "x": "x.npy", "y": "y.npy", "y_dtype": y_dtype, "y_shape": list(y.shape),
                "compile": comp, "fit": fit,
                "num_samples": n, "steps_per_epoch": spe, "batch_sizes": sizes[:spe],
                "batch_losses": batch_losses,
                "batch_losses_meaning": (
                    "one entry per optimizer step over all epochs: the loss of that batch alone "
                    "(mean over its samples), from the forward pass with the weights before that "
                    "step's update (tfjs onBatchEnd logs). Keras' own per-batch log "
                    "(on_train_batch_end / progress bar) is the running mean since the epoch "
                    "began: batch_losses_running_mean"),
                "batch_losses_running_mean": running_mean(batch_losses, sizes, spe),
                "batch_metrics": batch_metrics,
                "epoch_logs": hist["history"],
                "epoch_logs_meaning": "per epoch, the sample-weighted mean of that epoch's "
                                      "per-batch values (Keras History.history)",
                "tolerance": {**DEFAULT_TOL, "rule": TOL_RULE},
                "source": SOURCE,
                "model": "model.json", "weights_manifest": "weights/manifest.json",
                "final_weights_manifest": "final/manifest.json",
                "spec": "spec.json", "history": "history.json",
                "config_style": "tf.keras 2.x model_config",
                "seed": g.seed}
        if oracle.patch:
            case["oracle_patch"] = oracle.patch
        case.update({k: v for k, v in extra.items() if k != "notes"})

        # second opinion on f32 noise: the same fit on tfjs's wasm backend
        if wasm:
            try:
                outw = os.path.join(tmp, "wasm")
                hw = oracle.fit(case_dir, xp, yp, spec_path, outw, backend="wasm")
                wl = [b["loss"] for b in hw["batches"]]
                case["noise_estimate"] = {
                    "tool": "the same oracle fit on tfjs's wasm backend (other f32 kernels)",
                    "max_loss_rdiff": max_loss_rdiff(wl, batch_losses),
                    "max_weight_diff": max_weight_diff(read_weights_dir(outw), final)}
            except RuntimeError as e:
                case["noise_estimate"] = {"tool": "wasm backend", "error": str(e)}

        # independent numpy float64 replay (Dense-only models)
        rep = numpy_replay(g, x, y, comp, fit)
        if rep is not None:
            cc = {"tool": "numpy float64 replay in make_fit_golden.py (hand-written forward/"
                          "backward, Keras loss formulas, Keras 3 update rules)"}
            if name == "mlp_sgd":
                l2, w2 = numpy_replay(g, x, y, comp, fit, max_steps=2)
                # the oracle's weights after 2 steps: rerun it on the first 2 batches only
                two = os.path.join(tmp, "two")
                os.makedirs(two)
                np.save(os.path.join(two, "x.npy"), x[:2 * bs])
                np.save(os.path.join(two, "y.npy"), y[:2 * bs])
                s2 = dict(spec, epochs=1)
                with open(os.path.join(two, "spec.json"), "w") as fh:
                    json.dump(s2, fh)
                h2 = oracle.fit(case_dir, os.path.join(two, "x.npy"), os.path.join(two, "y.npy"),
                                os.path.join(two, "spec.json"), os.path.join(two, "out"))
                ow2 = read_weights_dir(os.path.join(two, "out"))
                dense_names = [l["config"]["name"] for l in g.layers if l["class_name"] == "Dense"]
                dw = max(float(np.abs(ow2[nm][i].astype(np.float64) - w2[j][i]).max())
                         for j, nm in enumerate(dense_names) for i in range(2))
                dl = max(abs(a - b) for a, b in zip([b["loss"] for b in h2["batches"]], l2))
                cc["first_2_steps"] = {"max_abs_diff_weights": dw, "max_abs_diff_loss": dl,
                                       "oracle_batch_losses": [b["loss"] for b in h2["batches"]],
                                       "numpy_batch_losses": l2}
            dense_names = [l["config"]["name"] for l in g.layers if l["class_name"] == "Dense"]
            cc["all_steps"] = {
                "max_loss_rdiff": max_loss_rdiff(rep[0], batch_losses),
                "max_weight_diff": max_weight_diff(
                    {nm: rep[1][j] for j, nm in enumerate(dense_names)}, final)}
            case["cross_check"] = cc
        else:
            import torch
            r64 = torch_replay(g, x, y, comp, fit, torch.float64)
            if r64 is None:
                case["cross_check"] = {"tool": "none for this model"}
            else:
                case["cross_check"] = {
                    "tool": "torch float64 autograd replay in make_fit_golden.py (Keras layouts "
                            "and cell formulas, Keras crossentropy formula, Keras 3 Adam)",
                    "all_steps": {"max_loss_rdiff": max_loss_rdiff(r64[0], batch_losses),
                                  "max_weight_diff": max_weight_diff(r64[1], final)}}
                r32 = torch_replay(g, x, y, comp, fit, torch.float32)
                ne = case.get("noise_estimate", {})
                case["noise_estimate"] = {
                    "tool": "the same training in torch float32 (other f32 kernels; tfjs's wasm "
                            "backend lacks Conv2DBackpropFilter)",
                    "max_loss_rdiff": max_loss_rdiff(r32[0], batch_losses),
                    "max_weight_diff": max_weight_diff(r32[1], final)}
                if "error" in ne:
                    case["noise_estimate"]["wasm"] = ne["error"]
        if "notes" in extra:
            case["notes"] = extra["notes"]
        with open(os.path.join(case_dir, "case.json"), "w") as fh:
            json.dump(case, fh, indent=1)
            fh.write("\n")
        return case
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def probe_unsupported(oracle):
    """Confirms that the oracle refuses the losses in UNSUPPORTED_LOSSES; returns messages."""
    msgs = {}
    make = loss_case("probe", 399, "mean_absolute_error", "regression", 0.05)
    g, x, y, comp, fit, _ = make()
    tmp = tempfile.mkdtemp(prefix="fitgold-probe-")
    try:
        with open(os.path.join(tmp, "model.json"), "w") as fh:
            json.dump(g.model_config(), fh)
        g.write_weights(tmp)
        np.save(os.path.join(tmp, "x.npy"), x)
        np.save(os.path.join(tmp, "y.npy"), y)
        for loss in UNSUPPORTED_LOSSES:
            spec = oracle_spec(dict(comp, loss=loss), fit)
            with open(os.path.join(tmp, "spec.json"), "w") as fh:
                json.dump(spec, fh)
            try:
                oracle.fit(tmp, os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy"),
                           os.path.join(tmp, "spec.json"), os.path.join(tmp, "out"))
                msgs[loss] = "accepted (unexpected)"
            except RuntimeError as e:
                msgs[loss] = str(e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return msgs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", default=os.environ.get("KILN_ORACLE", "/tmp/oracle-fit"))
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--no-wasm", action="store_true", help="skip the wasm noise estimate")
    a = ap.parse_args()
    oracle = Oracle(a.oracle)
    names = a.only.split(",") if a.only else list(CASES)
    for n in names:
        if n not in CASES:
            sys.exit(f"make_fit_golden: unknown case {n}; cases: {', '.join(CASES)}")
    for n in names:
        c = build(n, oracle, not a.no_wasm)
        ne = c.get("noise_estimate", {})
        cc = c["cross_check"].get("all_steps", {})
        print(f"{n:24s} steps {len(c['batch_losses']):2d} loss {c['batch_losses'][0]:.5g} -> "
              f"{c['batch_losses'][-1]:.5g}  noise(l {ne.get('max_loss_rdiff', float('nan')):.2g} "
              f"w {ne.get('max_weight_diff', float('nan')):.2g})  check(l "
              f"{cc.get('max_loss_rdiff', float('nan')):.2g} w "
              f"{cc.get('max_weight_diff', float('nan')):.2g})", flush=True)
    if not a.only:
        for loss, msg in probe_unsupported(oracle).items():
            print(f"unsupported by the oracle: {loss}: {msg}")


if __name__ == "__main__":
    main()

