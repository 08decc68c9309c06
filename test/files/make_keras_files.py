#!/usr/bin/python3
"""Writes the Keras model files kiln's file tests read, in exactly the layouts Keras writes.

Run with Debian's interpreter (h5py, numpy): /usr/bin/python3 test/files/make_keras_files.py
The outputs in test/files/Inputs/ are committed, so the tests need no Python.

Layouts (from keras/src/legacy/saving/legacy_h5_format.py and tf.keras 2.x's hdf5_format.py):
  full model: root attrs keras_version (str), backend (str), model_config (JSON bytes),
              training_config (JSON bytes, optional); group model_weights with attrs
              layer_names (array of bytes), backend, keras_version (bytes); one group per layer
              (created in sorted name order) with attr weight_names (array of bytes, or [] for
              a layer without weights) and datasets at <layer>/<weight name>, the weight name
              being "dense/kernel:0" in tf.keras 2.x and "dense/kernel" in Keras 3; Keras 3
              adds a group top_level_model_weights with empty weight_names.
  weights only: the per-layer groups and attrs at the root.
  .keras (Keras 3): zip of config.json, metadata.json, model.weights.h5 whose weights sit at
              layers/<snake_case(class)[_k]>/vars/<i>.
Each model also gets <name>.io.h5 with inputs x0, x1, ... and outputs y0, ... computed here
with numpy from Keras' layer semantics, plus .npy copies for the lit tests. Then run
make_oracle_outputs.py ORACLE_DIR: it replaces those outputs with the Keras oracle's
predictions (after checking that numpy and the oracle agree), and those are what is committed.
"""
import io
import json
import os
import zipfile

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Inputs")
rng = np.random.default_rng(1234)


def w(*shape):
    return (rng.standard_normal(shape) * 0.5).astype("float32")


# ---------------------------------------------------------------- numpy reference layers
def relu(x):
    return np.maximum(x, 0)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def conv2d(x, k, b, padding):
    kh, kw = k.shape[:2]
    if padding == "same":
        ph, pw = kh - 1, kw - 1
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    n, h, wd, _ = x.shape
    oh, ow = h - kh + 1, wd - kw + 1
    y = np.zeros((n, oh, ow, k.shape[3]), dtype="float64")
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = np.tensordot(x[:, i:i + kh, j:j + kw, :], k, axes=([1, 2, 3], [0, 1, 2]))
    return y + b


def pool(x, size, fn):
    n, h, wd, c = x.shape
    oh, ow = h // size, wd // size
    return fn(x[:, :oh * size, :ow * size, :].reshape(n, oh, size, ow, size, c), axis=(2, 4))


# ---------------------------------------------------------------- Keras config pieces
def k2_init(cls, **cfg):
    return {"class_name": cls, "config": cfg or ({} if cls in ("Zeros", "Ones") else {"seed": None})}


def k3_init(cls, **cfg):
    c = cfg or ({} if cls in ("Zeros", "Ones") else {"seed": None})
    return {"module": "keras.initializers", "class_name": cls, "config": c, "registered_name": None}


