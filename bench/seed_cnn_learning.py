#!/usr/bin/env python3
"""Does kiln learn the seed CNN as Keras' recipe does? Trains the seed CNN on all of
Fashion-MNIST (Adam 1e-3, categorical crossentropy, batch 128) with kiln (`kilnc fit`) and
with PyTorch written to Keras' formulas (Keras' Adam with epsilon 1e-7, Keras' crossentropy
clipping, Keras' glorot_uniform/zeros initial weights, NHWC layouts), both from the SAME
initial weights and, with --no-shuffle, the same sample order, and prints each run's
per-epoch training loss and the test accuracy after every epoch.

With identical starting points and order the two runs differ only by float32 rounding, so
their accuracies should agree to a few tenths of a percent; any larger, systematic gap is a
kiln bug. With shuffling each run uses its own RNG, which shows the seed-to-seed spread.

Usage: bench/seed_cnn_learning.py [--kilnc build/bin/kilnc] [--seeds 1,2,3] [--epochs 5]
                                  [--no-shuffle] [--skip-torch] [--skip-kiln]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EPS = 1e-7


def load(split):
    d = os.environ.get("KILN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"

    def read(stem):
        for name in (stem, stem + ".gz"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                return (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
        sys.exit(f"no {stem}(.gz) in {d}")
    prefix = "train" if split == "train" else "t10k"
    raw = read(f"{prefix}-images-idx3-ubyte")
    n = int.from_bytes(raw[4:8], "big")
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 28, 28, 1).astype(np.float32) / np.float32(255)
    y = np.frombuffer(read(f"{prefix}-labels-idx1-ubyte"), np.uint8, offset=8).astype(np.int64)
    return x, np.eye(10, dtype=np.float32)[y]


def glorot(rng, shape):
    field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * field, shape[-1] * field
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


LAYERS = [("conv2d", (3, 3, 1, 32)), ("conv2d_1", (3, 3, 32, 64)),
          ("dense", (1600, 128)), ("dense_1", (128, 10))]


def initial_weights(seed):
    rng = np.random.RandomState(seed)
    return {name: [glorot(rng, shape), np.zeros(shape[-1], np.float32)] for name, shape in LAYERS}


def write_model(d, weights):
    import h5py
    cfg = json.load(open(os.path.join(ROOT, "test/golden/seed_cnn32/model.json")))
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump(cfg, f)
    names = [l["config"]["name"] for l in cfg["config"]["layers"] if l["class_name"] != "InputLayer"]
    with h5py.File(os.path.join(d, "weights.h5"), "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for n in names:
            g = f.create_group(n)
            ws = weights.get(n, [])
            wn = [f"{n}/kernel:0", f"{n}/bias:0"][:len(ws)]
            g.attrs["weight_names"] = [w.encode() for w in wn]
            for name, w in zip(wn, ws):
                g.create_dataset(name, data=w)


def run_kiln(kilnc, weights, xtr, ytr, xte, yte, epochs, shuffle, seed):
    with tempfile.TemporaryDirectory() as d:
        write_model(d, weights)
        for name, a in (("xtr", xtr), ("ytr", ytr), ("xte", xte), ("yte", yte)):
            np.save(os.path.join(d, name + ".npy"), a)
        accs, losses = [], []
        model = ["--config", f"{d}/model.json", "--weights", f"{d}/weights.h5"]
        t0 = time.time()
        for e in range(epochs):
            # One epoch per call, carrying the optimizer state in the saved .h5, so the test
            # accuracy after every epoch is printed; the shuffle seed changes per epoch.
            cmd = [kilnc, "fit", *model, "--x", f"{d}/xtr.npy", "--y", f"{d}/ytr.npy",
                   "--epochs", "1", "--batch-size", "128", "--metrics", "accuracy",
                   "--history", f"{d}/h.csv", "--verbose", "0", "--output", f"{d}/m{e}.h5"]
            if e == 0:
                cmd += ["--optimizer", "adam", "--loss", "categorical_crossentropy"]
            cmd += ["--no-shuffle"] if not shuffle else ["--seed", str(seed * 1000 + e)]
            subprocess.run(cmd, check=True)
            model = [f"{d}/m{e}.h5"]
            lines = open(f"{d}/h.csv").read().split()
            keys, vals = lines[0].split(","), lines[-1].split(",")
            losses.append(float(vals[keys.index("loss")]))
            out = subprocess.run([kilnc, "evaluate", *model, "--x", f"{d}/xte.npy", "--y",
                                  f"{d}/yte.npy", "--batch-size", "500"],
                                 check=True, capture_output=True, text=True).stdout
            accs.append(float([l for l in out.splitlines() if l.startswith("accuracy")][0].split()[-1]))
        return losses, accs, time.time() - t0


def run_torch(weights, xtr, ytr, xte, yte, epochs, shuffle, seed):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    ps = [torch.tensor(w, requires_grad=True) for n, _ in LAYERS for w in weights[n]]
    m = [torch.zeros_like(p) for p in ps]
    v = [torch.zeros_like(p) for p in ps]
    xt, yt = torch.tensor(xtr), torch.tensor(ytr)

    def forward(a):
        k0, b0, k1, b1, k2, b2, k3, b3 = ps
        a = a.permute(0, 3, 1, 2)
        a = F.max_pool2d(torch.relu(F.conv2d(a, k0.permute(3, 2, 0, 1), b0)), 2)
        a = F.max_pool2d(torch.relu(F.conv2d(a, k1.permute(3, 2, 0, 1), b1)), 2)
        a = a.permute(0, 2, 3, 1).reshape(a.shape[0], -1)  # Keras' NHWC flatten order
        a = torch.relu(a @ k2 + b2)
        return torch.softmax(a @ k3 + b3, -1)

    def accuracy():
        with torch.no_grad():
            p = torch.cat([forward(torch.tensor(xte[i:i + 500])) for i in range(0, len(xte), 500)])
        return float((p.argmax(-1) == torch.tensor(yte).argmax(-1)).float().mean())

    rng = np.random.RandomState(seed)
    n, bs, t = len(xtr), 128, 0
    losses, accs, t0 = [], [], time.time()
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total, count = 0.0, 0
        for s in range(0, n, bs):
            idx = torch.tensor(order[s:s + bs])
            yb = yt[idx]
            q = torch.clamp(forward(xt[idx]), EPS, 1 - EPS)
            loss = -(yb * torch.log(q)).sum(-1).mean()
            grads = torch.autograd.grad(loss, ps)
            t += 1
            alpha = 1e-3 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            with torch.no_grad():
                for p_, g_, m_, v_ in zip(ps, grads, m, v):
                    m_ += (g_ - m_) * 0.1
                    v_ += (g_ * g_ - v_) * 0.001
                    p_ -= alpha * m_ / (torch.sqrt(v_) + EPS)
            total += float(loss) * len(idx)
            count += len(idx)
        losses.append(total / count)
        accs.append(accuracy())
    return losses, accs, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kilnc", default=os.path.join(ROOT, "build/bin/kilnc"))
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-kiln", action="store_true")
    a = ap.parse_args()
    xtr, ytr = load("train")
    xte, yte = load("test")
    for seed in (int(s) for s in a.seeds.split(",")):
        w = initial_weights(seed)
        runs = []
        if not a.skip_kiln:
            runs.append(("kiln", run_kiln(a.kilnc, w, xtr, ytr, xte, yte, a.epochs, not a.no_shuffle, seed)))
        if not a.skip_torch:
            runs.append(("torch", run_torch(w, xtr, ytr, xte, yte, a.epochs, not a.no_shuffle, seed)))
        for who, (losses, accs, secs) in runs:
            print(f"seed {seed} {who:5s} shuffle={not a.no_shuffle} "
                  f"loss {' '.join(f'{l:.4f}' for l in losses)}  "
                  f"test acc {' '.join(f'{x:.4f}' for x in accs)}  ({secs:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
