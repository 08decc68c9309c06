#!/usr/bin/python3
"""Checks that a .keras archive written by kiln has the structure Keras 3 writes.

usage: check_keras_archive.py MODEL.keras MODEL.h5

MODEL.h5 is the same model saved by kiln in the legacy HDF5 layout (whose structure the h5py
checks of the .h5 tests vouch for); its weights and tf.keras-named optimizer weights are the
values the archive must hold, in Keras 3's places. The expected places are derived here from
keras/src/saving/saving_lib.py (read through the code search), independently of kiln's C++:

  zip (stored, not deflated): metadata.json, config.json, model.weights.h5, in that order.
  config.json: serialize_keras_object(model): module, class_name, config, registered_name,
      build_config, and compile_config when compiled (optimizer as a serialized object).
  model.weights.h5: _save_state walks the model: the model's own variables at vars/ (none),
      model.layers as a container at layers/<snake_case(class)[_k]>/vars/<i> (a Sequential's
      layers leave out its InputLayer, a Functional's keep theirs), then the optimizer's
      variables at optimizer/vars/<i> in creation order: iterations (int64), learning_rate
      (float32, unless a schedule), then the slots as each optimizer's build() creates them.
Exits non-zero with a message on the first difference.
"""
import io
import json
import re
import sys
import zipfile

import h5py
import numpy as np


def fail(msg):
    sys.exit("check_keras_archive: " + msg)


def snake_case(name):  # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def expect(cond, msg):
    if not cond:
        fail(msg)


# Keras 3's build(): groups of slots created one after the other; inside a group the slots
# are interleaved per trainable variable. Names are tf.keras 2.x's slot names, as kiln's
# legacy .h5 spells them.
def slot_groups(cls, cfg):
    if cls in ("Adam", "AdamW"):
        return [["m", "v"]] + ([["vhat"]] if cfg.get("amsgrad") else [])
    if cls == "RMSprop":
        g = [["rms"]]
        if cfg.get("momentum", 0) > 0:
            g.append(["momentum"])
        if cfg.get("centered"):
            g.append(["mg"])
        return g
    if cls == "SGD":
        return [["momentum"]] if cfg.get("momentum", 0) != 0 else []
    if cls == "Adagrad":
        return [["accumulator"]]
    if cls == "Adadelta":
        return [["accum_grad", "accum_var"]]
    if cls in ("Adamax", "Nadam"):
        return [["m", "v"]]
    if cls == "Ftrl":
        return [["accumulator", "linear"]]
    fail("no Keras 3 slot layout known for optimizer " + cls)


