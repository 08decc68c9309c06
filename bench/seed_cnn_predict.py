#!/usr/bin/python3
"""Seed CNN predict throughput: PyTorch (CPU, 2 threads) against a kiln command, interleaved.

The model is the seed CNN of test/golden/seed_cnn32 (Conv2D(32,3x3,relu) - MaxPool(2) -
Conv2D(64,3x3,relu) - MaxPool(2) - Flatten - Dense(128,relu) - Dense(10,softmax)) with that
case's weights, converted from Keras' NHWC layout to PyTorch's NCHW. Inputs are the first
Fashion-MNIST test images / 255.

Each round times `--iters` torch predict calls on one batch, then runs the kiln command once,
which times its own `--iters` calls and prints one `ms=<float>` line per call. Rounds alternate
so that both peers see the same machine state. The report gives each peer's median ms per batch
over all rounds and the ratio torch/kiln (above 1: kiln is faster).

  /usr/bin/python3 bench/seed_cnn_predict.py --rounds 5 --iters 20 --batch 256 --json out.json \
      --kiln-cmd "build/bin/kiln-bench-seed-cnn --batch {batch} --iters {iters}"

Without --kiln-cmd only torch runs. Torch runs eager and torch.jit.trace'd; the faster is kept.
Torch's output on the 10000 images is checked against the golden y.npy (max abs diff printed).
"""
import os

# Before numpy/torch load: one BLAS thread, torch's own pool gets the 2 cores.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 2


def fashion_mnist_test(count):
    d = os.environ.get("KILN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
            imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols, 1)
            return imgs[:count].astype(np.float32) / np.float32(255.0)
    sys.exit(f"seed_cnn_predict: no Fashion-MNIST t10k images in {d} "
             "(apt-get install dataset-fashion-mnist, or set KILN_FASHION_MNIST_DIR)")


