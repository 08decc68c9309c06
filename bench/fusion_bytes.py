#!/usr/bin/env python3
"""Bytes moved with fusion on and off (KILN_NO_FUSION=1), measured by valgrind's cache simulator.

Runs each kiln-bench-model command under `valgrind --tool=callgrind --cache-sim=yes
--instr-atstart=no` (kiln-bench-model switches the instrumentation on around its timed calls,
kiln_bench_timed_calls), so that only the timed calls count (not the compiler, not the warm-up),
once with fusion and once without, and reports per call:

- data refs: loads + stores executed (Dr + Dw);
- L1 -> L2 bytes: (D1mr + D1mw) x 64, the lines the simulated first-level data cache misses;
- beyond-L2 bytes: (DLmr + DLmw) x 64, the lines the simulated second (last) level misses.

valgrind simulates two levels. By default they are this machine's per-core L1d (32 KiB, 8-way)
and L2 (1 MiB, 8-way); what valgrind detects on this VM is a direct-mapped 256 MiB "L3" that
would hold everything, and the 32 MiB L3 is shared by every tenant. The hardware counters
(`perf stat -e cache-misses`) are not exposed in this VM ("<not supported>"), hence the
simulator. Use --threads 1 (valgrind runs threads one at a time anyway) and few --iters: code
runs about 50x slower under the simulator.

  /usr/bin/python3 bench/fusion_bytes.py \\
      "build/bin/kiln-bench-model --model seed_cnn --mode predict --batch 256 --iters 2 --threads 1"

--static MODEL.h5 adds a figure read off the IR: `kilnc compile MODEL.h5 --emit=llvm-dialect
[--no-fusion] --dump-ir-after-all` and, in the IR after one-shot-bufferize, the bytes per sample
of the batch-sized buffers (`memref.alloc(%batch) : memref<?x...>`), that is the intermediates
that predict writes to memory and reads back (each at least once each way); per-image scratch
buffers inside the fused image loops are listed apart (they are reused image after image).
"""
import argparse
import glob
import os
import re
import shlex
import subprocess
import tempfile

EVENTS = ("Dr", "Dw", "D1mr", "D1mw", "DLmr", "DLmw")


def measure(cmd, fusion, tmp, caches):
    env = dict(os.environ)
    env.pop("KILN_NO_FUSION", None)
    if not fusion:
        env["KILN_NO_FUSION"] = "1"
    out = os.path.join(tmp, "callgrind.%s.out" % ("on" if fusion else "off"))
    r = subprocess.run(["valgrind", "--tool=callgrind", "--cache-sim=yes", "--instr-atstart=no"]
                       + caches + ["--callgrind-out-file=" + out]
                       + shlex.split(cmd), env=env, capture_output=True, text=True, check=True)
    calls = len(re.findall(r"^ms=", r.stdout, re.M))
    text = open(out).read()
    names = re.search(r"^events:\s*(.+)$", text, re.M).group(1).split()
    totals = [int(v) for v in re.search(r"^totals:\s*(.+)$", text, re.M).group(1).split()]
    ev = dict(zip(names, totals))
    desc = re.findall(r"^desc: ((?:D1|LL) cache: .*)$", text, re.M)
    return {k: ev.get(k, 0) / calls for k in EVENTS}, calls, desc


def static_bytes(kilnc, model, fusion, tmp):
    d = os.path.join(tmp, "ir.%s" % ("on" if fusion else "off"))
    subprocess.run([kilnc, "compile", model, "--emit=llvm-dialect", "--dump-ir-after-all=" + d,
                    "-o", os.devnull] + ([] if fusion else ["--no-fusion"]),
                   check=True, capture_output=True)
    text = open(glob.glob(os.path.join(d, "*-one-shot-bufferize.mlir"))[0]).read()
    batch, scratch = [], []
    for dims in re.findall(r"memref\.alloc\([^)]+\)[^\n]*?: memref<([^>]*)xf32>", text):
        dims = dims.split("x")
        n = 4
        for v in dims:
            n *= 1 if v == "?" else int(v)
        (batch if "?" in dims else scratch).append(("x".join(dims), n))
    for dims in re.findall(r"memref\.alloc\(\)[^\n]*?: memref<([^>]*)xf32>", text):
        n = 4
        for v in dims.split("x"):
            n *= int(v)
        scratch.append((dims, n))
    return batch, scratch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--D1", default="32768,8,64", help="size,assoc,line (valgrind's --D1)")
    ap.add_argument("--LL", default="1048576,8,64",
                    help="the last simulated level: size,assoc,line (default: this machine's L2)")
    ap.add_argument("--static", metavar="MODEL.h5", help="also count buffers in kilnc's IR")
    ap.add_argument("--kilnc", default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build/bin/kilnc"))
    ap.add_argument("commands", nargs="*")
    args = ap.parse_args()
    caches = ["--I1=32768,8,64", "--D1=" + args.D1, "--LL=" + args.LL]
    tmp = tempfile.mkdtemp(prefix="kiln-fusion-bytes-")
    if args.static:
        tot = {}
        for fusion in (True, False):
            batch, scratch = static_bytes(args.kilnc, args.static, fusion, tmp)
            tot[fusion] = sum(n for _, n in batch)
            print("%s, fusion %s: batch-sized buffers %s = %d bytes per sample; per-image "
                  "scratch %s" % (args.static, "on" if fusion else "off",
                                  " + ".join(d for d, _ in batch), tot[fusion],
                                  ", ".join("%s (%d bytes)" % s for s in scratch) or "none"))
        print("  batch-sized intermediates per sample: fusion on %d bytes, off %d bytes, off/on "
              "%.2f" % (tot[True], tot[False], tot[False] / tot[True]))
    for cmd in args.commands:
        res = {}
        for fusion in (True, False):
            res[fusion], calls, desc = measure(cmd, fusion, tmp, caches)
        print("simulated: " + "; ".join(desc))
        print("%s (per call, %d calls each):" % (cmd, calls))
        rows = (("data refs (Dr+Dw)", lambda e: e["Dr"] + e["Dw"], 1, "M", 1e6),
                ("L1 -> L2 bytes ((D1mr+D1mw) x 64)",
                 lambda e: e["D1mr"] + e["D1mw"], 64, "MB", 1e6),
                ("beyond-L2 bytes ((DLmr+DLmw) x 64)",
                 lambda e: e["DLmr"] + e["DLmw"], 64, "MB", 1e6))
        for name, f, scale, unit, div in rows:
            on, off = f(res[True]) * scale, f(res[False]) * scale
            print("  %-36s fusion on %10.2f %s, off %10.2f %s, off/on %.2f" % (
                name, on / div, unit, off / div, unit, off / on if on else float("nan")))


if __name__ == "__main__":
    main()
