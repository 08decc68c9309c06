#!/usr/bin/env python3
"""Fusion on against fusion off (KILN_NO_FUSION=1), interleaved round by round.

Each round runs every command once with fusion and once without (in alternating order), each
printing one `ms=<float>` line per timed call; the report gives each side's median over all
calls and the ratio off/on (above 1: fusion is faster).

  /usr/bin/python3 bench/fusion_on_off.py --rounds 5 \\
      "build/bin/kiln-bench-train-step --batch 128 --iters 10" \\
      "build/bin/kiln-bench-seed-cnn --batch 256 --iters 10"
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess


def run(cmd, fusion):
    env = dict(os.environ)
    env.pop("KILN_NO_FUSION", None)
    if not fusion:
        env["KILN_NO_FUSION"] = "1"
    out = subprocess.run(shlex.split(cmd), env=env, capture_output=True, text=True, check=True)
    return [float(m) for m in re.findall(r"^ms=([0-9.eE+-]+)$", out.stdout, re.M)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("commands", nargs="+")
    args = ap.parse_args()
    samples = {c: {True: [], False: []} for c in args.commands}
    for r in range(args.rounds):
        for c in args.commands:
            for fusion in ((True, False) if r % 2 == 0 else (False, True)):
                samples[c][fusion] += run(c, fusion)
    for c in args.commands:
        on = statistics.median(samples[c][True])
        off = statistics.median(samples[c][False])
        print("%s: fusion on %.3f ms, off %.3f ms (median of %d calls each); off/on %.2f"
              % (c, on, off, len(samples[c][True]), off / on))


if __name__ == "__main__":
    main()