class SeedCnn(torch.nn.Module):
    def __init__(self, golden):
        super().__init__()
        with open(os.path.join(golden, "case.json")) as fh:
            case = json.load(fh)
        w = {l["name"]: [np.load(os.path.join(golden, f)) for f in l["weights"]]
             for l in case["layers"] if l["weights"]}
        k1, b1 = w["conv2d"]
        k2, b2 = w["conv2d_1"]
        d1, c1 = w["dense"]
        d2, c2 = w["dense_1"]
        self.conv1 = torch.nn.Conv2d(k1.shape[2], k1.shape[3], k1.shape[:2])
        self.conv2 = torch.nn.Conv2d(k2.shape[2], k2.shape[3], k2.shape[:2])
        self.fc1 = torch.nn.Linear(d1.shape[0], d1.shape[1])
        self.fc2 = torch.nn.Linear(d2.shape[0], d2.shape[1])
        # Keras kernels (kh, kw, in, out) -> torch (out, in, kh, kw); Dense (in, out) -> (out, in).
        self.conv1.weight.data = torch.from_numpy(np.ascontiguousarray(k1.transpose(3, 2, 0, 1)))
        self.conv2.weight.data = torch.from_numpy(np.ascontiguousarray(k2.transpose(3, 2, 0, 1)))
        self.conv1.bias.data = torch.from_numpy(b1)
        self.conv2.bias.data = torch.from_numpy(b2)
        # Keras flattens (h, w, c); NCHW flattens (c, h, w): reorder the first Dense's rows once.
        c = k2.shape[3]
        hw = int(round((d1.shape[0] // c) ** 0.5))
        d1 = d1.reshape(hw, hw, c, -1).transpose(2, 0, 1, 3).reshape(d1.shape[0], -1)
        self.fc1.weight.data = torch.from_numpy(np.ascontiguousarray(d1.T))
        self.fc1.bias.data = torch.from_numpy(c1)
        self.fc2.weight.data = torch.from_numpy(np.ascontiguousarray(d2.T))
        self.fc2.bias.data = torch.from_numpy(c2)

    def forward(self, x):  # x: NCHW
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(x.flatten(1)))
        return torch.softmax(self.fc2(x), dim=1)


def time_calls(fn, x, iters):
    out = []
    with torch.inference_mode():
        for _ in range(iters):
            t0 = time.perf_counter()
            fn(x)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def run_kiln(cmd, batch, iters):
    line = cmd.format(batch=batch, iters=iters)
    r = subprocess.run(shlex.split(line), capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"seed_cnn_predict: kiln command failed ({r.returncode}): {line}\n{r.stderr[-2000:]}")
    ms = [float(l.split("=", 1)[1]) for l in r.stdout.splitlines() if l.startswith("ms=")]
    if not ms:
        sys.exit(f"seed_cnn_predict: kiln command printed no ms= lines: {line}\n{r.stdout[-2000:]}")
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=3, help="untimed torch calls per round")
    ap.add_argument("--kiln-cmd", help="command with {batch} and {iters}; prints ms=<float> lines")
    ap.add_argument("--golden", default=os.path.join(ROOT, "test", "golden", "seed_cnn32"))
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()

    torch.set_num_threads(THREADS)
    model = SeedCnn(a.golden).eval()
    images = fashion_mnist_test(10000)
    x_all = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))

    golden_y = np.load(os.path.join(a.golden, "y.npy"))
    with torch.inference_mode():
        y = torch.cat([model(x_all[i:i + 1000]) for i in range(0, len(x_all), 1000)]).numpy()
    diff = float(np.abs(y.astype(np.float64) - golden_y[:len(y)]).max())
    print(f"torch vs golden y.npy ({len(y)} images): max abs diff {diff:.3g}")

    reps = -(-a.batch // len(x_all))
    x = x_all.repeat(reps, 1, 1, 1)[:a.batch].contiguous()
    with torch.inference_mode():
        traced = torch.jit.trace(model, x)
        for _ in range(a.warmup + 2):
            model(x)
            traced(x)
    eager_ms = statistics.median(time_calls(model, x, max(5, a.iters // 2)))
    traced_ms = statistics.median(time_calls(traced, x, max(5, a.iters // 2)))
    mode, fn = ("jit.trace", traced) if traced_ms < eager_ms else ("eager", model)
    print(f"torch eager {eager_ms:.2f} ms, jit.trace {traced_ms:.2f} ms per batch: using {mode}")

    torch_ms, kiln_ms = [], []
    for r in range(a.rounds):
        time_calls(fn, x, a.warmup)
        t = time_calls(fn, x, a.iters)
        torch_ms += t
        line = f"round {r + 1}/{a.rounds}: torch {statistics.median(t):.2f} ms"
        if a.kiln_cmd:
            k = run_kiln(a.kiln_cmd, a.batch, a.iters)
            kiln_ms += k
            line += f", kiln {statistics.median(k):.2f} ms"
        print(line, flush=True)

    result = {"model": "seed_cnn32", "batch": a.batch, "iters": a.iters, "rounds": a.rounds,
              "threads": THREADS, "torch_version": torch.__version__,
              "max_abs_diff_torch_vs_golden": diff,
              "torch": {"mode": mode, "median_ms": statistics.median(torch_ms), "ms": torch_ms}}
    print(f"torch ({mode}): median {result['torch']['median_ms']:.2f} ms per batch of {a.batch}")
    if a.kiln_cmd:
        result["kiln"] = {"cmd": a.kiln_cmd, "median_ms": statistics.median(kiln_ms), "ms": kiln_ms}
        result["ratio_torch_over_kiln"] = result["torch"]["median_ms"] / result["kiln"]["median_ms"]
        print(f"kiln: median {result['kiln']['median_ms']:.2f} ms per batch of {a.batch}")
        print(f"ratio torch/kiln: {result['ratio_torch_over_kiln']:.3f} (above 1: kiln faster)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
