#!/usr/bin/env python3
"""kiln's matmul against OpenBLAS (numpy) and PyTorch at M x N x K (1024^3 by default).

One thread each (kiln's kernels run on the calling thread; OPENBLAS_NUM_THREADS=1 and
torch.set_num_threads(1) are set before the imports), interleaved round by round: each round
times --iters numpy calls, --iters torch calls, then one run of kiln-bench-sgemm. Prints
medians, GFLOP/s and kiln's share of each peer's GFLOP/s (the issue's target: 70% of OpenBLAS).

  /usr/bin/python3 bench/sgemm.py --rounds 5 --iters 10 --kiln build/bin/kiln-bench-sgemm
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
import argparse
import re
import statistics
import subprocess
import time

import numpy as np
import torch

torch.set_num_threads(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--kiln", default="build/bin/kiln-bench-sgemm")
    args = ap.parse_args()
    s = args.size
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (s, s)).astype(np.float32)
    b = rng.uniform(-1, 1, (s, s)).astype(np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    times = {"openblas": [], "torch": [], "kiln": []}
    for _ in range(args.rounds):
        for name, fn in (("openblas", lambda: a @ b), ("torch", lambda: torch.mm(ta, tb))):
            fn()
            for _ in range(args.iters):
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
        out = subprocess.run([args.kiln, "--m", str(s), "--n", str(s), "--k", str(s),
                              "--iters", str(args.iters)], capture_output=True, text=True,
                             check=True).stdout
        times["kiln"] += [float(x) for x in re.findall(r"^ms=([0-9.eE+-]+)$", out, re.M)]
    flop = 2.0 * s * s * s
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print("%-8s %8.3f ms  %6.1f GFLOP/s" % (k, v, flop / (v * 1e6)))
    print("kiln/openblas %.2f, kiln/torch %.2f (in GFLOP/s; above 1: kiln faster)"
          % (med["openblas"] / med["kiln"], med["torch"] / med["kiln"]))


if __name__ == "__main__":
    main()
