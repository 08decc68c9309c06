#!/usr/bin/env python3
"""Ahead-of-time figures for the seed CNN and the seed MLP: kilnc compile time, object and
predict-binary sizes, the batch-1 workspace, and batch-1 latency of the object called from plain
C (bench/EmbedLatency.c, built with `cc` alone) next to PyTorch's on the same machine.

PyTorch runs with torch.set_num_threads(2) and OPENBLAS_NUM_THREADS=1, eager and jit.trace
(the faster is the peer), under no_grad. Rounds interleave: --calls torch calls, then one run of
the C program making --calls kiln calls. Reported: torch's median over all its calls, kiln's
median of the rounds' medians, and the ratio torch/kiln (above 1: kiln's latency is lower).

  /usr/bin/python3 bench/aot_latency.py --rounds 5 --calls 2000 --kilnc build/bin/kilnc \\
      --make-model build/bin/kiln-embed-make-model
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(2)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def seed_mlp_dir(out):
    """A golden-style directory (Keras config + oracle weight manifest) for the seed MLP."""
    d = os.path.join(out, "seed_mlp_src")
    os.makedirs(os.path.join(d, "weights"), exist_ok=True)
    layers = [{"class_name": "InputLayer",
               "config": {"batch_input_shape": [None, 28, 28, 1], "dtype": "float32",
                          "name": "input_1"}},
              {"class_name": "Flatten", "config": {"name": "flatten"}},
              {"class_name": "Dense", "config": {"name": "dense", "units": 128,
                                                 "activation": "relu", "use_bias": True}},
              {"class_name": "Dense", "config": {"name": "dense_1", "units": 10,
                                                 "activation": "softmax", "use_bias": True}}]
    json.dump({"class_name": "Sequential", "config": {"name": "seed_mlp", "layers": layers}},
              open(os.path.join(d, "model.json"), "w"))
    rng = np.random.default_rng(7)
    manifest = {"format": "keras-oracle-weights-v1", "layers": []}
    for name, shape in (("dense", (784, 128)), ("dense_1", (128, 10))):
        entries = []
        for i, s in enumerate((shape, shape[1:])):
            f = "%s_%d.npy" % (name, i)
            np.save(os.path.join(d, "weights", f),
                    rng.uniform(-0.1, 0.1, s).astype(np.float32))
            entries.append({"name": "%s/%s:0" % (name, ("kernel", "bias")[i]),
                            "shape": list(s), "dtype": "float32", "file": f})
        manifest["layers"].append({"name": name, "weights": entries})
    json.dump(manifest, open(os.path.join(d, "weights", "manifest.json"), "w"))
    return d


def torch_model(kind, d):
    """The same architecture and weights in PyTorch (NCHW; Keras' flatten order restored)."""
    man = json.load(open(os.path.join(d, "weights", "manifest.json")))
    w = [torch.from_numpy(np.load(os.path.join(d, "weights", e["file"])))
         for layer in man["layers"] for e in layer["weights"]]
    if kind == "mlp":
        def f(x):  # x: (1, 1, 28, 28); Keras flattens (h, w, c) = (h, w) here (c = 1)
            h = torch.relu(x.reshape(1, 784) @ w[0] + w[1])
            return torch.softmax(h @ w[2] + w[3], -1)
        return f
    k1, b1, k2, b2, d1, c1, d2, c2 = w
    k1, k2 = k1.permute(3, 2, 0, 1).contiguous(), k2.permute(3, 2, 0, 1).contiguous()
    # Keras flattens (5, 5, 64) as h, w, c; NCHW flattens c, h, w: reorder the Dense rows.
    d1 = d1.reshape(5, 5, 64, 128).permute(2, 0, 1, 3).reshape(1600, 128).contiguous()

    def f(x):
        x = F.max_pool2d(torch.relu(F.conv2d(x, k1, b1)), 2)
        x = F.max_pool2d(torch.relu(F.conv2d(x, k2, b2)), 2)
        x = torch.relu(torch.flatten(x, 1) @ d1 + c1)
        return torch.softmax(x @ d2 + c2, -1)
    return f


def time_torch(fn, x, calls):
    out = []
    with torch.no_grad():
        for _ in range(50):
            fn(x)
        for _ in range(calls):
            t0 = time.perf_counter()
            fn(x)
            out.append((time.perf_counter() - t0) * 1e6)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--kilnc", default=os.path.join(ROOT, "build/bin/kilnc"))
    ap.add_argument("--make-model", default=os.path.join(ROOT, "build/bin/kiln-embed-make-model"))
    ap.add_argument("--cc", default="cc")
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="kiln-aot-bench-")
    models = {"cnn": os.path.join(ROOT, "test/golden/seed_cnn32"), "mlp": seed_mlp_dir(out)}
    report = {}
    for kind, src in models.items():
        d = os.path.join(out, kind)
        os.makedirs(d)
        subprocess.run([args.make_model, src, d, "1"], check=True, capture_output=True)
        h5 = os.path.join(d, "model.h5")
        compile_s = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([args.kilnc, "compile", h5, "--emit=obj", "-o",
                            os.path.join(d, "model.o"), "--header", os.path.join(d, "model.h"),
                            "--prefix", "model"], check=True)
            compile_s.append(time.perf_counter() - t0)
        subprocess.run([args.kilnc, "compile", h5, "--emit=exe", "-o",
                        os.path.join(d, "predict")], check=True)
        exe = os.path.join(d, "embed_latency")
        subprocess.run([args.cc, "-std=c99", "-O2", "-I", d, os.path.join(HERE, "EmbedLatency.c"),
                        os.path.join(d, "model.o"), "-lm", "-o", exe], check=True)
        header = open(os.path.join(d, "model.h")).read()
        ws = int(re.search(r"MODEL_WORKSPACE_BYTES_BATCH1 (\d+)", header).group(1))
        fn = torch_model(kind, src)
        x = torch.rand(1, 1, 28, 28)
        traced = torch.jit.trace(fn, x, check_trace=False)
        peers = {"eager": fn, "jit.trace": traced}
        best = min(peers, key=lambda k: statistics.median(time_torch(peers[k], x, 500)))
        torch_us, kiln_us = [], []
        for _ in range(args.rounds):
            torch_us += time_torch(peers[best], x, args.calls)
            line = subprocess.run([exe, str(args.calls)], check=True, capture_output=True,
                                  text=True).stdout
            kiln_us.append(float(re.search(r"us_median=([0-9.]+)", line).group(1)))
        r = {"compile_s_median": statistics.median(compile_s),
             "object_bytes": os.path.getsize(os.path.join(d, "model.o")),
             "binary_bytes": os.path.getsize(os.path.join(d, "predict")),
             "workspace_batch1_bytes": ws, "torch_peer": best,
             "torch_us": statistics.median(torch_us), "kiln_us": statistics.median(kiln_us)}
        r["ratio"] = r["torch_us"] / r["kiln_us"]
        report[kind] = r
        print("seed %s: kilnc compile %.2f s; object %d bytes; predict binary %d bytes; "
              "workspace (batch 1) %d bytes; batch-1 latency kiln %.2f us, torch (%s, 2 "
              "threads) %.2f us; torch/kiln %.1f" % (
                  kind.upper(), r["compile_s_median"], r["object_bytes"], r["binary_bytes"], ws,
                  r["kiln_us"], best, r["torch_us"], r["ratio"]))
        sys.stdout.flush()
    json.dump(report, open(os.path.join(out, "report.json"), "w"), indent=1)
    print("files and report.json in", out)


if __name__ == "__main__":
    main()
