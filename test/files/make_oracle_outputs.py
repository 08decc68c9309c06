#!/usr/bin/python3
"""Replaces the expected outputs of the Keras fixtures with the Keras oracle's predictions.

usage: /usr/bin/python3 test/files/make_oracle_outputs.py ORACLE_DIR

Run after make_keras_files.py. ORACLE_DIR is a copy of ../shared/oracle after `npm ci`
(TensorFlow.js 4.22 layers, Google's port of Keras, with Keras' config rules). For each model
fixture the oracle's h5_to_oracle.py reads the model file (config + weights) and
`node oracle.mjs predict` runs it on the inputs x0, x1, ... of <name>.io.h5; the script checks
that the oracle agrees with the numpy forward pass make_keras_files.py computed (within
1e-5 x max(1, max|y|), so neither can silently drift), then writes the oracle's outputs as
y0, y1, ... of <name>.io.h5 (attribute `source`), and as the .npy copies the lit tests read.
The outputs are committed, so the tests need neither Node.js nor the oracle.
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, "Inputs")

# name of the .io.h5 -> the model file the oracle reads
FIXTURES = {
    "keras2_mlp": "keras2_mlp.h5",
    "keras2_cnn": "keras2_cnn.h5",
    "keras2_functional": "keras2_functional.h5",
    "keras3_functional": "keras3_functional.h5",
    "keras3_mlp": "keras3_mlp.h5",
}
# .npy copies of outputs for the lit tests: file -> (fixture, output index)
NPY_COPIES = {"keras2_mlp.y.npy": ("keras2_mlp", 0)}


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def main(oracle):
    oracle = os.path.abspath(oracle)
    if not os.path.exists(os.path.join(oracle, "node_modules", "@tensorflow", "tfjs")):
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in FIXTURES.items():
            d = os.path.join(tmp, name)
            run(["/usr/bin/python3", os.path.join(oracle, "h5_to_oracle.py"),
                 os.path.join(INPUTS, model), d])
            io_path = os.path.join(INPUTS, name + ".io.h5")
            with h5py.File(io_path, "r") as f:
                xs = [f["x%d" % i][()] for i in range(len([k for k in f if k.startswith("x")]))]
                numpy_ys = [f["y%d" % i][()] for i in range(len([k for k in f if k.startswith("y")]))]
            cmd = ["node", os.path.join(oracle, "oracle.mjs"), "predict", "--model", d, "--quiet"]
            for i, x in enumerate(xs):
                p = os.path.join(tmp, "%s.x%d.npy" % (name, i))
                np.save(p, x.astype(np.float32))
                cmd += ["--x", p]
            out = os.path.join(tmp, name + ".out.npy")
            run(cmd + ["--out", out], cwd=oracle)
            outs = ([out] if len(numpy_ys) == 1 else
                    [out[:-len(".npy")] + "_%d.npy" % i for i in range(len(numpy_ys))])
            ys = [np.load(p).astype(np.float32) for p in outs]
            for i, (y, ref) in enumerate(zip(ys, numpy_ys)):
                if y.shape != ref.shape:
                    sys.exit("%s y%d: the oracle's shape %r, numpy's %r" % (name, i, y.shape, ref.shape))
                err = float(np.abs(y - ref).max())
                bound = 1e-5 * max(1.0, float(np.abs(ref).max()))
                if err > bound:
                    sys.exit("%s y%d: the oracle and numpy differ by %g (bound %g)" % (name, i, err, bound))
                print("%s y%d: oracle vs numpy max difference %.3g" % (name, i, err))
            with h5py.File(io_path, "a") as f:
                for i, y in enumerate(ys):
                    del f["y%d" % i]
                    f.create_dataset("y%d" % i, data=y)
                f.attrs["source"] = ("x: make_keras_files.py; y: the Keras oracle (TensorFlow.js "
                                     "4.22 layers) predict on %s, via make_oracle_outputs.py" % model)
            for npy, (fixture, i) in NPY_COPIES.items():
                if fixture == name:
                    np.save(os.path.join(INPUTS, npy), ys[i])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
