#!/usr/bin/python3
"""Makes kiln's golden prediction data from the Keras oracle (TensorFlow.js layers 4.22).

Each case is one small Keras model with seeded random weights. For case <name> this writes
test/golden/<name>/:

  model.json              the Keras model_config (tf.keras 2.x layout: Sequential or Functional)
  weights/manifest.json   the oracle's weight manifest ("keras-oracle-weights-v1"); its "file"
                          entries are relative to weights/, e.g. "dense/0.npy"
  weights/<layer>/<i>.npy float32 C-order, Keras shapes, Keras get_weights() order
  x.npy | x0.npy, x1.npy  the inputs (float32); the two seed CNN cases read the first 10000
                          Fashion-MNIST t10k images instead ("x_source" in case.json)
  y.npy | y0.npy, y1.npy  the expected outputs (float32), from `oracle.mjs predict`, or from
                          numpy where tfjs lacks or differs from Keras (see "source")
  case.json               what a C++ test needs, schema below

case.json:
  {"name": "mlp",
   "inputs": [{"file": "x.npy", "shape": [4]}],        # shape without the batch dimension;
             # or {"x_source": {"dataset": "fashion_mnist_test", "count": 10000}, "shape": [...]}
   "outputs": ["y.npy"],
   "layers": [{"name", "class_name", "config",          # config exactly as in model.json
               "inbound": [names feeding the first call],
               "calls": [[names feeding call 0], [call 1], ...],   # Keras inbound_nodes
               "call_refs": [[[name, node_index, tensor_index], ...], ...],  # the same, exact
               "weights": ["weights/dense/0.npy", ...]}, ...],     # topological order
   "model_inputs": ["input_1"], "model_outputs": ["dense_2"],
   "model_output_refs": [[name, node_index, tensor_index], ...],
   "tolerance": {"atol": 1e-5, "rule": "abs(kiln - keras) <= atol * max(1, max|y|)"},
   "source": "oracle predict (tfjs-layers 4.22)",
   "cross_check": {"tool": "keras_ref.py ...", "max_abs_diff": ...} ,
   "seed": ..., ...}                                     # per-case extras, e.g. activation_formula

The app_* cases (keras.applications: VGG16, ResNet50, MobileNet) differ in three ways:
  - model.json is the config kiln::applications writes (Model::to_json, tf.keras 2.x layout),
    printed by build/bin/kiln-golden-app-config from the case's "application" entry
    ({"builder": "ResNet50", "options": {...}}); the oracle runs exactly that config, so the
    case checks kiln's builder and config writer against Keras' layer semantics, and the C++
    test checks that the builder still writes the committed model.json;
  - there are no weight files: VGG16 and ResNet50 have 14.7M and 23.6M parameters (59 and
    94 MB as .npy). case.json's "weights_formula" ({"name": "kiln-golden-hash-v1", "seed"})
    makes every weight from a hash of its Keras name and element index (formula_weight below;
    test/e2e/GoldenModel.h has the same in C++, bit for bit), and the oracle gets the
    weights written from it to a temporary model directory;
  - tfjs-layers 4.22's GlobalAveragePooling2D ignores keepdims (MobileNet's top uses it), so
    the oracle's copy of the config has a Reshape((1, 1, channels)) after that layer (the same
    values; noted in case.json's "oracle_note").

Usage (re-runnable; output is deterministic: numpy seeds are fixed, tfjs's cpu backend is):
  cp -r ../shared/oracle /tmp/oracle-golden && (cd /tmp/oracle-golden && npm ci)
  /usr/bin/python3 test/golden/make_golden.py [--oracle /tmp/oracle-golden] [--only mlp,...]
      [--kiln-bin build/bin]      # for the app_* cases: kiln-golden-app-config

Needs /usr/bin/python3 with numpy and torch (for keras_ref.py), node, and Debian's
dataset-fashion-mnist (KILN_FASHION_MNIST_DIR overrides its directory).
"""
import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = {"atol": 1e-5, "rule": "abs(kiln - keras) <= atol * max(1, max|y|)"}
ORACLE_SOURCE = "oracle predict (tfjs-layers 4.22)"
MNIST_COUNT = 10000


# ------------------------------------------------------------------ Keras 2.x layer configs
def _common(name):
    return {"name": name, "trainable": True, "dtype": "float32"}


def _init_and_reg():
    return {"kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}


def input_layer(name, shape):
    return {"class_name": "InputLayer",
            "config": {"batch_input_shape": [None, *shape], "dtype": "float32", "sparse": False,
                       "ragged": False, "name": name}}


def dense(name, units, activation="linear"):
    c = _common(name)
    c.update({"units": units, "activation": activation, "use_bias": True, **_init_and_reg()})
    return {"class_name": "Dense", "config": c}


def conv2d(name, filters, kernel, strides=1, padding="valid", activation="linear"):
    c = _common(name)
    c.update({"filters": filters, "kernel_size": [kernel, kernel], "strides": [strides, strides],
              "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1],
              "groups": 1, "activation": activation, "use_bias": True, **_init_and_reg()})
    return {"class_name": "Conv2D", "config": c}


def pool2d(cls, name, pool, strides, padding="valid"):
    c = _common(name)
    c.update({"pool_size": [pool, pool], "padding": padding, "strides": [strides, strides],
              "data_format": "channels_last"})
    return {"class_name": cls, "config": c}


def flatten(name):
    c = _common(name)
    c["data_format"] = "channels_last"
    return {"class_name": "Flatten", "config": c}


def concatenate(name, axis=-1):
    c = _common(name)
    c["axis"] = axis
    return {"class_name": "Concatenate", "config": c}


def merge(cls, name):
    return {"class_name": cls, "config": _common(name)}


def global_pool(cls, name, keepdims=False):
    c = _common(name)
    c.update({"data_format": "channels_last", "keepdims": keepdims})
    return {"class_name": cls, "config": c}


def layer_norm(name, axis=-1, epsilon=1e-3, center=True, scale=True):
    c = _common(name)
    c.update({"axis": axis, "epsilon": epsilon, "center": center, "scale": scale,
              "beta_initializer": {"class_name": "Zeros", "config": {}},
              "gamma_initializer": {"class_name": "Ones", "config": {}},
              "beta_regularizer": None, "gamma_regularizer": None,
              "beta_constraint": None, "gamma_constraint": None})
    return {"class_name": "LayerNormalization", "config": c}


def sides2d(cls, name, sides):
    """ZeroPadding2D / Cropping2D with ((top, bottom), (left, right))."""
    c = _common(name)
    c.update({"padding" if cls == "ZeroPadding2D" else "cropping": [list(p) for p in sides],
              "data_format": "channels_last"})
    return {"class_name": cls, "config": c}


def up_sampling2d(name, size):
    c = _common(name)
    c.update({"size": list(size), "data_format": "channels_last", "interpolation": "nearest"})
    return {"class_name": "UpSampling2D", "config": c}


def permute(name, dims):
    c = _common(name)
    c["dims"] = list(dims)
    return {"class_name": "Permute", "config": c}


def repeat_vector(name, n):
    c = _common(name)
    c["n"] = n
    return {"class_name": "RepeatVector", "config": c}


def reshape(name, target):
    c = _common(name)
    c["target_shape"] = list(target)
    return {"class_name": "Reshape", "config": c}


# ---- the convolution family (issue 6)
def conv2d_full(name, filters, kernel, strides=1, padding="valid", dilation=1, groups=1,
                activation="linear"):
    layer = conv2d(name, filters, kernel, strides, padding, activation)
    layer["config"].update({"dilation_rate": [dilation, dilation], "groups": groups})
    return layer


def conv1d(name, filters, kernel, strides=1, padding="valid", dilation=1, activation="linear"):
    c = _common(name)
    c.update({"filters": filters, "kernel_size": [kernel], "strides": [strides],
              "padding": padding, "data_format": "channels_last", "dilation_rate": [dilation],
              "groups": 1, "activation": activation, "use_bias": True, **_init_and_reg()})
    return {"class_name": "Conv1D", "config": c}


def pool1d(cls, name, pool, strides, padding="valid"):
    c = _common(name)
    c.update({"pool_size": [pool], "padding": padding, "strides": [strides],
              "data_format": "channels_last"})
    return {"class_name": cls, "config": c}


def depthwise_conv2d(name, kernel, strides=1, padding="valid", multiplier=1, dilation=1,
                     activation="linear"):
    c = _common(name)
    c.update({"kernel_size": [kernel, kernel], "strides": [strides, strides], "padding": padding,
              "depth_multiplier": multiplier, "data_format": "channels_last",
              "dilation_rate": [dilation, dilation], "activation": activation, "use_bias": True,
              "depthwise_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}},
              "depthwise_regularizer": None, "bias_regularizer": None,
              "activity_regularizer": None, "depthwise_constraint": None,
              "bias_constraint": None})
    return {"class_name": "DepthwiseConv2D", "config": c}


def separable_conv2d(name, filters, kernel, strides=1, padding="valid", multiplier=1,
                     activation="linear"):
    c = _common(name)
    c.update({"filters": filters, "kernel_size": [kernel, kernel], "strides": [strides, strides],
              "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1],
              "depth_multiplier": multiplier, "activation": activation, "use_bias": True,
              "depthwise_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "pointwise_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}},
              "depthwise_regularizer": None, "pointwise_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None,
              "depthwise_constraint": None, "pointwise_constraint": None,
              "bias_constraint": None})
    return {"class_name": "SeparableConv2D", "config": c}


def conv2d_transpose(name, filters, kernel, strides=1, padding="valid", activation="linear",
                     dilation=1):
    c = _common(name)
    c.update({"filters": filters, "kernel_size": [kernel, kernel], "strides": [strides, strides],
              "padding": padding, "output_padding": None, "data_format": "channels_last",
              "dilation_rate": [dilation, dilation], "activation": activation, "use_bias": True,
              **_init_and_reg()})
    return {"class_name": "Conv2DTranspose", "config": c}


def dot(name, axes, normalize=False):
    c = _common(name)
    c.update({"axes": axes, "normalize": normalize})
    return {"class_name": "Dot", "config": c}