def main(archive, legacy):
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        expect(names == ["metadata.json", "config.json", "model.weights.h5"],
               "members %r" % names)
        expect(all(i.compress_type == zipfile.ZIP_STORED for i in infos),
               "members are not stored uncompressed, as Python's zipfile writes them")
        expect(z.testzip() is None, "a member fails its CRC")
        meta = json.loads(z.read("metadata.json"))
        config = json.loads(z.read("config.json"))
        weights = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")

    expect(set(meta) == {"keras_version", "date_saved"}, "metadata.json keys %r" % list(meta))
    expect(re.fullmatch(r"3\.\d+\.\d+", meta["keras_version"]), "keras_version %r" % meta)
    expect(re.fullmatch(r"\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d", meta["date_saved"]),
           "date_saved %r" % meta)

    h5 = h5py.File(legacy, "r")
    compiled = "training_config" in h5.attrs
    keys = {"module", "class_name", "config", "registered_name", "build_config"}
    if compiled:
        keys.add("compile_config")
    expect(set(config) == keys, "config.json keys %r, expected %r" % (sorted(config), sorted(keys)))
    cls = config["class_name"]
    expect(cls in ("Sequential", "Functional"), "class_name %r" % cls)
    if cls == "Sequential":
        expect(config["module"] == "keras" and config["registered_name"] is None, "Sequential's module")
    else:
        expect(config["module"] == "keras.src.models.functional" and
               config["registered_name"] == "Functional", "Functional's module")
    layers = config["config"]["layers"]
    for entry in layers:
        expect(entry.get("module") == "keras.layers" and "registered_name" in entry,
               "layer entry without Keras 3's module/registered_name: %r" % entry)
    if cls == "Sequential":
        first = layers[0]
        expect(first["class_name"] == "InputLayer", "a Sequential's config starts with its InputLayer")
        expect(config["build_config"] == {"input_shape": first["config"]["batch_shape"]},
               "build_config %r" % config["build_config"])
    else:
        expect(config["build_config"] == {"input_shape": None}, "build_config %r" % config["build_config"])
    legacy_config = json.loads(h5.attrs["model_config"])
    legacy_layers = legacy_config["config"]["layers"]
    expect([(l["class_name"], l["config"]["name"]) for l in layers] ==
           [(l["class_name"], l["config"]["name"]) for l in legacy_layers],
           "the archive's layers differ from the .h5's model_config")

    # The h5 file: every group and dataset Keras 3 writes, nothing else, no attributes.
    expected_groups = {"vars", "layers"}
    expected = {}  # dataset path -> array
    float64_ok = set()
    lr_path = None
    counts = {}
    mw = h5["model_weights"]
    for entry in layers:
        if cls == "Sequential" and entry["class_name"] == "InputLayer":
            continue
        key = snake_case(entry["class_name"])
        k = counts.get(key, -1) + 1
        counts[key] = k
        if k:
            key += "_%d" % k
        expected_groups |= {"layers/" + key, "layers/" + key + "/vars"}
        name = entry["config"]["name"]
        wnames = [n.decode() if isinstance(n, bytes) else n
                  for n in mw[name].attrs["weight_names"]] if name in mw else []
        for i, wn in enumerate(wnames):
            expected["layers/%s/vars/%d" % (key, i)] = mw[name][wn][()]

    if compiled:
        cc = config["compile_config"]
        expect(set(cc) == {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics",
                           "run_eagerly", "steps_per_execution", "jit_compile"},
               "compile_config keys %r" % sorted(cc))
        opt = cc["optimizer"]
        expect(opt.get("module") == "keras.optimizers" and "registered_name" in opt,
               "compile_config.optimizer %r" % opt)
        tc = json.loads(h5.attrs["training_config"])
        expect(tc["optimizer_config"]["class_name"] == opt["class_name"] and
               tc["optimizer_config"]["config"] == opt["config"] and tc["loss"] == cc["loss"] and
               tc["metrics"] == cc["metrics"], "compile_config differs from the .h5's training_config")
        ocls, ocfg = opt["class_name"], opt["config"]
        ow = h5["optimizer_weights"]
        onames = [n.decode() if isinstance(n, bytes) else n for n in ow.attrs["weight_names"]]
        prefix = ocls + "/"
        # Trainable variables in model order: the legacy file's weight names with an m/v/...
        # slot, in the order of their first slot.
        slots = slot_groups(ocls, ocfg)
        first = slots[0][0] if slots else None
        variables = [n[len(prefix):-len("/%s:0" % first)] for n in onames
                     if first and n.endswith("/%s:0" % first)]
        expected_groups |= {"optimizer", "optimizer/vars"}
        values = [ow[prefix + "iter:0"][()]]
        lr = ocfg["learning_rate"]
        if not isinstance(lr, dict):
            lr_path = "optimizer/vars/1"
            values.append(np.float32(lr))
        for group in slots:
            for var in variables:
                for s in group:
                    values.append(ow["%s%s/%s:0" % (prefix, var, s)][()])
        if ocls == "Nadam":
            # u_product, last; kiln keeps it float64 so that a resumed fit continues exactly
            # (Keras assigns it to its float32 variable).
            float64_ok.add("optimizer/vars/%d" % len(values))
            values.append(ow[prefix + "momentum_cache:0"][()])
        for i, v in enumerate(values):
            expected["optimizer/vars/%d" % i] = v

    groups, datasets = set(), {}

    def visit(name, obj):
        expect(len(obj.attrs) == 0, "%s has attributes %r (Keras writes none)" % (name, list(obj.attrs)))
        if isinstance(obj, h5py.Dataset):
            datasets[name] = obj
        else:
            groups.add(name)

    weights.visititems(visit)
    expect(groups == expected_groups, "groups %r, expected %r" % (sorted(groups), sorted(expected_groups)))
    expect(set(datasets) == set(expected),
           "datasets %r, expected %r" % (sorted(datasets), sorted(expected)))
    for path, want in expected.items():
        got = datasets[path]
        if path == "optimizer/vars/0":
            expect(got.dtype == np.int64 and got.shape == (), "%s: iterations as %s%r" % (path, got.dtype, got.shape))
        elif path == lr_path:
            expect(got.dtype == np.float32 and got.shape == (), "%s: learning_rate as %s%r" % (path, got.dtype, got.shape))
        elif path not in float64_ok:
            expect(got.dtype == np.float32, "%s is %s, not float32" % (path, got.dtype))
        expect(got.shape == np.shape(want), "%s has shape %r, expected %r" % (path, got.shape, np.shape(want)))
        expect(np.array_equal(got[()], want), "%s holds other values than the .h5" % path)
    print("ok: %s matches Keras 3's layout (%d groups, %d datasets)" % (archive, len(groups), len(datasets)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
