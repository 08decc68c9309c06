#!/usr/bin/python3
"""Seed CNN training throughput: PyTorch (CPU, 2 threads) against kiln, interleaved.

Both train the seed CNN (Conv2D(32,3x3,relu) - MaxPool(2) - Conv2D(64,3x3,relu) - MaxPool(2) -
Flatten - Dense(128,relu) - Dense(10,softmax)) with Adam(1e-3) and categorical crossentropy on
random 28x28x1 images with one-hot labels, one optimizer step per batch. Each round times
`--iters` torch steps, then runs the kiln command, which times its own `--iters` steps and prints
one `ms=<float>` line per step. Rounds alternate so both peers see the same machine state. The
report gives each peer's median ms per step and samples/s for every batch size, and the ratio
kiln/torch in samples/s (above 1: kiln is faster).

  /usr/bin/python3 bench/seed_cnn_train.py --rounds 3 --iters 10 --batches 32,128 \\
      --kiln-cmd "build/bin/kiln-bench-train-step --batch {batch} --iters {iters}"
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

THREADS = 2


class SeedCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 32, 3)
        self.c2 = torch.nn.Conv2d(32, 64, 3)
        self.d1 = torch.nn.Linear(1600, 128)
        self.d2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
        x = torch.relu(self.d1(torch.flatten(x, 1)))
        return self.d2(x)  # logits: cross_entropy applies log_softmax, as Keras does


def torch_steps(batch, iters, warmup=5):
    torch.manual_seed(0)
    model = SeedCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def kiln_steps(cmd, batch, iters):
    line = cmd.format(batch=batch, iters=iters)
    r = subprocess.run(shlex.split(line), capture_output=True, text=True, check=True)
    ms = [float(l.split("=", 1)[1]) for l in r.stdout.splitlines() if l.startswith("ms=")]
    if not ms:
        sys.exit(f"seed_cnn_train: kiln printed no ms= lines: {line}\n{r.stdout[-2000:]}")
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--kiln-cmd")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    results = {}
    for batch in [int(b) for b in args.batches.split(",")]:
        tt, kt = [], []
        for r in range(args.rounds):
            t = torch_steps(batch, args.iters)
            tt += t
            line = f"batch {batch} round {r + 1}/{args.rounds}: torch {statistics.median(t):.1f} ms"
            if args.kiln_cmd:
                k = kiln_steps(args.kiln_cmd, batch, args.iters)
                kt += k
                line += f", kiln {statistics.median(k):.1f} ms"
            print(line, flush=True)
        res = {"torch_ms": statistics.median(tt), "torch_samples_per_s": batch * 1e3 / statistics.median(tt)}
        if kt:
            res["kiln_ms"] = statistics.median(kt)
            res["kiln_samples_per_s"] = batch * 1e3 / res["kiln_ms"]
            res["ratio_kiln_over_torch"] = res["kiln_samples_per_s"] / res["torch_samples_per_s"]
        results[batch] = res
        msg = f"batch {batch}: torch {res['torch_ms']:.1f} ms/step ({res['torch_samples_per_s']:.0f} samples/s)"
        if kt:
            msg += (f", kiln {res['kiln_ms']:.1f} ms/step ({res['kiln_samples_per_s']:.0f} samples/s),"
                    f" kiln/torch {res['ratio_kiln_over_torch']:.2f}")
        print(msg, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