K3_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def dense_cfg(name, units, activation, k3, kernel_init=None):
    init = k3_init if k3 else k2_init
    return {"name": name, "trainable": True, "dtype": K3_DTYPE if k3 else "float32",
            "units": units, "activation": activation, "use_bias": True,
            "kernel_initializer": kernel_init or init("GlorotUniform"),
            "bias_initializer": init("Zeros"), "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}


def base_cfg(name, k3, **extra):
    c = {"name": name, "trainable": True, "dtype": K3_DTYPE if k3 else "float32"}
    c.update(extra)
    return c


def layer(cls, cfg, k3):
    if k3:
        return {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None}
    return {"class_name": cls, "config": cfg}


# ---------------------------------------------------------------- h5 writing, as Keras does
def save_attributes(group, name, data):
    group.attrs[name] = data


def write_weight_groups(f, layer_names, weights, k3):
    """weights: {layer: [(weight name, array)]}; layer_names in model.layers order."""
    save_attributes(f, "layer_names", [n.encode("utf8") for n in layer_names])
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = (b"3.5.0" if k3 else b"2.15.0")
    for name in sorted(layer_names):
        g = f.create_group(name)
        ws = weights.get(name, [])
        save_attributes(g, "weight_names", [wn.encode("utf8") for wn, _ in ws])
        for wn, val in ws:
            d = g.create_dataset(wn, val.shape, dtype=val.dtype)
            d[:] = val
    if k3:
        g = f.create_group("top_level_model_weights")
        save_attributes(g, "weight_names", [])


def save_full(path, config, layer_names, weights, k3, training_config=None):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.5.0" if k3 else "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        mw = f.create_group("model_weights")
        write_weight_groups(mw, layer_names, weights, k3)
        if training_config is not None:
            # tf.keras 2.x OptimizerV2's variables: Adam/iter:0, then every weight's m slot,
            # then every v slot, named <optimizer>/<layer>/<weight>/<slot>:0.
            og = f.create_group("optimizer_weights")
            names = ["Adam/iter:0"]
            values = [np.int64(3)]
            rng = np.random.RandomState(11)
            for slot in ("m", "v"):
                for layer_name in layer_names:
                    for wn, val in weights.get(layer_name, []):
                        names.append("Adam/" + wn[: -len(":0")] + "/" + slot + ":0")
                        s = rng.uniform(0.0, 0.01, val.shape).astype("float32")
                        values.append(s)
            save_attributes(og, "weight_names", [n.encode("utf8") for n in names])
            for n, v in zip(names, values):
                og.create_dataset(n, data=v)


def save_io(name, xs, ys):
    with h5py.File(os.path.join(OUT, name + ".io.h5"), "w") as f:
        for i, x in enumerate(xs):
            f.create_dataset(f"x{i}", data=x.astype("float32"))
        for i, y in enumerate(ys):
            f.create_dataset(f"y{i}", data=y.astype("float32"))


def wname(layer, weight, k3):
    return f"{layer}/{weight}" if k3 else f"{layer}/{weight}:0"


# ---------------------------------------------------------------- the models
def mlp(k3=False):
    """Sequential: Dense(8, relu) -> Dropout(0.25) -> Dense(3, softmax), input (4,)."""
    inp = "input_layer" if k3 else "dense_input"
    in_cfg = ({"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": inp} if k3
              else {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False,
                    "ragged": False, "name": inp})
    layers = [layer("InputLayer", in_cfg, k3),
              layer("Dense", dense_cfg("dense", 8, "relu", k3), k3),
              layer("Dropout", base_cfg("dropout", k3, rate=0.25, noise_shape=None, seed=None), k3),
              layer("Dense", dense_cfg("dense_1", 3, "softmax", k3), k3)]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    if k3:
        config = {"module": "keras", "class_name": "Sequential", "config": config["config"],
                  "registered_name": None, "build_config": {"input_shape": [None, 4]}}
    k0, b0, k1, b1 = w(4, 8), w(8), w(8, 3), w(3)
    x = w(5, 4)
    y = softmax(relu(x @ k0 + b0) @ k1 + b1)
    weights = {"dense": [(wname("dense", "kernel", k3), k0), (wname("dense", "bias", k3), b0)],
               "dense_1": [(wname("dense_1", "kernel", k3), k1), (wname("dense_1", "bias", k3), b1)]}
    return config, ["dense", "dropout", "dense_1"], weights, [x], [y]


def cnn():
    """tf.keras 2.x Sequential without an InputLayer entry (batch_input_shape on the first
    layer), VarianceScaling spelled out, both pools, Flatten."""
    vs = {"class_name": "VarianceScaling",
          "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    conv = lambda name, f, k, pad, act, extra=None: {
        "class_name": "Conv2D",
        "config": dict(base_cfg(name, False), filters=f, kernel_size=[k, k], strides=[1, 1],
                       padding=pad, data_format="channels_last", dilation_rate=[1, 1], groups=1,
                       activation=act, use_bias=True, kernel_initializer=vs,
                       bias_initializer=k2_init("Zeros"), kernel_regularizer=None,
                       bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                       bias_constraint=None, **(extra or {}))}
    pool_cfg = lambda cls, name: {"class_name": cls, "config": base_cfg(
        name, False, pool_size=[2, 2], padding="valid", strides=[2, 2], data_format="channels_last")}
    layers = [conv("conv2d", 3, 3, "same", "relu", {"batch_input_shape": [None, 6, 6, 2]}),
              pool_cfg("MaxPooling2D", "max_pooling2d"),
              conv("conv2d_1", 2, 2, "valid", "tanh"),
              pool_cfg("AveragePooling2D", "average_pooling2d"),
              {"class_name": "Flatten", "config": base_cfg("flatten", False, data_format="channels_last")},
              {"class_name": "Dense", "config": dense_cfg("dense", 2, "linear", False)}]
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers}}
    k0, b0, k1, b1, k2, b2 = w(3, 3, 2, 3), w(3), w(2, 2, 3, 2), w(2), w(2, 2), w(2)
    x = w(3, 6, 6, 2)
    h = relu(conv2d(x, k0, b0, "same"))
    h = pool(h, 2, np.max)
    h = np.tanh(conv2d(h, k1, b1, "valid"))
    h = pool(h, 2, np.mean)
    y = h.reshape(len(x), -1) @ k2 + b2
    weights = {"conv2d": [("conv2d/kernel:0", k0), ("conv2d/bias:0", b0)],
               "conv2d_1": [("conv2d_1/kernel:0", k1), ("conv2d_1/bias:0", b1)],
               "dense": [("dense/kernel:0", k2), ("dense/bias:0", b2)]}
    names = ["conv2d", "max_pooling2d", "conv2d_1", "average_pooling2d", "flatten", "dense"]
    return config, names, weights, [x], [y]