def _window(n, k, s, d, padding):
    keff = (k - 1) * d + 1
    if padding == "same":
        return -(-n // s)
    if padding == "causal":
        return (n - 1) // s + 1
    return (n - keff) // s + 1


def embedding(name, input_dim, output_dim):
    c = _common(name)
    c.update({"input_dim": input_dim, "output_dim": output_dim,
              "embeddings_initializer": {"class_name": "RandomUniform",
                                         "config": {"minval": -0.05, "maxval": 0.05,
                                                    "seed": None}},
              "embeddings_regularizer": None, "activity_regularizer": None,
              "embeddings_constraint": None, "mask_zero": False, "input_length": None})
    return {"class_name": "Embedding", "config": c}


def recurrent(cls, name, units, activation="tanh", recurrent_activation="sigmoid",
              use_bias=True, return_sequences=False, return_state=False, go_backwards=False,
              reset_after=True):
    """SimpleRNN / LSTM / GRU as tf.keras 2.x writes them."""
    c = _common(name)
    c.update({"return_sequences": return_sequences, "return_state": return_state,
              "go_backwards": go_backwards, "stateful": False, "unroll": False,
              "time_major": False, "units": units, "activation": activation})
    if cls != "SimpleRNN":
        c["recurrent_activation"] = recurrent_activation
    c.update({"use_bias": use_bias,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "recurrent_initializer": {"class_name": "Orthogonal",
                                        "config": {"gain": 1.0, "seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}})
    if cls == "LSTM":
        c["unit_forget_bias"] = True
    c.update({"kernel_regularizer": None, "recurrent_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": None, "recurrent_constraint": None,
              "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0})
    if cls != "SimpleRNN":
        c["implementation"] = 2
    if cls == "GRU":
        c["reset_after"] = reset_after
    return {"class_name": cls, "config": c}


def time_distributed(name, layer):
    c = _common(name)
    c["layer"] = layer
    return {"class_name": "TimeDistributed", "config": c}


def bidirectional(name, layer, merge_mode="concat"):
    """tf.keras 2.x writes the forward copy of the layer, named forward_<name>."""
    c = _common(name)
    inner = json_copy(layer)
    inner["config"]["name"] = "forward_" + inner["config"]["name"]
    c.update({"layer": inner, "merge_mode": merge_mode})
    return {"class_name": "Bidirectional", "config": c}


RECURRENT_GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def ln_axes(c, rank):
    """LayerNormalization's axes as non-negative indices of a batch-first shape of `rank`."""
    axis = c["axis"] if isinstance(c["axis"], list) else [c["axis"]]
    return [a + rank if a < 0 else a for a in axis]


# ------------------------------------------------------------------ weights
def weight_shapes(layer, in_shape):
    """Keras get_weights() shapes of `layer` given its input shape (without batch)."""
    cls, c = layer["class_name"], layer["config"]
    if cls == "Dense":
        return [(in_shape[-1], c["units"]), (c["units"],)]
    if cls == "Conv2D":
        kh, kw = c["kernel_size"]
        return [(kh, kw, in_shape[-1] // c.get("groups", 1), c["filters"]), (c["filters"],)]
    if cls == "Conv1D":
        return [(c["kernel_size"][0], in_shape[-1] // c.get("groups", 1), c["filters"]),
                (c["filters"],)]
    if cls == "DepthwiseConv2D":
        kh, kw = c["kernel_size"]
        m = c["depth_multiplier"]
        return [(kh, kw, in_shape[-1], m), (in_shape[-1] * m,)]
    if cls == "SeparableConv2D":
        kh, kw = c["kernel_size"]
        m = c["depth_multiplier"]
        return [(kh, kw, in_shape[-1], m), (1, 1, in_shape[-1] * m, c["filters"]),
                (c["filters"],)]
    if cls == "Conv2DTranspose":
        kh, kw = c["kernel_size"]
        return [(kh, kw, c["filters"], in_shape[-1]), (c["filters"],)]
    if cls == "Conv3D":
        return [(*c["kernel_size"], in_shape[-1], c["filters"]), (c["filters"],)]
    if cls == "LayerNormalization":
        shape = tuple((None, *in_shape)[a] for a in ln_axes(c, len(in_shape) + 1))
        return [shape] * (int(c["scale"]) + int(c["center"]))
    if cls == "Embedding":
        return [(c["input_dim"], c["output_dim"])]
    if cls == "TimeDistributed":
        return weight_shapes(c["layer"], (*in_shape[1:],))
    if cls == "Bidirectional":
        return weight_shapes(c["layer"], in_shape) * 2
    if cls in RECURRENT_GATES:
        u, g = c["units"], RECURRENT_GATES[cls] * c["units"]
        shapes = [(in_shape[-1], g), (u, g)]
        if c["use_bias"]:
            shapes.append((2, g) if cls == "GRU" and c["reset_after"] else (g,))
        return shapes
    return []


def weight_kinds(layer):
    """Keras' weight names of `layer`, in get_weights() order."""
    if layer["class_name"] == "LayerNormalization":
        c = layer["config"]
        return ["gamma"] * int(c["scale"]) + ["beta"] * int(c["center"])
    if layer["class_name"] == "DepthwiseConv2D":
        return ["depthwise_kernel", "bias"]
    if layer["class_name"] == "SeparableConv2D":
        return ["depthwise_kernel", "pointwise_kernel", "bias"]
    if layer["class_name"] == "Embedding":
        return ["embeddings"]
    if layer["class_name"] == "TimeDistributed":
        return weight_kinds(layer["config"]["layer"])
    if layer["class_name"] == "Bidirectional":
        inner = layer["config"]["layer"]
        base = inner["config"]["name"][len("forward_"):]
        kinds = weight_kinds(inner)
        return [f"{d}_{base}/{k}" for d in ("forward", "backward") for k in kinds]
    if layer["class_name"] in RECURRENT_GATES:
        return ["kernel", "recurrent_kernel", "bias"]
    return ["kernel", "bias"]


def out_shape(layer, in_shapes):
    """The output shape (without batch) of `layer` on inputs of `in_shapes`."""
    cls, c = layer["class_name"], layer["config"]
    s = in_shapes[0]
    if cls == "InputLayer":
        return tuple(c["batch_input_shape"][1:])
    if cls == "Dense":
        return (*s[:-1], c["units"])
    if cls in ("Conv2D", "MaxPooling2D", "AveragePooling2D", "DepthwiseConv2D",
               "SeparableConv2D"):
        k = c["kernel_size"] if "kernel_size" in c else c["pool_size"]
        st = c["strides"]
        dil = c.get("dilation_rate", [1, 1])
        dims = [_window(n, kk, ss, dd, c["padding"]) for n, kk, ss, dd in zip(s[:2], k, st, dil)]
        ch = (c["filters"] if "filters" in c else
              s[-1] * c["depth_multiplier"] if cls == "DepthwiseConv2D" else s[-1])
        return (*dims, ch)
    if cls in ("Conv1D", "MaxPooling1D", "AveragePooling1D"):
        k = c["kernel_size"][0] if cls == "Conv1D" else c["pool_size"][0]
        d = c.get("dilation_rate", [1])[0]
        return (_window(s[0], k, c["strides"][0], d, c["padding"]),
                c["filters"] if cls == "Conv1D" else s[-1])
    if cls in ("Conv3D", "MaxPooling3D", "AveragePooling3D"):
        k = c["kernel_size"] if cls == "Conv3D" else c["pool_size"]
        dil = c.get("dilation_rate", [1, 1, 1])
        dims = [_window(n, kk, ss, dd, c["padding"])
                for n, kk, ss, dd in zip(s[:3], k, c["strides"], dil)]
        return (*dims, c["filters"] if cls == "Conv3D" else s[-1])
    if cls == "Conv2DTranspose":
        dims = []
        for n, kk, ss, dd in zip(s[:2], c["kernel_size"], c["strides"], c["dilation_rate"]):
            kk = (kk - 1) * dd + 1
            dims.append(n * ss + (max(kk - ss, 0) if c["padding"] == "valid" else 0))
        return (*dims, c["filters"])
    if cls == "Dot":
        a = c["axes"] if isinstance(c["axes"], list) else [c["axes"]] * 2
        a = [x + len(t) + 1 if x < 0 else x for x, t in zip(a, in_shapes)]
        if len(s) == 1:
            return (1,)
        return (in_shapes[0][2 - a[0]], in_shapes[1][2 - a[1]])
    if cls == "Flatten":
        return (int(np.prod(s)),)
    if cls == "Concatenate":
        return (*s[:-1], sum(t[-1] for t in in_shapes))
    if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return s
    if cls.startswith("Global"):
        dims = 2 if cls.endswith("2D") else 1
        return (*([1] * dims if c["keepdims"] else []), s[-1])
    if cls in ("LayerNormalization", "Masking", "Dropout", "Activation"):
        return s
    if cls in ("ZeroPadding2D", "Cropping2D"):
        (t, b), (l, r) = c["padding"] if cls == "ZeroPadding2D" else c["cropping"]
        sign = 1 if cls == "ZeroPadding2D" else -1
        return (s[0] + sign * (t + b), s[1] + sign * (l + r), s[2])
    if cls == "UpSampling2D":
        return (s[0] * c["size"][0], s[1] * c["size"][1], s[2])
    if cls == "Permute":
        return tuple(s[d - 1] for d in c["dims"])
    if cls == "RepeatVector":
        return (c["n"], s[0])
    if cls == "Embedding":
        return (*s, c["output_dim"])
    if cls == "TimeDistributed":
        return (s[0], *out_shape(c["layer"], [tuple(s[1:])]))
    if cls == "Bidirectional":
        o = out_shape(c["layer"], in_shapes)
        return (*o[:-1], o[-1] * 2) if c["merge_mode"] == "concat" else o
    if cls in RECURRENT_GATES:
        return (s[0], c["units"]) if c["return_sequences"] else (c["units"],)
    if cls == "Reshape":
        t = list(c["target_shape"])
        if -1 in t:
            t[t.index(-1)] = int(np.prod(s)) // -int(np.prod(t))
        return tuple(t)
    raise NotImplementedError(cls)


def random_weights(rng, shapes):
    """Glorot-uniform kernels and small nonzero biases (so a dropped bias shows)."""
    ws = []
    for shape in shapes:
        if len(shape) == 1:
            mag = rng.uniform(0.02, 0.1, size=shape)
            ws.append((mag * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32))
        else:
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            lim = math.sqrt(6.0 / (fan_in + fan_out))
            ws.append(rng.uniform(-lim, lim, size=shape).astype(np.float32))
    return ws


# ------------------------------------------------------------------ a model under construction
class Graph:
    """Layers with their calls; becomes model.json (Sequential or Functional) and case.json."""

    def __init__(self, name, seed, sequential):
        self.name = name
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.sequential = sequential
        self.layers = []      # [layer dict], in creation (= topological) order
        self.calls = {}       # layer name -> [[(name, node, tensor), ...] per call]
        self.shapes = {}      # (name, node) -> output shape
        self.weights = {}     # layer name -> [np.ndarray]
        self.inputs = []      # [(name, 0, 0)]
        self.outputs = []

    def input(self, name, shape):
        self.layers.append(input_layer(name, shape))
        self.calls[name] = []
        self.shapes[(name, 0)] = tuple(shape)
        self.inputs.append((name, 0, 0))
        return (name, 0, 0)

    def call(self, layer, *refs):
        """Calls `layer` (a dict, or the name of a layer already added) on `refs`."""
        if isinstance(layer, str):
            layer = next(l for l in self.layers if l["config"]["name"] == layer)
        name = layer["config"]["name"]
        in_shapes = [self.shapes[(r[0], r[1])] if r[2] == 0 else self.shapes[tuple(r)]
                     for r in refs]
        if name not in self.calls:
            self.layers.append(layer)
            self.calls[name] = []
            shapes = weight_shapes(layer, in_shapes[0])
            if shapes and layer["class_name"] == "LayerNormalization":
                # gamma near 1 and beta near 0, both varying, so each shows if misplaced.
                kinds = weight_kinds(layer)
                self.weights[name] = [
                    (self.rng.uniform(0.5, 1.5, size=sh) if k == "gamma"
                     else self.rng.uniform(-0.5, 0.5, size=sh)).astype(np.float32)
                    for k, sh in zip(kinds, shapes)]
            elif shapes:
                self.weights[name] = random_weights(self.rng, shapes)
        node = len(self.calls[name])
        self.calls[name].append([tuple(r) for r in refs])
        self.shapes[(name, node)] = out_shape(layer, in_shapes)
        return (name, node, 0)

    def call_all(self, layer, ref):
        """Calls a recurrent `layer` with return_state: [output, state_h(, state_c)] refs."""
        out = self.call(layer, ref)
        c = layer["config"]
        n_states = 2 if layer["class_name"] == "LSTM" else 1
        refs = [out]
        for k in range(1, n_states + 1):
            r = (out[0], out[1], k)
            self.shapes[r] = (c["units"],)
            refs.append(r)
        return refs

    def model_config(self):
        if self.sequential:
            return {"class_name": "Sequential",
                    "config": {"name": self.name, "layers": [json_copy(l) for l in self.layers]}}
        layers = []
        for l in self.layers:
            name = l["config"]["name"]
            entry = json_copy(l)
            entry["name"] = name
            entry["inbound_nodes"] = [[[r[0], r[1], r[2], {}] for r in call]
                                      for call in self.calls[name]]
            layers.append(entry)
        return {"class_name": "Functional",
                "config": {"name": self.name, "layers": layers,
                           "input_layers": [list(r) for r in self.inputs],
                           "output_layers": [list(r) for r in self.outputs]}}

    def write_weights(self, case_dir):
        wdir = os.path.join(case_dir, "weights")
        os.makedirs(wdir, exist_ok=True)
        manifest = {"format": "keras-oracle-weights-v1", "layers": []}
        files = {}
        for l in self.layers:
            name = l["config"]["name"]
            ws = self.weights.get(name, [])
            if not ws:
                continue
            entry = {"name": name, "weights": []}
            os.makedirs(os.path.join(wdir, name), exist_ok=True)
            kinds = weight_kinds(l)
            for i, w in enumerate(ws):
                rel = f"{name}/{i}.npy"
                np.save(os.path.join(wdir, rel), np.ascontiguousarray(w, dtype="<f4"))
                entry["weights"].append({"name": f"{name}/{kinds[i]}:0", "shape": list(w.shape),
                                         "dtype": "float32", "file": rel})
                files.setdefault(name, []).append(f"weights/{rel}")
            manifest["layers"].append(entry)
        with open(os.path.join(wdir, "manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
        return files

    def case_layers(self, weight_files):
        out = []
        for l in self.layers:
            name = l["config"]["name"]
            calls = self.calls[name]
            out.append({"name": name, "class_name": l["class_name"], "config": l["config"],
                        "inbound": [r[0] for r in calls[0]] if calls else [],
                        "calls": [[r[0] for r in call] for call in calls],
                        "call_refs": [[list(r) for r in call] for call in calls],
                        "weights": weight_files.get(name, [])})
        return out


def json_copy(v):
    return json.loads(json.dumps(v))


# ------------------------------------------------------------------ tools
class Tools:
    def __init__(self, oracle_dir):
        self.oracle = oracle_dir
        if not os.path.exists(os.path.join(oracle_dir, "node_modules")):
            sys.exit(f"make_golden: {oracle_dir}/node_modules missing; run npm ci there first")

    def predict(self, model_dir, xs, out):
        cmd = ["node", os.path.join(self.oracle, "oracle.mjs"), "predict", "--model", model_dir,
               "--out", out, "--quiet"]
        for x in xs:
            cmd += ["--x", x]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-2000:])

    def keras_ref(self, model_dir, xs, out):
        cmd = ["/usr/bin/python3", os.path.join(self.oracle, "keras_ref.py"), "predict",
               "--model", model_dir, "--out", out]
        for x in xs:
            cmd += ["--x", x]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-2000:])


def first_error_line(text):
    """The line of a tool's stderr that says what went wrong."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for l in lines:
        if "ERROR" in l or "Error" in l:
            return l.replace("[oracle] ", "")
    return lines[-1] if lines else "failed"


def multi_paths(base, n):
    if n == 1:
        return [base]
    stem, ext = os.path.splitext(base)
    return [f"{stem}_{i}{ext}" for i in range(n)]


def fashion_mnist_test_images(count):
    d = os.environ.get("KILN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
            imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols, 1)
            return imgs[:count].astype(np.float32) / np.float32(255.0)
    sys.exit(f"make_golden: no t10k-images-idx3-ubyte(.gz) in {d}; "
             "apt-get install dataset-fashion-mnist or set KILN_FASHION_MNIST_DIR")


# ------------------------------------------------------------------ numpy references
def dense_preact(x, w, b):
    return x.astype(np.float64) @ w.astype(np.float64) + b.astype(np.float64)


NUMPY_ACTIVATIONS = {
    # Keras 3 keras.activations.hard_sigmoid: relu6(x + 3) / 6.
    "hard_sigmoid": lambda z: np.clip(z + 3.0, 0.0, 6.0) / 6.0,
    # Keras 3 keras.activations.leaky_relu(x, negative_slope=0.2).
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.2 * z),
    # keras.activations.exponential: exp(x).
    "exponential": np.exp,
}

ACTIVATION_FORMULAS = {
    "relu": "max(x, 0)",
    "sigmoid": "1 / (1 + exp(-x))",
    "tanh": "tanh(x)",
    "softmax": "exp(x - max(x)) / sum(exp(x - max(x))) over the last axis",
    "elu": "x if x > 0 else exp(x) - 1 (alpha 1)",
    "selu": "1.0507009873554805 * (x if x > 0 else 1.6732632423543772 * (exp(x) - 1))",
    "softplus": "log(1 + exp(x))",
    "softsign": "x / (1 + |x|)",
    "swish": "x * sigmoid(x) (Keras 2 'swish'; Keras 3 'silu', 'swish' an alias)",
    "gelu": "0.5 * x * (1 + erf(x / sqrt(2))) (Keras 3 default approximate=False)",
    "leaky_relu": "x if x >= 0 else 0.2 * x (Keras 3 activations.leaky_relu, negative_slope=0.2;"
                  " not the LeakyReLU layer, whose default slope is 0.3)",
    "hard_sigmoid": "Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1) (Keras 2 and tfjs use"
                    " clip(0.2 * x + 0.5, 0, 1))",
    "exponential": "exp(x)",
    "linear": "x",
}


# ------------------------------------------------------------------ the cases
def case_mlp():
    g = Graph("mlp", 101, sequential=True)
    t = g.input("input_1", (4,))
    t = g.call(dense("dense", 16, "relu"), t)
    t = g.call(dense("dense_1", 8, "relu"), t)
    g.outputs = [g.call(dense("dense_2", 1, "sigmoid"), t)]
    x = g.rng.uniform(-2, 2, size=(64, 4)).astype(np.float32)
    return g, [x], {}


def seed_cnn(name, seed, f1, f2):
    g = Graph(name, seed, sequential=True)
    t = g.input("input_1", (28, 28, 1))
    t = g.call(conv2d("conv2d", f1, 3, activation="relu"), t)
    t = g.call(pool2d("MaxPooling2D", "max_pooling2d", 2, 2), t)
    t = g.call(conv2d("conv2d_1", f2, 3, activation="relu"), t)
    t = g.call(pool2d("MaxPooling2D", "max_pooling2d_1", 2, 2), t)
    t = g.call(flatten("flatten"), t)
    t = g.call(dense("dense", 128, "relu"), t)
    g.outputs = [g.call(dense("dense_1", 10, "softmax"), t)]
    x = fashion_mnist_test_images(MNIST_COUNT)
    return g, [x], {"x_source": {"dataset": "fashion_mnist_test", "count": MNIST_COUNT}}


def case_functional_shared_concat():
    g = Graph("functional_shared_concat", 104, sequential=False)
    a = g.input("in_a", (6,))
    b = g.input("in_b", (6,))
    shared = dense("shared_dense", 5, "tanh")
    sa = g.call(shared, a)
    sb = g.call("shared_dense", b)
    c = g.call(concatenate("concatenate"), sa, sb)
    y0 = g.call(dense("dense", 3, "softmax"), c)
    y1 = g.call(dense("dense_1", 2), sb)
    g.outputs = [y0, y1]
    xa = g.rng.uniform(-2, 2, size=(32, 6)).astype(np.float32)
    xb = g.rng.uniform(-2, 2, size=(32, 6)).astype(np.float32)
    return g, [xa, xb], {}


def conv_case(name, seed, hw, cin, filters, kernel, strides):
    def make():
        g = Graph(name, seed, sequential=True)
        t = g.input("input_1", (hw, hw, cin))
        g.outputs = [g.call(conv2d("conv2d", filters, kernel, strides, "same"), t)]
        x = g.rng.normal(size=(8, hw, hw, cin)).astype(np.float32)
        return g, [x], {}
    return make


def pool_case(name, seed, cls, pool, strides, hw, c):
    def make():
        g = Graph(name, seed, sequential=True)
        t = g.input("input_1", (hw, hw, c))
        lname = "max_pooling2d" if cls == "MaxPooling2D" else "average_pooling2d"
        g.outputs = [g.call(pool2d(cls, lname, pool, strides, "same"), t)]
        # Mostly negative, so a max over a window that touches padding must not give 0.
        x = g.rng.uniform(-3, 1, size=(8, hw, hw, c)).astype(np.float32)
        return g, [x], {}
    return make


def activation_case(act, seed):
    def make():
        g = Graph(f"activation_{act}", seed, sequential=True)
        t = g.input("input_1", (5,))
        g.outputs = [g.call(dense("dense", 6, act), t)]
        x = g.rng.uniform(-4, 4, size=(64, 5)).astype(np.float32)
        x[0, :] = -4.0
        x[1, :] = 4.0
        x[2, :] = 0.0
        return g, [x], {"activation": act, "activation_formula": ACTIVATION_FORMULAS[act]}
    return make


# The cases below have one input and one output, or two and two, the forms test/gpu's harness
# runs (golden_gpu.sh): several results are concatenated into one output.
def case_merge_dense():
    """Every merge on Dense outputs: 2 and 3 inputs, rank 2."""
    g = Graph("merge_dense", 120, sequential=False)
    t = g.input("input_1", (6,))
    a, b, c = (g.call(dense(f"dense_{k}", 5), t) for k in "abc")
    merged = [g.call(merge("Multiply", "multiply"), a, b, c),
              g.call(merge("Subtract", "subtract"), a, b),
              g.call(merge("Average", "average"), a, b, c),
              g.call(merge("Maximum", "maximum"), a, b, c),
              g.call(merge("Minimum", "minimum"), a, b)]
    g.outputs = [g.call(concatenate("concatenate"), *merged)]
    x = g.rng.uniform(-2, 2, size=(16, 6)).astype(np.float32)
    return g, [x], {}


def case_merge_image():
    """The merges on NHWC inputs, straight from the model inputs."""
    g = Graph("merge_image", 121, sequential=False)
    a = g.input("in_a", (4, 3, 2))
    b = g.input("in_b", (4, 3, 2))
    y0 = [g.call(merge("Maximum", "maximum"), a, b),
          g.call(merge("Minimum", "minimum"), b, a),
          g.call(merge("Average", "average"), a, b)]
    y1 = [g.call(merge("Subtract", "subtract"), b, a),
          g.call(merge("Multiply", "multiply"), a, b)]
    g.outputs = [g.call(concatenate("concatenate"), *y0),
                 g.call(concatenate("concatenate_1"), *y1)]
    xs = [g.rng.normal(size=(8, 4, 3, 2)).astype(np.float32) for _ in range(2)]
    return g, xs, {}


def global_pool_case(name, seed, dims, keepdims):
    def make():
        g = Graph(name, seed, sequential=False)
        shape = (5, 6, 3) if dims == 2 else (7, 4)
        t = g.input("input_1", shape)
        d = f"{dims}d"
        pooled = [
            g.call(global_pool(f"GlobalAveragePooling{dims}D", f"global_average_pooling{d}",
                               keepdims), t),
            g.call(global_pool(f"GlobalMaxPooling{dims}D", f"global_max_pooling{d}", keepdims), t)]
        g.outputs = [g.call(concatenate("concatenate"), *pooled)]
        # Mostly negative, so a max that took padding or zeros into account would show.
        x = g.rng.uniform(-3, 1, size=(8, *shape)).astype(np.float32)
        return g, [x], {"oracle_reshape": keepdims}
    return make


def layer_norm_ref(name):
    """Keras 3's LayerNormalization in float64: gamma and beta reshaped to broadcast along
    the normalized axes (keras_ref.py broadcasts them against the trailing axes only)."""
    def ref(g, xs):
        layer = next(l for l in g.layers if l["class_name"] == "LayerNormalization")
        c = layer["config"]
        x = xs[0].astype(np.float64)
        axes = tuple(ln_axes(c, x.ndim))
        y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
            x.var(axis=axes, keepdims=True) + c["epsilon"])
        shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
        ws = [w.astype(np.float64).reshape(shape) for w in g.weights[name]]
        if c["scale"]:
            y = y * ws.pop(0)
        if c["center"]:
            y = y + ws.pop(0)
        return [y]
    return ref


def pad_crop_symmetric_ref(g, xs):
    p = np.pad(xs[0].astype(np.float64), ((0, 0), (2, 2), (1, 1), (0, 0)))
    return [p[:, 3:-3, 1:-1, :].repeat(2, axis=1).repeat(2, axis=2)]


def case_layer_norm_dense():
    """LayerNormalization with Keras' defaults between two Dense layers."""
    g = Graph("layer_norm_dense", 130, sequential=True)
    t = g.input("input_1", (6,))
    t = g.call(dense("dense", 8, "relu"), t)
    t = g.call(layer_norm("layer_normalization"), t)
    g.outputs = [g.call(dense("dense_1", 3), t)]
    x = g.rng.uniform(-2, 2, size=(32, 6)).astype(np.float32)
    return g, [x], {}


def case_layer_norm_axis1():
    """Over the steps of a (steps, features) input: gamma (steps,) broadcasts along axis 1."""
    g = Graph("layer_norm_axis1", 131, sequential=True)
    t = g.input("input_1", (5, 4))
    g.outputs = [g.call(layer_norm("layer_normalization", axis=1, epsilon=0.01,
                                   center=False), t)]
    x = (g.rng.normal(size=(8, 5, 4)) * 3 + 1).astype(np.float32)
    return g, [x], {"numpy_ref": layer_norm_ref("layer_normalization")}


def case_layer_norm_axes():
    """Over two trailing axes of an NHWC input, gamma and beta of shape (W, C); no scale."""
    g = Graph("layer_norm_axes", 132, sequential=True)
    t = g.input("input_1", (3, 4, 2))
    g.outputs = [g.call(layer_norm("layer_normalization", axis=[2, 3], scale=False), t)]
    x = (g.rng.normal(size=(8, 3, 4, 2)) * 2).astype(np.float32)
    return g, [x], {"numpy_ref": layer_norm_ref("layer_normalization")}


def case_layer_norm_hw():
    """Over rows and columns of an NHWC input (axis [1, 2]): gamma (H, W) becomes (H, W, 1)."""
    g = Graph("layer_norm_hw", 133, sequential=True)
    t = g.input("input_1", (3, 4, 2))
    g.outputs = [g.call(layer_norm("layer_normalization", axis=[1, 2], epsilon=1e-5), t)]
    x = g.rng.uniform(-2, 3, size=(8, 3, 4, 2)).astype(np.float32)
    return g, [x], {"numpy_ref": layer_norm_ref("layer_normalization")}


def case_pad_crop_upsample():
    """Asymmetric ZeroPadding2D feeding a conv (so the padding's place matters), asymmetric
    Cropping2D, non-square UpSampling2D."""
    g = Graph("pad_crop_upsample", 140, sequential=True)
    t = g.input("input_1", (4, 5, 2))
    t = g.call(sides2d("ZeroPadding2D", "zero_padding2d", ((1, 0), (2, 1))), t)
    t = g.call(conv2d("conv2d", 3, 2), t)
    t = g.call(sides2d("Cropping2D", "cropping2d", ((1, 0), (0, 2))), t)
    g.outputs = [g.call(up_sampling2d("up_sampling2d", (2, 3)), t)]
    x = g.rng.normal(size=(8, 4, 5, 2)).astype(np.float32)
    return g, [x], {}


def case_pad_crop_symmetric():
    """Symmetric padding and cropping, square up-sampling, straight from the input."""
    g = Graph("pad_crop_symmetric", 141, sequential=True)
    t = g.input("input_1", (6, 5, 2))
    t = g.call(sides2d("ZeroPadding2D", "zero_padding2d", ((2, 2), (1, 1))), t)
    t = g.call(sides2d("Cropping2D", "cropping2d", ((3, 3), (1, 1))), t)
    g.outputs = [g.call(up_sampling2d("up_sampling2d", (2, 2)), t)]
    x = g.rng.normal(size=(8, 6, 5, 2)).astype(np.float32)
    return g, [x], {"numpy_ref": pad_crop_symmetric_ref}


def case_permute_repeat_reshape():
    """RepeatVector after Dense, Permute of the repeats, Reshape with -1; Permute of rank 3."""
    g = Graph("permute_repeat_reshape", 150, sequential=False)
    t = g.input("input_1", (6,))
    d = g.call(dense("dense", 4, "tanh"), t)
    r = g.call(repeat_vector("repeat_vector", 3), d)
    p = g.call(permute("permute", (2, 1)), r)
    s = g.call(reshape("reshape", (-1, 2)), p)
    v = g.input("input_2", (2, 3, 4))
    q = g.call(permute("permute_1", (3, 1, 2)), v)
    g.outputs = [s, q]
    xs = [g.rng.uniform(-2, 2, size=(8, 6)).astype(np.float32),
          g.rng.normal(size=(8, 2, 3, 4)).astype(np.float32)]
    return g, xs, {}


# ------------------------------------------------------------------ embedding and recurrent
def token_ids(g, n, steps, vocab):
    """Integer token ids as float32, as Keras feeds an Embedding."""
    return g.rng.integers(0, vocab, size=(n, steps)).astype(np.float32)


def case_embedding_flatten():
    """Embedding -> Flatten -> Dense: each token's row lands in its own slot of the Dense."""
    g = Graph("embedding_flatten", 300, sequential=True)
    t = g.input("input_1", (6,))
    t = g.call(embedding("embedding", 12, 5), t)
    t = g.call(flatten("flatten"), t)
    g.outputs = [g.call(dense("dense", 3), t)]
    return g, [token_ids(g, 16, 6, 12)], {}


def rnn_case(name, seed, cls, steps, features, **kw):
    """One recurrent layer on a (steps, features) float input."""
    def make():
        g = Graph(name, seed, sequential=True)
        t = g.input("input_1", (steps, features))
        base = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[cls]
        g.outputs = [g.call(recurrent(cls, base, **kw), t)]
        x = g.rng.uniform(-1.5, 1.5, size=(8, steps, features)).astype(np.float32)
        return g, [x], {}
    return make


def rnn_state_case(name, seed, cls, steps, features, **kw):
    """The recurrent layer's output and its states (return_state) through a functional model,
    concatenated into one output (the form test/gpu's harness runs; a sequence is flattened
    first)."""
    def make():
        g = Graph(name, seed, sequential=False)
        t = g.input("input_1", (steps, features))
        base = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[cls]
        outs = g.call_all(recurrent(cls, base, return_state=True, **kw), t)
        if kw.get("return_sequences"):
            outs[0] = g.call(flatten("flatten"), outs[0])
        g.outputs = [g.call(concatenate("concatenate"), *outs)]
        x = g.rng.uniform(-1.5, 1.5, size=(8, steps, features)).astype(np.float32)
        return g, [x], {}
    return make


def case_embedding_lstm_dense():
    """The text classifier of the fit case: Embedding -> LSTM -> Dense(1, sigmoid)."""
    g = Graph("embedding_lstm_dense", 320, sequential=True)
    t = g.input("input_1", (7,))
    t = g.call(embedding("embedding", 20, 8), t)
    t = g.call(recurrent("LSTM", "lstm", 6), t)
    g.outputs = [g.call(dense("dense", 1, "sigmoid"), t)]
    return g, [token_ids(g, 16, 7, 20)], {}


def case_embedding_gru_stack():
    """Embedding -> GRU(return_sequences) -> SimpleRNN(relu) -> Dense."""
    g = Graph("embedding_gru_stack", 321, sequential=True)
    t = g.input("input_1", (5,))
    t = g.call(embedding("embedding", 15, 6), t)
    t = g.call(recurrent("GRU", "gru", 5, return_sequences=True), t)
    t = g.call(recurrent("SimpleRNN", "simple_rnn", 4, activation="relu"), t)
    g.outputs = [g.call(dense("dense", 2), t)]
    return g, [token_ids(g, 16, 5, 15)], {}


ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
               "swish", "gelu", "leaky_relu", "hard_sigmoid", "exponential", "linear"]

# ---- the convolution family (issue 6)
def torch_conv_ref(g, xs):
    """Keras 3's formulas for a Sequential chain of the convolution family, float64 through
    torch (tfjs lacks Conv2D groups, and the oracle has not cross-checked its DepthwiseConv2D,
    SeparableConv2D and Conv2DTranspose against an independent implementation)."""
    import torch
    import torch.nn.functional as F

    def same_pad(n, k, s, d):
        keff = (k - 1) * d + 1
        out = -(-n // s)
        total = max((out - 1) * s + keff - n, 0)
        return total // 2, total - total // 2

    def conv(a, w, b, strides, padding, dil, groups):
        # a NHWC, w (kh, kw, in/groups, out)
        t = torch.from_numpy(a).permute(0, 3, 1, 2)
        if padding == "same":
            (pt, pb), (pl, pr) = (same_pad(a.shape[1], w.shape[0], strides[0], dil[0]),
                                  same_pad(a.shape[2], w.shape[1], strides[1], dil[1]))
            t = F.pad(t, (pl, pr, pt, pb))
        wt = torch.from_numpy(w).permute(3, 2, 0, 1)
        y = F.conv2d(t, wt, None if b is None else torch.from_numpy(b), stride=tuple(strides),
                     dilation=tuple(dil), groups=groups)
        return y.permute(0, 2, 3, 1).numpy()

    def depthwise(a, w, strides, padding, dil):
        kh, kw, c, m = w.shape
        return conv(a, w.reshape(kh, kw, 1, c * m), None, strides, padding, dil, c)

    a = xs[0].astype(np.float64)
    for layer in g.layers[1:]:
        cls, c = layer["class_name"], layer["config"]
        ws = [w.astype(np.float64) for w in g.weights.get(c["name"], [])]
        if cls == "Conv2D":
            a = conv(a, ws[0], ws[1], c["strides"], c["padding"], c["dilation_rate"], c["groups"])
        elif cls == "DepthwiseConv2D":
            a = depthwise(a, ws[0], c["strides"], c["padding"], c["dilation_rate"]) + ws[1]
        elif cls == "SeparableConv2D":
            a = depthwise(a, ws[0], c["strides"], c["padding"], c["dilation_rate"])
            a = conv(a, ws[1], ws[2], [1, 1], "valid", [1, 1], 1)
        elif cls == "Conv2DTranspose":
            t = torch.from_numpy(a).permute(0, 3, 1, 2)
            w = torch.from_numpy(ws[0]).permute(3, 2, 0, 1)  # (in, out, kh, kw)
            dil = c.get("dilation_rate", [1, 1])
            full = F.conv_transpose2d(t, w, stride=tuple(c["strides"]), dilation=tuple(dil))
            out = []
            for n, k, st, d in zip(a.shape[1:3], c["kernel_size"], c["strides"], dil):
                k = (k - 1) * d + 1  # Keras' deconv_output_length: the dilated kernel
                size = n * st + (max(k - st, 0) if c["padding"] == "valid" else 0)
                top = max(k - st, 0) // 2 if c["padding"] == "same" else 0
                out.append((size, top))
            (h, top), (wd, left) = out
            full = F.pad(full, (0, max(0, wd + left - full.shape[3]), 0,
                                max(0, h + top - full.shape[2])))
            y = full[:, :, top:top + h, left:left + wd] + torch.from_numpy(ws[1])[None, :, None, None]
            a = y.permute(0, 2, 3, 1).numpy()
        else:
            raise NotImplementedError(cls)
        if c.get("activation", "linear") == "relu":
            a = np.maximum(a, 0)
    return [a]


def chain_case(name, seed, in_shape, layers, numpy_ref=None, n=8, oracle_wrong=None):
    def make():
        g = Graph(name, seed, sequential=True)
        t = g.input("input_1", in_shape)
        for layer in layers():
            t = g.call(layer, t)
        g.outputs = [t]
        x = g.rng.normal(size=(n, *in_shape)).astype(np.float32)
        extra = {"numpy_ref": numpy_ref} if numpy_ref else {}
        if oracle_wrong:
            extra["oracle_wrong"] = oracle_wrong
        return g, [x], extra
    return make


def case_dot():
    """Dot on rank 2 (axes 1), rank 3 with normalize (axes (2, 2)) and mixed axes (1, 2); two
    inputs and two outputs (what the GPU golden driver takes)."""
    g = Graph("dot", 141, sequential=False)
    p = g.input("in_p", (4, 5))
    q = g.input("in_q", (3, 5))
    da = g.call(dense("dense", 4, "tanh"), g.call(flatten("flatten"), p))
    db = g.call(dense("dense_1", 4), g.call(flatten("flatten_1"), q))
    y0 = g.call(dot("dot", 1), da, db)
    y1 = g.call(dot("dot_1", [2, 2], normalize=True), p, q)
    y2 = g.call(dot("dot_2", [1, 2]), g.call(permute("permute", (2, 1)), p), q)
    g.outputs = [y0, g.call(merge("Add", "add"), y1, y2)]
    xs = [g.rng.uniform(-2, 2, size=(16, *shape)).astype(np.float32)
          for shape in [(4, 5), (3, 5)]]
    return g, xs, {}


CONV_CASES = {
    "conv1d_valid_stride2": chain_case("conv1d_valid_stride2", 131, (9, 3), lambda: [
        conv1d("conv1d", 4, 3, strides=2)]),
    "conv1d_same_dilated": chain_case("conv1d_same_dilated", 132, (10, 2), lambda: [
        conv1d("conv1d", 5, 3, padding="same", dilation=2, activation="relu"),
        conv1d("conv1d_1", 3, 4, padding="same")]),
    "conv1d_causal_pool": chain_case("conv1d_causal_pool", 133, (12, 3), lambda: [
        conv1d("conv1d", 4, 3, padding="causal", dilation=2),
        pool1d("MaxPooling1D", "max_pooling1d", 3, 2, "same"),
        conv1d("conv1d_1", 4, 2, padding="causal"),
        pool1d("AveragePooling1D", "average_pooling1d", 2, 2, "valid"),
        pool1d("AveragePooling1D", "average_pooling1d_1", 2, 1, "same")]),
    "conv2d_dilated": chain_case("conv2d_dilated", 134, (9, 9, 3), lambda: [
        conv2d_full("conv2d", 4, 3, padding="same", dilation=2, activation="relu"),
        conv2d_full("conv2d_1", 3, 2, padding="valid", dilation=3)]),
    "conv2d_groups": chain_case("conv2d_groups", 135, (7, 7, 6), lambda: [
        conv2d_full("conv2d", 6, 3, padding="same", groups=3, activation="relu"),
        conv2d_full("conv2d_1", 4, 2, strides=2, groups=2)], torch_conv_ref),
    "depthwise_same_stride2": chain_case("depthwise_same_stride2", 136, (8, 8, 3), lambda: [
        depthwise_conv2d("depthwise_conv2d", 3, strides=2, padding="same", multiplier=2)],
        torch_conv_ref),
    "depthwise_valid_dilated": chain_case("depthwise_valid_dilated", 137, (9, 9, 4), lambda: [
        depthwise_conv2d("depthwise_conv2d", 3, dilation=2, activation="relu"),
        depthwise_conv2d("depthwise_conv2d_1", 2, padding="same", multiplier=3)], torch_conv_ref,
        oracle_wrong="tfjs-layers 4.22's DepthwiseConv2D ignores dilation_rate"),
    "separable_conv2d": chain_case("separable_conv2d", 138, (7, 7, 3), lambda: [
        separable_conv2d("separable_conv2d", 5, 3, padding="same", multiplier=2,
                         activation="relu"),
        separable_conv2d("separable_conv2d_1", 4, 2, strides=2)], torch_conv_ref),
    "conv2d_transpose_same": chain_case("conv2d_transpose_same", 139, (5, 5, 3), lambda: [
        conv2d_transpose("conv2d_transpose", 4, 3, strides=2, padding="same",
                         activation="relu"),
        conv2d_transpose("conv2d_transpose_1", 2, 4, strides=1, padding="same")], torch_conv_ref),
    "conv2d_transpose_valid": chain_case("conv2d_transpose_valid", 140, (4, 5, 2), lambda: [
        conv2d_transpose("conv2d_transpose", 3, 3, strides=2),
        conv2d_transpose("conv2d_transpose_1", 2, 2, strides=3)], torch_conv_ref),
    "conv2d_transpose_dilated": chain_case("conv2d_transpose_dilated", 142, (5, 6, 2), lambda: [
        conv2d_transpose("conv2d_transpose", 3, 3, padding="same", dilation=2,
                         activation="relu"),
        conv2d_transpose("conv2d_transpose_1", 2, 2, dilation=3)], torch_conv_ref,
        oracle_wrong="tfjs-layers 4.22's Conv2DTranspose has no dilation_rate"),
    "dot": case_dot,
}


CASES = {
    "mlp": case_mlp,
    "seed_cnn32": lambda: seed_cnn("seed_cnn32", 102, 32, 64),
    "seed_cnn64": lambda: seed_cnn("seed_cnn64", 103, 64, 64),
    "functional_shared_concat": case_functional_shared_concat,
    "conv_same_stride2": conv_case("conv_same_stride2", 105, 9, 3, 4, 3, 2),
    "conv_same_stride2_even": conv_case("conv_same_stride2_even", 106, 8, 3, 4, 3, 2),
    "conv_same_k4": conv_case("conv_same_k4", 107, 7, 2, 4, 4, 1),
    "maxpool_same": pool_case("maxpool_same", 108, "MaxPooling2D", 2, 2, 7, 3),
    "avgpool_same": pool_case("avgpool_same", 109, "AveragePooling2D", 2, 2, 7, 3),
    "maxpool_same_asym": pool_case("maxpool_same_asym", 110, "MaxPooling2D", 3, 2, 8, 2),
    "avgpool_same_asym": pool_case("avgpool_same_asym", 111, "AveragePooling2D", 3, 2, 8, 2),
}
CASES.update({
    "merge_dense": case_merge_dense,
    "merge_image": case_merge_image,
    "global_pool_2d": global_pool_case("global_pool_2d", 122, 2, False),
    "global_pool_2d_keepdims": global_pool_case("global_pool_2d_keepdims", 123, 2, True),
    "global_pool_1d": global_pool_case("global_pool_1d", 124, 1, False),
    "global_pool_1d_keepdims": global_pool_case("global_pool_1d_keepdims", 125, 1, True),
    "layer_norm_dense": case_layer_norm_dense,
    "layer_norm_axis1": case_layer_norm_axis1,
    "layer_norm_axes": case_layer_norm_axes,
    "layer_norm_hw": case_layer_norm_hw,
    "pad_crop_upsample": case_pad_crop_upsample,
    "pad_crop_symmetric": case_pad_crop_symmetric,
    "permute_repeat_reshape": case_permute_repeat_reshape,
})
def case_time_distributed():
    """LSTM(return_sequences) -> TimeDistributed(Dense); TimeDistributed(Flatten-free Conv2D) on
    a (steps, h, w, c) input, per step."""
    g = Graph("time_distributed", 330, sequential=False)
    t = g.input("input_1", (5, 3))
    t = g.call(recurrent("LSTM", "lstm", 4, return_sequences=True), t)
    a = g.call(time_distributed("time_distributed", dense("dense", 2, "tanh")), t)
    v = g.input("input_2", (3, 5, 5, 2))
    b = g.call(time_distributed("time_distributed_1", conv2d("conv2d", 3, 3, activation="relu")),
               v)
    g.outputs = [a, b]
    xs = [g.rng.uniform(-1.5, 1.5, size=(8, 5, 3)).astype(np.float32),
          g.rng.normal(size=(8, 3, 5, 5, 2)).astype(np.float32)]
    return g, xs, {}


def bidirectional_case(name, seed, cls, merge_mode, **kw):
    def make():
        g = Graph(name, seed, sequential=True)
        t = g.input("input_1", (5, 3))
        base = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[cls]
        t = g.call(bidirectional("bidirectional", recurrent(cls, base, 4, **kw), merge_mode), t)
        g.outputs = [g.call(dense("dense", 2), t)]
        x = g.rng.uniform(-1.5, 1.5, size=(8, 5, 3)).astype(np.float32)
        return g, [x], {}
    return make


# ---- masking (issue 6): Embedding(mask_zero) and Masking, carried to the recurrent layers
def masked_embedding(name, input_dim, output_dim):
    e = embedding(name, input_dim, output_dim)
    e["config"]["mask_zero"] = True
    return e


def masking(name, mask_value=0.0):
    c = _common(name)
    c["mask_value"] = mask_value
    return {"class_name": "Masking", "config": c}


def dropout(name, rate):
    c = _common(name)
    c.update({"rate": rate, "noise_shape": None, "seed": None})
    return {"class_name": "Dropout", "config": c}


def padded_ids(g, n, steps, vocab):
    """Token ids in [1, vocab) with 0s (padding) at the end, in the middle and at the start of
    some rows; row 0 has none, row 1 is all padding."""
    ids = g.rng.integers(1, vocab, size=(n, steps)).astype(np.float32)
    ids[1, :] = 0
    for i in range(2, n):
        kind = i % 4
        if kind == 0:                      # right padding
            ids[i, steps - 1 - (i % (steps - 1)):] = 0
        elif kind == 1:                    # holes in the middle
            ids[i, 1 + i % (steps - 2)] = 0
            ids[i, steps // 2] = 0
        elif kind == 2:                    # left padding
            ids[i, :1 + i % (steps - 2)] = 0
        else:                              # both
            ids[i, 0] = ids[i, steps - 1] = ids[i, steps // 2] = 0
    return ids


def zero_masked_steps(mask_of):
    """Keras 3's Bidirectional forces zero_output_for_mask = return_sequences on its layers: a
    masked step's output is zeros; tfjs-layers 4.22 repeats the previous step's output there."""
    def fix(g, xs, ys):
        m = mask_of(xs)
        return ([np.where(m[:, :, None], y, np.float32(0)) for y in ys],
                "tfjs-layers 4.22 outputs the previous step's output at masked steps of a "
                "Bidirectional with return_sequences; Keras 3 forces zero_output_for_mask there, "
                "so y is the oracle's output with the masked steps set to 0")
    return fix


NP_ACT = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "linear": lambda z: z,
          "sigmoid": lambda z: 1 / (1 + np.exp(-z))}


def np_masked_rnn(layer, w, x, mask, zero_output=False):
    """Keras 3's backend rnn with a mask, float64: a masked step keeps the states; its output
    is the previous output (zeros with zero_output_for_mask). Returns (outputs in processing
    order, last output)."""
    cls, c = layer["class_name"], layer["config"]
    act, ract = NP_ACT[c["activation"]], NP_ACT[c.get("recurrent_activation", "sigmoid")]
    u = c["units"]
    k, r = w[0], w[1]
    b = w[2] if c["use_bias"] else np.zeros((2, r.shape[1]) if cls == "GRU" and c["reset_after"]
                                            else r.shape[1])
    n, steps = x.shape[0], x.shape[1]
    h, cs, prev = np.zeros((n, u)), np.zeros((n, u)), np.zeros((n, u))
    outs = []
    order = range(steps - 1, -1, -1) if c["go_backwards"] else range(steps)
    for t in order:
        xt, m = x[:, t], mask[:, t:t + 1]
        if cls == "SimpleRNN":
            hn, cn = act(xt @ k + h @ r + b), cs
        elif cls == "LSTM":
            z = xt @ k + h @ r + b
            cn = ract(z[:, u:2 * u]) * cs + ract(z[:, :u]) * act(z[:, 2 * u:3 * u])
            hn = ract(z[:, 3 * u:]) * act(cn)
        elif c["reset_after"]:
            mx, mh = xt @ k + b[0], h @ r + b[1]
            zg = ract(mx[:, :u] + mh[:, :u])
            rg = ract(mx[:, u:2 * u] + mh[:, u:2 * u])
            hn, cn = zg * h + (1 - zg) * act(mx[:, 2 * u:] + rg * mh[:, 2 * u:]), cs
        else:
            mx = xt @ k + b
            zg = ract(mx[:, :u] + h @ r[:, :u])
            rg = ract(mx[:, u:2 * u] + h @ r[:, u:2 * u])
            hn, cn = zg * h + (1 - zg) * act(mx[:, 2 * u:] + (rg * h) @ r[:, 2 * u:]), cs
        out = np.where(m > 0, hn, 0.0 if zero_output else prev)
        h, cs = np.where(m > 0, hn, h), np.where(m > 0, cn, cs)
        prev = out
        outs.append(out)
    return np.stack(outs, axis=1), prev


def masked_keras_ref(g, xs):
    """A Sequential chain of the masking cases in numpy float64 from Keras 3's rules: the mask
    from Embedding(mask_zero) / Masking, passed on by Dense, Dropout and TimeDistributed,
    honoured by the recurrent layers and Bidirectional (which forces zero_output_for_mask to
    return_sequences)."""
    a, mask = xs[0].astype(np.float64), None
    for layer in g.layers[1:]:
        cls, c = layer["class_name"], layer["config"]
        w = [v.astype(np.float64) for v in g.weights.get(c["name"], [])]
        if cls == "Embedding":
            mask = (a != 0).astype(np.float64) if c["mask_zero"] else None
            a = w[0][a.astype(np.int64)]
        elif cls == "Masking":
            mask = np.any(a != c["mask_value"], axis=-1).astype(np.float64)
            a = a * mask[..., None]
        elif cls in ("Dense", "TimeDistributed"):
            d = c["layer"]["config"] if cls == "TimeDistributed" else c
            a = NP_ACT[d["activation"]](a @ w[0] + w[1])
        elif cls == "Dropout":
            pass
        elif cls in RECURRENT_GATES:
            seq, last = np_masked_rnn(layer, w, a, mask)
            a = seq if c["return_sequences"] else last
            mask = mask if c["return_sequences"] else None
        elif cls == "Bidirectional":
            inner = c["layer"]
            rs = inner["config"]["return_sequences"]
            back = json_copy(inner)
            back["config"]["go_backwards"] = not inner["config"]["go_backwards"]
            half = len(w) // 2
            fs, fl = np_masked_rnn(inner, w[:half], a, mask, zero_output=rs)
            bs, bl = np_masked_rnn(back, w[half:], a, mask, zero_output=rs)
            f, r = (fs, bs[:, ::-1]) if rs else (fl, bl)
            a = {"concat": lambda: np.concatenate([f, r], -1), "sum": lambda: f + r,
                 "ave": lambda: (f + r) / 2, "mul": lambda: f * r}[c["merge_mode"]]()
            mask = mask if rs else None
        else:
            raise NotImplementedError(cls)
    return [a]


def case_masked_lstm_sequences():
    """Embedding(mask_zero) -> LSTM(return_sequences): a masked step keeps the state and
    repeats the previous output (Keras 3's zero_output_for_mask=False, tfjs alike)."""
    g = Graph("masked_lstm_sequences", 340, sequential=True)
    t = g.input("input_1", (7,))
    t = g.call(masked_embedding("embedding", 12, 4), t)
    g.outputs = [g.call(recurrent("LSTM", "lstm", 5, return_sequences=True), t)]
    return g, [padded_ids(g, 12, 7, 12)], {"no_keras_ref": True, "numpy_ref": masked_keras_ref}


def case_masked_gru_stack():
    """Embedding(mask_zero) -> Dense(tanh) -> Dropout -> GRU(return_sequences, go_backwards)
    -> SimpleRNN -> Dense: the mask passes through Dense, Dropout and the first GRU."""
    g = Graph("masked_gru_stack", 341, sequential=True)
    t = g.input("input_1", (6,))
    t = g.call(masked_embedding("embedding", 10, 5), t)
    t = g.call(dense("dense", 4, "tanh"), t)
    t = g.call(dropout("dropout", 0.3), t)
    t = g.call(recurrent("GRU", "gru", 4, return_sequences=True, go_backwards=True), t)
    t = g.call(recurrent("SimpleRNN", "simple_rnn", 3), t)
    g.outputs = [g.call(dense("dense_1", 2), t)]
    return g, [padded_ids(g, 12, 6, 10)], {"no_keras_ref": True, "numpy_ref": masked_keras_ref}


def case_masked_simple_rnn_time_distributed():
    """Embedding(mask_zero) -> SimpleRNN(return_sequences, relu) -> TimeDistributed(Dense) ->
    GRU(reset_after=False): the mask goes on past the sequence output and TimeDistributed."""
    g = Graph("masked_simple_rnn_time_distributed", 342, sequential=True)
    t = g.input("input_1", (6,))
    t = g.call(masked_embedding("embedding", 9, 3), t)
    t = g.call(recurrent("SimpleRNN", "simple_rnn", 4, activation="relu",
                         return_sequences=True), t)
    t = g.call(time_distributed("time_distributed", dense("dense", 3, "tanh")), t)
    g.outputs = [g.call(recurrent("GRU", "gru", 3, reset_after=False), t)]
    return g, [padded_ids(g, 12, 6, 9)], {"no_keras_ref": True, "numpy_ref": masked_keras_ref}


def case_masked_bidirectional_lstm_sequences():
    g = Graph("masked_bidirectional_lstm_sequences", 343, sequential=True)
    t = g.input("input_1", (6,))
    t = g.call(masked_embedding("embedding", 11, 4), t)
    g.outputs = [g.call(bidirectional("bidirectional",
                                      recurrent("LSTM", "lstm", 3, return_sequences=True)), t)]
    return g, [padded_ids(g, 12, 6, 11)], {
        "no_keras_ref": True, "numpy_ref": masked_keras_ref, "oracle_fix": zero_masked_steps(lambda xs: xs[0] != 0)}


def case_masked_bidirectional_gru_sum():
    g = Graph("masked_bidirectional_gru_sum", 344, sequential=True)
    t = g.input("input_1", (6,))
    t = g.call(masked_embedding("embedding", 11, 4), t)
    t = g.call(bidirectional("bidirectional", recurrent("GRU", "gru", 3), "sum"), t)
    g.outputs = [g.call(dense("dense", 2), t)]
    return g, [padded_ids(g, 12, 6, 11)], {"no_keras_ref": True, "numpy_ref": masked_keras_ref}


def case_masking_layer_lstm():
    """Masking(mask_value=0.5) on float steps: steps whose features are all 0.5 are masked
    (zeroed, and skipped by the LSTM)."""
    g = Graph("masking_layer_lstm", 345, sequential=True)
    t = g.input("input_1", (6, 3))
    t = g.call(masking("masking", 0.5), t)
    t = g.call(recurrent("LSTM", "lstm", 4, return_sequences=True), t)
    t = g.call(recurrent("SimpleRNN", "simple_rnn", 3, go_backwards=True), t)
    g.outputs = [g.call(dense("dense", 2), t)]
    x = g.rng.uniform(-1.5, 1.5, size=(10, 6, 3)).astype(np.float32)
    masked = padded_ids(g, 10, 6, 5) == 0
    x[masked] = 0.5
    x[3, 2, 1] = 0.5                      # one feature at the mask value: not masked
    return g, [x], {"no_keras_ref": True, "numpy_ref": masked_keras_ref}


def masked_gap_ref(g, xs):
    """Keras 3's GlobalAveragePooling1D on a masked input: sum(x * m) / sum(m) over the steps
    (numpy float64; tfjs-layers 4.22's GlobalAveragePooling1D refuses masks)."""
    ids = xs[0].astype(np.int64)
    (e,) = g.weights["embedding"]
    w, b = g.weights["dense"]
    h = np.tanh(e.astype(np.float64)[ids] @ w.astype(np.float64) + b)
    m = (ids != 0).astype(np.float64)[:, :, None]
    pooled = (h * m).sum(axis=1) / m.sum(axis=1)
    w2, b2 = g.weights["dense_1"]
    return [pooled @ w2.astype(np.float64) + b2]


def case_masked_global_average_pooling_1d():
    g = Graph("masked_global_average_pooling_1d", 346, sequential=True)
    t = g.input("input_1", (7,))
    t = g.call(masked_embedding("embedding", 12, 5), t)
    t = g.call(dense("dense", 4, "tanh"), t)
    t = g.call(global_pool("GlobalAveragePooling1D", "global_average_pooling1d"), t)
    g.outputs = [g.call(dense("dense_1", 3), t)]
    ids = padded_ids(g, 12, 7, 12)
    ids[1, 3] = 5                         # no all-padding row: Keras gives 0 / 0 there
    return g, [ids], {"no_keras_ref": True, "numpy_ref": masked_gap_ref,
                      "oracle_wrong": "tfjs-layers 4.22's GlobalAveragePooling1D does not "
                                      "support masking"}


# ---- 3-D layers (issue 6)
def conv3d(name, filters, kernel, strides=(1, 1, 1), padding="valid", activation="linear"):
    c = _common(name)
    c.update({"filters": filters, "kernel_size": list(kernel), "strides": list(strides),
              "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1, 1],
              "groups": 1, "activation": activation, "use_bias": True, **_init_and_reg()})
    return {"class_name": "Conv3D", "config": c}


def pool3d(cls, name, pool, strides, padding="valid"):
    c = _common(name)
    c.update({"pool_size": list(pool), "padding": padding, "strides": list(strides),
              "data_format": "channels_last"})
    return {"class_name": cls, "config": c}


def case_conv3d_valid_pool():
    """Conv3D(valid, strides (1, 2, 1), relu) -> MaxPooling3D(2) -> Conv3D(1x1x1)."""
    g = Graph("conv3d_valid_pool", 360, sequential=True)
    t = g.input("input_1", (6, 9, 8, 2))
    t = g.call(conv3d("conv3d", 3, (3, 2, 3), strides=(1, 2, 1), activation="relu"), t)
    t = g.call(pool3d("MaxPooling3D", "max_pooling3d", (2, 2, 2), (2, 2, 2)), t)
    g.outputs = [g.call(conv3d("conv3d_1", 2, (1, 1, 1)), t)]
    x = g.rng.normal(size=(6, 6, 9, 8, 2)).astype(np.float32)
    return g, [x], {"numpy_ref": torch_conv3d_valid_ref}


def torch_conv3d_valid_ref(g, xs):
    """conv3d_valid_pool in torch float64 (valid padding only: no TF 'same' rule needed)."""
    import torch
    import torch.nn.functional as F
    a = torch.from_numpy(xs[0].astype(np.float64)).permute(0, 4, 1, 2, 3)
    for layer in g.layers[1:]:
        c = layer["config"]
        if layer["class_name"] == "Conv3D":
            k, b = (torch.from_numpy(w.astype(np.float64)) for w in g.weights[c["name"]])
            a = F.conv3d(a, k.permute(4, 3, 0, 1, 2), b, stride=tuple(c["strides"]))
            if c["activation"] == "relu":
                a = torch.relu(a)
        else:
            a = F.max_pool3d(a, tuple(c["pool_size"]), tuple(c["strides"]))
    return [a.permute(0, 2, 3, 4, 1).numpy()]


def case_conv3d_same_stride2():
    """Conv3D(same, strides 2, odd and even sizes) -> AveragePooling3D(same, strides
    (2, 1, 2))."""
    g = Graph("conv3d_same_stride2", 361, sequential=True)
    t = g.input("input_1", (5, 6, 5, 3))
    t = g.call(conv3d("conv3d", 4, (3, 3, 2), strides=(2, 2, 2), padding="same",
                      activation="tanh"), t)
    g.outputs = [g.call(pool3d("AveragePooling3D", "average_pooling3d", (2, 3, 2), (2, 1, 2),
                               "same"), t)]
    x = g.rng.normal(size=(6, 5, 6, 5, 3)).astype(np.float32)
    return g, [x], {}


def case_max_pool3d_same():
    """MaxPooling3D(same, strides (2, 2, 1)): windows cut by the edges take the max of what
    they cover."""
    g = Graph("max_pool3d_same", 362, sequential=True)
    t = g.input("input_1", (5, 6, 5, 3))
    g.outputs = [g.call(pool3d("MaxPooling3D", "max_pooling3d", (3, 2, 2), (2, 2, 1), "same"), t)]
    x = g.rng.normal(size=(6, 5, 6, 5, 3)).astype(np.float32)
    return g, [x], {}


CASES_3D = {
    "conv3d_valid_pool": case_conv3d_valid_pool,
    "conv3d_same_stride2": case_conv3d_same_stride2,
    "max_pool3d_same": case_max_pool3d_same,
}


MASK_CASES = {
    "masked_lstm_sequences": case_masked_lstm_sequences,
    "masked_gru_stack": case_masked_gru_stack,
    "masked_simple_rnn_time_distributed": case_masked_simple_rnn_time_distributed,
    "masked_bidirectional_lstm_sequences": case_masked_bidirectional_lstm_sequences,
    "masked_bidirectional_gru_sum": case_masked_bidirectional_gru_sum,
    "masking_layer_lstm": case_masking_layer_lstm,
    "masked_global_average_pooling_1d": case_masked_global_average_pooling_1d,
}


CASES.update({
    "time_distributed": case_time_distributed,
    "bidirectional_lstm_concat_sequences": bidirectional_case(
        "bidirectional_lstm_concat_sequences", 331, "LSTM", "concat", return_sequences=True),
    "bidirectional_gru_sum": bidirectional_case("bidirectional_gru_sum", 332, "GRU", "sum"),
    "bidirectional_simple_rnn_ave_sequences": bidirectional_case(
        "bidirectional_simple_rnn_ave_sequences", 333, "SimpleRNN", "ave", return_sequences=True),
    "bidirectional_gru_before_mul": bidirectional_case(
        "bidirectional_gru_before_mul", 334, "GRU", "mul", reset_after=False),
})
CASES.update({
    "embedding_flatten": case_embedding_flatten,
    "simple_rnn_sequences": rnn_case("simple_rnn_sequences", 301, "SimpleRNN", 5, 4, units=6,
                                     return_sequences=True),
    "simple_rnn_relu_backwards": rnn_case("simple_rnn_relu_backwards", 302, "SimpleRNN", 6, 3,
                                          units=5, activation="relu", go_backwards=True),
    "lstm_last": rnn_case("lstm_last", 303, "LSTM", 6, 3, units=7),
    "lstm_sequences_backwards": rnn_case("lstm_sequences_backwards", 304, "LSTM", 5, 4, units=4,
                                         return_sequences=True, go_backwards=True),
    "lstm_relu_no_bias": rnn_case("lstm_relu_no_bias", 305, "LSTM", 4, 3, units=5,
                                  activation="relu", use_bias=False),
    "lstm_state": rnn_state_case("lstm_state", 306, "LSTM", 5, 3, units=5,
                                 return_sequences=True),
    "gru_reset_after_sequences": rnn_case("gru_reset_after_sequences", 307, "GRU", 5, 4, units=6,
                                          return_sequences=True),
    "gru_reset_before": rnn_case("gru_reset_before", 308, "GRU", 6, 3, units=5,
                                 reset_after=False),
    "gru_reset_before_sequences_backwards": rnn_case(
        "gru_reset_before_sequences_backwards", 309, "GRU", 4, 3, units=4, reset_after=False,
        return_sequences=True, go_backwards=True),
    "gru_state_backwards": rnn_state_case("gru_state_backwards", 310, "GRU", 5, 3, units=4,
                                          go_backwards=True),
    "simple_rnn_state": rnn_state_case("simple_rnn_state", 311, "SimpleRNN", 4, 3, units=3,
                                       activation="softsign"),
    "gru_tanh_softsign_no_bias": rnn_case("gru_tanh_softsign_no_bias", 312, "GRU", 4, 3, units=4,
                                          recurrent_activation="tanh", activation="softsign",
                                          use_bias=False),
    "embedding_lstm_dense": case_embedding_lstm_dense,
    "embedding_gru_stack": case_embedding_gru_stack,
})
for _i, _act in enumerate(ACTIVATIONS):
    CASES[f"activation_{_act}"] = activation_case(_act, 200 + _i)


# ------------------------------------------------------------------ writing a case
def build(name, tools):
    g, xs, extra = CASES[name]()
    case_dir = os.path.join(HERE, name)
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.json"), "w") as fh:
        json.dump(g.model_config(), fh, indent=1)
        fh.write("\n")
    weight_files = g.write_weights(case_dir)

    tmp = tempfile.mkdtemp(prefix=f"golden-{name}-")
    try:
        x_names = ["x.npy"] if len(xs) == 1 else [f"x{i}.npy" for i in range(len(xs))]
        x_paths = [os.path.join(tmp, n) for n in x_names]
        for p, x in zip(x_paths, xs):
            np.save(p, x)
        inputs = []
        for n, x in zip(x_names, xs):
            entry = {"file": n, "shape": list(x.shape[1:])}
            if "x_source" in extra:
                entry = {"x_source": extra["x_source"], "shape": list(x.shape[1:])}
            else:
                shutil.copy(os.path.join(tmp, n), os.path.join(case_dir, n))
            inputs.append(entry)

        n_out = len(g.outputs)
        y_names = ["y.npy"] if n_out == 1 else [f"y{i}.npy" for i in range(n_out)]
        info = {"source": ORACLE_SOURCE}

        oracle_ys, oracle_error = None, None
        try:
            tools.predict(case_dir, x_paths, os.path.join(tmp, "oracle.npy"))
            oracle_ys = [np.load(p) for p in multi_paths(os.path.join(tmp, "oracle.npy"), n_out)]
        except RuntimeError as e:
            oracle_error = first_error_line(str(e))
        if oracle_ys is not None and extra.get("oracle_reshape"):
            # tfjs-layers 4.22's global pooling has no keepdims: it returns (batch, channels),
            # the same values Keras returns as (batch, 1[, 1], channels).
            oracle_ys = [y.reshape((y.shape[0], *g.shapes[(r[0], r[1])]))
                         for y, r in zip(oracle_ys, g.outputs)]
            info["oracle_note"] = ("tfjs-layers 4.22 ignores keepdims; its (batch, channels) "
                                   "output is reshaped to Keras' keepdims shape")

        if oracle_ys is not None and "oracle_fix" in extra:
            oracle_ys, info["oracle_note"] = extra["oracle_fix"](g, xs, oracle_ys)
        if oracle_ys is not None and extra.get("oracle_wrong"):
            d = [list(y.shape[1:]) for y in oracle_ys]
            oracle_ys, oracle_error = None, f"{extra['oracle_wrong']} (its output shapes: {d})"
        ref_ys, ref_error = None, None
        try:
            if extra.get("no_keras_ref"):
                raise RuntimeError("keras_ref.py has no masks (it would ignore mask_zero)")
            tools.keras_ref(case_dir, x_paths, os.path.join(tmp, "ref.npy"))
            ref_ys = [np.load(p) for p in multi_paths(os.path.join(tmp, "ref.npy"), n_out)]
        except RuntimeError as e:
            ref_error = first_error_line(str(e))

        act = extra.get("activation")
        if act in NUMPY_ACTIVATIONS:
            w, b = g.weights["dense"]
            ys = [NUMPY_ACTIVATIONS[act](dense_preact(xs[0], w, b)).astype(np.float32)]
            info["source"] = "numpy float64 from Keras' formula (" + {
                "hard_sigmoid": "Keras 3 definition; tfjs-layers 4.22 has Keras 2's, see oracle_note",
                "leaky_relu": "tfjs-layers 4.22 has no 'leaky_relu' activation",
                "exponential": "tfjs-layers 4.22 has no 'exponential' activation"}[act] + ")"
            if oracle_ys is not None:
                d = float(np.abs(oracle_ys[0].astype(np.float64) - ys[0]).max())
                info["oracle_note"] = (f"the oracle ran it with tfjs's own definition; max abs diff "
                                       f"from this y: {d:.3g}")
                if act == "hard_sigmoid":
                    np.save(os.path.join(case_dir, "y_keras2.npy"), oracle_ys[0])
                    info["oracle_note"] += ("; y_keras2.npy holds the oracle's Keras 2 output "
                                            "clip(0.2x + 0.5, 0, 1)")
            else:
                info["oracle_note"] = f"oracle refuses it: {oracle_error}"
            if act == "leaky_relu":
                info["cross_check"] = leaky_relu_oracle_check(g, tools, x_paths, ys[0], tmp)
            elif act == "exponential" and ref_ys is not None:
                info["cross_check"] = {
                    "tool": "keras_ref.py predict (numpy float64)",
                    "max_abs_diff": float(np.abs(ref_ys[0].astype(np.float64) - ys[0]).max())}
            else:
                info["cross_check"] = {"tool": "none: y is itself the numpy reference"}
        elif oracle_ys is None and ref_ys is not None:
            # tfjs lacks the option (Conv1D's causal padding): y is keras_ref.py's float64.
            ys = [y.astype(np.float32) for y in ref_ys]
            info["source"] = "keras_ref.py predict (numpy float64 + torch conv, Keras' formulas)"
            info["oracle_note"] = f"oracle refuses it: {oracle_error}"
            info["cross_check"] = {"tool": "none: y is itself the float64 reference"}
            if "numpy_ref" in extra:
                refs = extra["numpy_ref"](g, xs)
                diffs = [float(np.abs(a.astype(np.float64) - r).max()) for a, r in zip(ref_ys, refs)]
                info["cross_check"] = {"tool": "torch_conv_ref in make_golden.py",
                                       "max_abs_diff": max(diffs)}
        elif oracle_ys is None and "numpy_ref" in extra:
            # tfjs lacks the layer or option (Conv2D groups): y is the float64 reference.
            ys = [y.astype(np.float32) for y in extra["numpy_ref"](g, xs)]
            info["source"] = ("numpy/torch float64 from Keras 3's formulas in make_golden.py "
                              "(torch_conv_ref)")
            info["oracle_note"] = f"oracle refuses it: {oracle_error}"
            info["cross_check"] = {"tool": "none: y is itself the float64 reference"}
        else:
            if oracle_ys is None:
                raise RuntimeError(f"{name}: oracle failed: {oracle_error}")
            ys = oracle_ys
            if ref_ys is not None:
                diffs = [float(np.abs(a.astype(np.float64) - r.astype(np.float64)).max())
                         for a, r in zip(ys, ref_ys)]
                info["cross_check"] = {"tool": "keras_ref.py predict (numpy float64 + torch conv)",
                                       "max_abs_diff": max(diffs), "per_output": diffs}
            elif "numpy_ref" in extra:
                refs = extra["numpy_ref"](g, xs)
                diffs = [float(np.abs(a.astype(np.float64) - r).max()) for a, r in zip(ys, refs)]
                info["cross_check"] = {"tool": "numpy float64 from Keras 3's formulas in "
                                               "make_golden.py (keras_ref.py: " + ref_error + ")",
                                       "max_abs_diff": max(diffs), "per_output": diffs}
            else:
                info["cross_check"] = {"tool": "keras_ref.py", "unsupported": ref_error}

        for n, y in zip(y_names, ys):
            np.save(os.path.join(case_dir, n), np.ascontiguousarray(y, dtype="<f4"))

        case = {"name": name, "inputs": inputs, "outputs": y_names,
                "layers": g.case_layers(weight_files),
                "model_inputs": [r[0] for r in g.inputs],
                "model_outputs": [r[0] for r in g.outputs],
                "model_output_refs": [list(r) for r in g.outputs],
                "tolerance": TOLERANCE,
                "source": info["source"],
                "model": "model.json", "weights_manifest": "weights/manifest.json",
                "config_style": "tf.keras 2.x model_config",
                "seed": g.seed,
                "output_shapes": [list(y.shape[1:]) for y in ys],
                "max_abs_y": [float(np.abs(y).max()) for y in ys]}
        for k in ("activation", "activation_formula"):
            if k in extra:
                case[k] = extra[k]
        case["cross_check"] = info["cross_check"]
        if "oracle_note" in info:
            case["oracle_note"] = info["oracle_note"]
        with open(os.path.join(case_dir, "case.json"), "w") as fh:
            json.dump(case, fh, indent=1)
            fh.write("\n")
        return case
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def leaky_relu_oracle_check(g, tools, x_paths, y, tmp):
    """Runs the oracle on the equivalent Dense(linear) -> LeakyReLU(alpha=0.2) model."""
    d = os.path.join(tmp, "leaky_equiv")
    eq = Graph("leaky_equiv", g.seed, sequential=True)
    t = eq.input("input_1", (5,))
    t = eq.call(dense("dense", 6), t)
    leaky = {"class_name": "LeakyReLU", "config": {**_common("leaky_re_lu"), "alpha": 0.2}}
    eq.layers.append(leaky)
    eq.calls["leaky_re_lu"] = [[t]]
    eq.weights = {"dense": g.weights["dense"]}
    os.makedirs(d)
    with open(os.path.join(d, "model.json"), "w") as fh:
        json.dump(eq.model_config(), fh)
    eq.write_weights(d)
    tools.predict(d, x_paths, os.path.join(tmp, "leaky.npy"))
    diff = float(np.abs(np.load(os.path.join(tmp, "leaky.npy")).astype(np.float64) - y).max())
    return {"tool": "oracle predict on Dense(linear) -> LeakyReLU(alpha=0.2)", "max_abs_diff": diff}


# ------------------------------------------------------------------ keras.applications (issue 6)
MASK64 = (1 << 64) - 1
WEIGHTS_FORMULA = {
    "name": "kiln-golden-hash-v1",
    "definition": (
        "element i of weight n (Keras name without ':0', e.g. 'conv1_bn/gamma') of shape S: "
        "h = splitmix64((fnv1a64(n) ^ seed) + i mod 2^64); s = ((h >> 40) * 2 + 1) / 2^24 - 1; "
        "kernel, pointwise_kernel: s * sqrt(6 / prod(S[:-1])); depthwise_kernel: "
        "s * sqrt(6 / (S[0] * S[1])); bias, beta, moving_mean: 0.1 * s; gamma: 1 + 0.25 * s; "
        "moving_variance: 1 + 0.5 * s; in float64, rounded to float32 "
        "(make_golden.py formula_weight, test/e2e/GoldenModel.h formulaWeight)"),
}


def fnv1a64(text):
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) & MASK64
    return h


def formula_weight(name, shape, seed):
    """The kiln-golden-hash-v1 weight `name` (e.g. "conv1/kernel") of `shape`: He-uniform-sized
    kernels (ReLU networks keep their scale), BatchNormalization statistics near (0, 1)."""
    key = fnv1a64(name) ^ seed
    n = int(np.prod(shape)) if shape else 1
    z = np.arange(n, dtype=np.uint64) + np.uint64((key + 0x9E3779B97F4A7C15) & MASK64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    s = ((z >> np.uint64(40)) * np.uint64(2) + np.uint64(1)).astype(np.float64) / 16777216.0 - 1.0
    kind = name.rsplit("/", 1)[-1]
    offset, scale = 0.0, 0.1
    if kind in ("kernel", "pointwise_kernel"):
        scale = math.sqrt(6.0 / float(np.prod(shape[:-1])))
    elif kind == "depthwise_kernel":
        scale = math.sqrt(6.0 / (float(shape[0]) * float(shape[1])))
    elif kind == "gamma":
        offset, scale = 1.0, 0.25
    elif kind == "moving_variance":
        offset, scale = 1.0, 0.5
    elif kind not in ("bias", "beta", "moving_mean"):
        raise NotImplementedError(name)
    return (offset + s * scale).astype(np.float32).reshape(shape)


# Cases whose data are kept although kiln cannot run them yet: case.json's "kiln_skip" says why
# (KilnGoldenTest and test/gpu/golden_gpu.sh skip them).
APP_SKIP = {
    "app_resnet50_notop_avg": (
        "kiln cannot run ResNet50 in test time yet: its predict is one function of 175 "
        "layers, and LLVM's JIT codegen of it ran past 10 minutes; before "
        "kiln-fuse-image-chains was limited to the chain's own ops, compiling ran out of "
        "memory (past 13 GB)"),
}

# name -> (application spec, seed, samples)
APP_CASES = {
    # VGG16 without its top at 32x32: every conv block down to 1x1x512.
    "app_vgg16_notop": ({"builder": "VGG16",
                         "options": {"include_top": False, "input_shape": [32, 32, 3]}}, 401, 4),
    # ResNet50 without its top at 32x32, global average pooling: every stack, 2048 features.
    "app_resnet50_notop_avg": ({"builder": "ResNet50",
                                "options": {"include_top": False, "input_shape": [32, 32, 3],
                                            "pooling": "avg"}}, 402, 4),
    # MobileNet alpha 0.25 at 32x32 with its top (keepdims pooling, dropout, conv_preds,
    # reshape_2, predictions) for 10 classes; logits (classifier_activation None), which show
    # a difference that a near-uniform softmax would shrink.
    "app_mobilenet_025_top": ({"builder": "MobileNet",
                               "options": {"include_top": True, "input_shape": [32, 32, 3],
                                           "classes": 10, "classifier_activation": "linear",
                                           "alpha": 0.25}}, 403, 8),
}


def channels(layers, weights, name):
    """The channels of layer `name`'s output: those of the nearest layer with weights at or
    before it (weightless layers keep their input's channels)."""
    by_name = {l["config"]["name"]: l for l in layers}
    shapes = {w["layer"]: w["shapes"] for w in weights}
    while name not in shapes:
        name = by_name[name]["inbound_nodes"][0][0][0]
    first = shapes[name][0]
    if by_name[name]["class_name"] == "DepthwiseConv2D":
        return first[2] * first[3]
    return first[-1]


def oracle_config(cfg, weights):
    """The config for tfjs-layers 4.22: a Reshape((1, 1, channels)) after every keepdims global
    pooling (tfjs ignores keepdims), its consumers rewired to it."""
    cfg = json_copy(cfg)
    layers = cfg["config"]["layers"]
    out = []
    renamed = {}
    for l in layers:
        for node in l.get("inbound_nodes", []):
            for ref in node:
                if ref[0] in renamed:
                    ref[0] = renamed[ref[0]]
        out.append(l)
        if l["class_name"].startswith("GlobalAveragePooling2D") and l["config"].get("keepdims"):
            name = l["config"]["name"]
            c = channels(layers, weights, l["inbound_nodes"][0][0][0])
            r = reshape(f"{name}_oracle_keepdims", [1, 1, c])
            r["name"] = r["config"]["name"]
            r["inbound_nodes"] = [[[name, 0, 0, {}]]]
            renamed[name] = r["name"]
            out.append(r)
    cfg["config"]["layers"] = out
    for ref in cfg["config"]["output_layers"]:
        if ref[0] in renamed:
            ref[0] = renamed[ref[0]]
    return cfg, bool(renamed)


def app_torch_ref(cfg, weights, x):
    """An independent float64 forward pass (torch) of a keras.applications config, written
    from Keras' layer formulas: keras_ref.py lacks ZeroPadding2D and DepthwiseConv2D, and the
    oracle's README lists tfjs' DepthwiseConv2D as not cross-checked. `weights`: layer name ->
    its arrays in get_weights() order."""
    import torch
    import torch.nn.functional as F

    def same_pad(n, k, st, d):
        keff = (k - 1) * d + 1
        total = max((-(-n // st) - 1) * st + keff - n, 0)
        return total // 2, total - total // 2

    def conv(a, w, c, groups):
        t = a.permute(0, 3, 1, 2)
        st, dil = c["strides"], c.get("dilation_rate", [1, 1])
        if c["padding"] == "same":
            (pt, pb), (pl, pr) = (same_pad(a.shape[1], w.shape[2], st[0], dil[0]),
                                  same_pad(a.shape[2], w.shape[3], st[1], dil[1]))
            t = F.pad(t, (pl, pr, pt, pb))
        return F.conv2d(t, w, stride=tuple(st), dilation=tuple(dil),
                        groups=groups).permute(0, 2, 3, 1)

    def activation(a, name):
        if name == "relu":
            return torch.clamp(a, min=0)
        if name == "softmax":
            return torch.softmax(a, dim=-1)
        if name == "linear":
            return a
        raise NotImplementedError(name)

    out = {}
    for l in cfg["config"]["layers"]:
        cls, c, name = l["class_name"], l["config"], l["config"]["name"]
        ins = [out[ref[0]] for node in l.get("inbound_nodes", [])[:1] for ref in node]
        ws = [torch.from_numpy(w.astype(np.float64)) for w in weights.get(name, [])]
        a = ins[0] if ins else None
        if cls == "InputLayer":
            y = torch.from_numpy(x.astype(np.float64))
        elif cls == "ZeroPadding2D":
            (t, b), (lf, r) = c["padding"]
            y = F.pad(a.permute(0, 3, 1, 2), (lf, r, t, b)).permute(0, 2, 3, 1)
        elif cls == "Conv2D":
            y = conv(a, ws[0].permute(3, 2, 0, 1), c, 1)
            if c["use_bias"]:
                y = y + ws[1]
            y = activation(y, c["activation"])
        elif cls == "DepthwiseConv2D":
            kh, kw, ch, m = ws[0].shape
            y = conv(a, ws[0].reshape(kh, kw, 1, ch * m).permute(3, 2, 0, 1), c, ch)
            if c["use_bias"]:
                y = y + ws[1]
            y = activation(y, c["activation"])
        elif cls == "BatchNormalization":
            k = 0
            gamma = ws[k] if c["scale"] else 1.0
            k += int(c["scale"])
            beta = ws[k] if c["center"] else 0.0
            k += int(c["center"])
            y = (a - ws[k]) / torch.sqrt(ws[k + 1] + c["epsilon"]) * gamma + beta
        elif cls == "Activation":
            y = activation(a, c["activation"])
        elif cls == "ReLU":
            y = torch.clamp(a, min=0)
            if c.get("max_value") is not None:
                y = torch.clamp(y, max=c["max_value"])
            y = y - c.get("negative_slope", 0.0) * torch.clamp(-a, min=0)
        elif cls == "MaxPooling2D" and c["padding"] == "valid":
            y = F.max_pool2d(a.permute(0, 3, 1, 2), tuple(c["pool_size"]),
                             tuple(c["strides"])).permute(0, 2, 3, 1)
        elif cls == "Add":
            y = sum(ins[1:], ins[0])
        elif cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            y = (a.mean(dim=(1, 2), keepdim=c.get("keepdims", False)) if "Average" in cls else
                 a.amax(dim=(1, 2), keepdim=c.get("keepdims", False)))
        elif cls == "Dropout":
            y = a
        elif cls == "Reshape":
            y = a.reshape(a.shape[0], *c["target_shape"])
        else:
            raise NotImplementedError(cls)
        out[name] = y
    return out[cfg["config"]["output_layers"][0][0]].numpy()


def build_app(name, tools, kiln_bin):
    spec, seed, n = APP_CASES[name]
    tool = os.path.join(kiln_bin, "kiln-golden-app-config")
    r = subprocess.run([tool, json.dumps(spec)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: {tool} failed: {r.stderr.strip()[-2000:]}")
    kiln = json.loads(r.stdout)
    cfg = kiln["model_config"]
    case_dir = os.path.join(HERE, name)
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.json"), "w") as fh:
        json.dump(cfg, fh, indent=1)
        fh.write("\n")

    layers = cfg["config"]["layers"]
    inputs = [l for l in layers if l["class_name"] == "InputLayer"]
    in_shape = inputs[0]["config"]["batch_input_shape"][1:]
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(n, *in_shape)).astype(np.float32)
    np.save(os.path.join(case_dir, "x.npy"), x)

    tmp = tempfile.mkdtemp(prefix=f"golden-{name}-")
    try:
        model_dir = os.path.join(tmp, "model")
        wdir = os.path.join(model_dir, "weights")
        os.makedirs(wdir)
        ocfg, reshaped = oracle_config(cfg, kiln["weights"])
        with open(os.path.join(model_dir, "model.json"), "w") as fh:
            json.dump(ocfg, fh)
        manifest = {"format": "keras-oracle-weights-v1", "layers": []}
        count = 0
        by_layer = {}
        for i, lw in enumerate(kiln["weights"]):
            entry = {"name": lw["layer"], "weights": []}
            for j, (wname, shape) in enumerate(zip(lw["names"], lw["shapes"])):
                w = formula_weight(wname.rsplit(":", 1)[0], tuple(shape), seed)
                by_layer.setdefault(lw["layer"], []).append(w)
                count += w.size
                rel = f"{i:04d}_{j}.npy"
                np.save(os.path.join(wdir, rel), w)
                entry["weights"].append({"name": wname, "shape": list(shape), "dtype": "float32",
                                         "file": rel})
            manifest["layers"].append(entry)
        with open(os.path.join(wdir, "manifest.json"), "w") as fh:
            json.dump(manifest, fh)
        x_path = os.path.join(case_dir, "x.npy")
        tools.predict(model_dir, [x_path], os.path.join(tmp, "oracle.npy"))
        y = np.load(os.path.join(tmp, "oracle.npy"))
        np.save(os.path.join(case_dir, "y.npy"), np.ascontiguousarray(y, dtype="<f4"))
        ref = app_torch_ref(cfg, by_layer, x)
        cross = {"tool": "app_torch_ref in make_golden.py (torch float64 from Keras' formulas, "
                         "on the config kiln wrote)",
                 "max_abs_diff": float(np.abs(y.astype(np.float64) - ref).max())}
        try:
            tools.keras_ref(model_dir, [x_path], os.path.join(tmp, "ref.npy"))
            ref = np.load(os.path.join(tmp, "ref.npy")).astype(np.float64)
            cross["keras_ref"] = {"tool": "keras_ref.py predict (numpy float64 + torch conv)",
                                  "max_abs_diff": float(np.abs(y.astype(np.float64) - ref).max())}
        except RuntimeError as e:
            cross["keras_ref"] = {"tool": "keras_ref.py", "unsupported": first_error_line(str(e))}

        case_layers = []
        for l in layers:
            calls = [[list(ref[:3]) for ref in node] for node in l.get("inbound_nodes", [])]
            case_layers.append({"name": l["config"]["name"], "class_name": l["class_name"],
                                "config": l["config"],
                                "inbound": [c[0] for c in calls[0]] if calls else [],
                                "calls": [[c[0] for c in call] for call in calls],
                                "call_refs": calls, "weights": []})
        outs = cfg["config"]["output_layers"]
        case = {"name": name,
                "inputs": [{"file": "x.npy", "shape": list(x.shape[1:])}],
                "outputs": ["y.npy"],
                "application": spec,
                "weights_formula": {**WEIGHTS_FORMULA, "seed": seed},
                "parameters": count,
                "layers": case_layers,
                "model_inputs": [l["config"]["name"] for l in inputs],
                "model_outputs": [r[0] for r in outs],
                "model_output_refs": [list(r[:3]) for r in outs],
                "tolerance": TOLERANCE,
                "source": ORACLE_SOURCE,
                "model": "model.json",
                "config_style": "tf.keras 2.x model_config, as kiln::applications writes it",
                "seed": seed,
                "output_shapes": [list(y.shape[1:])],
                "max_abs_y": [float(np.abs(y).max())],
                "cross_check": cross}
        if name in APP_SKIP:
            case["kiln_skip"] = APP_SKIP[name]
        if reshaped:
            case["oracle_note"] = ("tfjs-layers 4.22 ignores GlobalAveragePooling2D's keepdims; "
                                   "the oracle ran this config with a Reshape((1, 1, channels)) "
                                   "after that layer (the same values)")
        with open(os.path.join(case_dir, "case.json"), "w") as fh:
            json.dump(case, fh, indent=1)
            fh.write("\n")
        return case
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", default=os.environ.get("KILN_ORACLE", "/tmp/oracle-golden"))
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--kiln-bin", default=os.environ.get(
        "KILN_BIN_DIR", os.path.join(HERE, "..", "..", "build", "bin")),
        help="where kiln-golden-app-config is (the app_* cases)")
    a = ap.parse_args()
    tools = Tools(a.oracle)
    names = a.only.split(",") if a.only else list(CASES) + list(APP_CASES)
    for n in names:
        if n not in CASES and n not in APP_CASES:
            sys.exit(f"make_golden: unknown case {n}; cases: {', '.join([*CASES, *APP_CASES])}")
    for n in names:
        c = build_app(n, tools, a.kiln_bin) if n in APP_CASES else build(n, tools)
        cc = c["cross_check"]
        print(f"{n:28s} {c['source'][:40]:40s} out {c['output_shapes']} "
              f"cross_check {cc.get('max_abs_diff', cc.get('unsupported', cc['tool']))}", flush=True)


CASES.update(CONV_CASES)
CASES.update(MASK_CASES)
CASES.update(CASES_3D)


if __name__ == "__main__":
    main()