def functional(k3):
    """Two inputs a (4,) and b (3,); Dense, Add, Concatenate, Reshape, Flatten, Activation;
    two outputs."""
    ia, ib = ("input_layer", "input_layer_1") if k3 else ("input_1", "input_2")

    def ref(name, shape=None):
        if k3:
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": shape, "dtype": "float32", "keras_history": [name, 0, 0]}}
        return [name, 0, 0, {}]

    def node(*refs, merge=False):
        if k3:
            args = [list(refs)] if merge else list(refs)
            return {"args": args, "kwargs": {}}
        return list(refs)

    def entry(cls, cfg, inbound):
        e = layer(cls, cfg, k3)
        e["name"] = cfg["name"]
        e["inbound_nodes"] = inbound
        return e

    def input_entry(name, n):
        cfg = ({"batch_shape": [None, n], "dtype": "float32", "sparse": False, "name": name} if k3
               else {"batch_input_shape": [None, n], "dtype": "float32", "sparse": False,
                     "ragged": False, "name": name})
        return entry("InputLayer", cfg, [])

    layers = [
        input_entry(ia, 4), input_entry(ib, 3),
        entry("Dense", dense_cfg("dense", 5, "tanh", k3), [node(ref(ia, [None, 4]))]),
        entry("Dense", dense_cfg("dense_1", 5, "linear", k3), [node(ref(ib, [None, 3]))]),
        entry("Add", base_cfg("add", k3), [node(ref("dense", [None, 5]), ref("dense_1", [None, 5]), merge=True)]),
        entry("Concatenate", base_cfg("concatenate", k3, axis=-1),
              [node(ref("add", [None, 5]), ref(ib, [None, 3]), merge=True)]),
        entry("Reshape", base_cfg("reshape", k3, target_shape=[2, 4]), [node(ref("concatenate", [None, 8]))]),
        entry("Flatten", base_cfg("flatten", k3, data_format="channels_last"), [node(ref("reshape", [None, 2, 4]))]),
        entry("Dense", dense_cfg("dense_2", 2, "sigmoid", k3), [node(ref("flatten", [None, 8]))]),
        entry("Activation", base_cfg("activation", k3, activation="relu"), [node(ref("add", [None, 5]))]),
    ]
    cfg = {"name": "model", "trainable": True, "layers": layers,
           "input_layers": [[ia, 0, 0], [ib, 0, 0]],
           "output_layers": [["dense_2", 0, 0], ["activation", 0, 0]]}
    config = {"class_name": "Functional", "config": cfg}
    if k3:
        config = {"module": "keras.src.models.functional", "class_name": "Functional",
                  "config": cfg, "registered_name": "Functional"}
    k0, b0, k1, b1, k2, b2 = w(4, 5), w(5), w(3, 5), w(5), w(8, 2), w(2)
    a, b = w(6, 4), w(6, 3)
    s = np.tanh(a @ k0 + b0) + (b @ k1 + b1)
    c = np.concatenate([s, b], axis=-1)
    y0 = sigmoid(c @ k2 + b2)
    y1 = relu(s)
    weights = {n: [(wname(n, "kernel", k3), k), (wname(n, "bias", k3), bb)]
               for n, k, bb in (("dense", k0, b0), ("dense_1", k1, b1), ("dense_2", k2, b2))}
    names = [ia, ib, "dense", "dense_1", "add", "concatenate", "reshape", "flatten", "dense_2",
             "activation"]
    return config, names, weights, [a, b], [y0, y1]


def keras_archive(path, config, weights_by_key):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        lg = f.create_group("layers")
        for key, arrays in weights_by_key.items():
            v = lg.create_group(key).create_group("vars")
            for i, a in enumerate(arrays):
                v.create_dataset(str(i), data=a)
        for key in ("input_layer", "dropout"):
            lg.create_group(key).create_group("vars")
        f.create_group("optimizer").create_group("vars")
    meta = {"keras_version": "3.5.0", "date_saved": "2024-09-01@00:00:00"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())


def main():
    os.makedirs(OUT, exist_ok=True)
    p = lambda n: os.path.join(OUT, n)
    training = {"loss": "categorical_crossentropy", "metrics": ["accuracy"],
                "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}

    cfg, names, weights, xs, ys = mlp(False)
    save_full(p("keras2_mlp.h5"), cfg, names, weights, False, training)
    save_io("keras2_mlp", xs, ys)
    np.save(p("keras2_mlp.x.npy"), xs[0])
    np.save(p("keras2_mlp.y.npy"), ys[0].astype("float32"))
    # Weights-only (model.save_weights) with its config beside it.
    with h5py.File(p("keras2_mlp_weights.h5"), "w") as f:
        write_weight_groups(f, names, weights, False)
    with open(p("keras2_mlp_config.json"), "w") as fh:
        json.dump(cfg, fh)

    cfg, names, weights, xs, ys = cnn()
    save_full(p("keras2_cnn.h5"), cfg, names, weights, False)
    save_io("keras2_cnn", xs, ys)

    for k3 in (False, True):
        tag = "keras3" if k3 else "keras2"
        cfg, names, weights, xs, ys = functional(k3)
        save_full(p(f"{tag}_functional.h5"), cfg, names, weights, k3)
        save_io(f"{tag}_functional", xs, ys)
        if not k3:
            for i, x in enumerate(xs):
                np.save(p(f"keras2_functional.x{i}.npy"), x)

    cfg, names, weights, xs, ys = mlp(True)
    save_full(p("keras3_mlp.h5"), cfg, names, weights, True)
    keras_archive(p("keras3_mlp.keras"), cfg,
                  {"dense": [a for _, a in weights["dense"]],
                   "dense_1": [a for _, a in weights["dense_1"]]})
    save_io("keras3_mlp", xs, ys)

    make_bad(p)


def make_bad(p):
    """Malformed files, one problem each."""
    cfg, names, weights, _, _ = mlp(False)
    src = p("keras2_mlp.h5")
    with open(p("bad_not_h5.h5"), "w") as fh:
        fh.write("this is not an HDF5 file\n" * 20)
    data = open(src, "rb").read()
    open(p("bad_truncated.h5"), "wb").write(data[: len(data) // 2])

    def variant(name, mutate_weights=None, config=cfg, drop_config=False):
        ws = {k: list(v) for k, v in weights.items()}
        if mutate_weights:
            mutate_weights(ws)
        save_full(p(name), config, names, ws, False)
        if drop_config:
            with h5py.File(p(name), "a") as f:
                del f.attrs["model_config"]

    variant("bad_no_config.h5", drop_config=True)
    variant("bad_shape.h5", lambda ws: ws.__setitem__(
        "dense", [("dense/kernel:0", np.zeros((8, 4), "float32")), ws["dense"][1]]))
    variant("bad_dtype.h5", lambda ws: ws.__setitem__(
        "dense", [("dense/kernel:0", np.zeros((4, 8), "int32")), ws["dense"][1]]))
    bad_cfg = json.loads(json.dumps(cfg))
    bad_cfg["config"]["layers"][2] = {"class_name": "ConvLSTM2D",
                                      "config": {"name": "conv_lstm2d", "filters": 4}}
    variant("bad_unknown_layer.h5", config=bad_cfg)
    variant("bad_weight_count.h5", lambda ws: ws.__setitem__("dense", ws["dense"][:1]))

    # A weight that is a soft link, an external link, a virtual dataset, external storage.
    def relink(name, make):
        variant(name)
        with h5py.File(p(name), "a") as f:
            g = f["model_weights/dense/dense"]
            del g["kernel:0"]
            make(f, g)

    relink("bad_soft_link.h5",
           lambda f, g: g.__setitem__("kernel:0", h5py.SoftLink("/model_weights/dense_1/dense_1/kernel:0")))
    relink("bad_external_link.h5",
           lambda f, g: g.__setitem__("kernel:0", h5py.ExternalLink("keras2_mlp.h5", "/model_weights/dense/dense/kernel:0")))

    def virtual(f, g):
        layout = h5py.VirtualLayout(shape=(4, 8), dtype="float32")
        layout[:] = h5py.VirtualSource("keras2_mlp.h5", "model_weights/dense/dense/kernel:0", shape=(4, 8))
        g.create_virtual_dataset("kernel:0", layout)

    relink("bad_virtual.h5", virtual)
    relink("bad_external_storage.h5",
           lambda f, g: g.create_dataset("kernel:0", (4, 8), "float32", external=[("outside.bin", 0, 128)]))
    # A dataset that declares 2^30 floats but holds none of them (never written).
    relink("bad_huge_dataset.h5",
           lambda f, g: g.create_dataset("kernel:0", (32768, 32768), "float32"))
    # Attributes of the wrong kinds.
    variant("bad_config_not_string.h5")
    with h5py.File(p("bad_config_not_string.h5"), "a") as f:
        f.attrs["model_config"] = np.arange(3)
    variant("bad_no_layer_names.h5")
    with h5py.File(p("bad_no_layer_names.h5"), "a") as f:
        del f["model_weights"].attrs["layer_names"]
    variant("bad_config_json.h5")
    with h5py.File(p("bad_config_json.h5"), "a") as f:
        f.attrs["model_config"] = b'{"class_name": "Sequential", "config": {"layers": [}'


if __name__ == "__main__":
    main()
