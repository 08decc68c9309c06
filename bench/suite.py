#!/usr/bin/python3
"""kiln against PyTorch on four models: train and predict throughput, batch-1 latency, peak memory.

Models (bench/BenchModels.h builds the same ones in kiln): seed_cnn, seed_mlp, lstm20
(Embedding(10000,64) - LSTM(64) - Dense(1,sigmoid) on 20 word indices, binary crossentropy;
lstm<steps> for other lengths) and bn_cnn (two Conv2D - BatchNormalization - relu - MaxPool
blocks, then Dense(128) - Dense(10)). All train with Adam(1e-3) on random batches.
Measurements, each in its own process so that its peak memory is its own: `train` steps at
batch 32 and 128 (samples/s), `predict` of one batch of 256 (samples/s) and of one sample
(latency).

  /usr/bin/python3 bench/suite.py --rounds 3 --kiln build/bin/kiln-bench-model \\
      --json suite.json --markdown

- PyTorch (Debian's python3-torch), CPU, torch.set_num_threads(--threads, default 2),
  OPENBLAS_NUM_THREADS=1; for inference, eval mode under no_grad, eager or torch.jit.trace,
  whichever is faster in a short trial in the same process. Training: cross_entropy or
  binary_cross_entropy_with_logits on logits (the same loss as a softmax / sigmoid output and
  Keras' crossentropy), Adam(lr=1e-3, eps=1e-7) as Keras'.
- kiln: `--kiln` (kiln-bench-model) with the same --threads (the train step and predict split
  the batch over that many threads; a model with BatchNormalization trains on one, since its
  batch statistics need the whole batch).
- Rounds interleave: in each round every (model, measurement) runs torch then kiln (kiln first on
  even rounds), so both see the same machine. Reported: each side's median over all timed calls
  of all rounds, the ratio kiln/torch in samples/s (above 1: kiln is faster; for latency,
  torch/kiln), and the peak resident set of the timed calls (VmHWM after a reset through
  /proc/self/clear_refs once the model is compiled or traced and warmed up; the highest over the
  rounds), ratio kiln/torch (below 1: kiln needs less).
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

THREADS = 2  # --threads
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# lstm20, not lstm (80 steps): kiln unrolls the LSTM and its 80-step train step takes more than
# 10 minutes to compile (bench/README.md).
MODELS = ["seed_cnn", "seed_mlp", "lstm20", "bn_cnn"]
# name: (mode, batch, timed calls, warm-up calls)
MEASURES = {"train32": ("train", 32, 20, 3), "train128": ("train", 128, 10, 2),
            "predict256": ("predict", 256, 10, 2), "latency1": ("predict", 1, 300, 30)}


def peak_kib():
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))


def lstm_steps(name):
    """The sequence length of lstm (80) or lstm<steps>, as bench/BenchModels.h; 0 otherwise."""
    if not name.startswith("lstm"):
        return 0
    return int(name[4:]) if len(name) > 4 else 80


def torch_model(name):
    import torch
    nn = torch.nn

    class Cnn(nn.Module):
        def __init__(self, bn):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            # Keras' BatchNormalization: epsilon 1e-3, momentum 0.99 (torch's 0.01).
            self.b1 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01) if bn else nn.Identity()
            self.b2 = nn.BatchNorm2d(64, eps=1e-3, momentum=0.01) if bn else nn.Identity()
            self.d1, self.d2 = nn.Linear(1600, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.b1(self.c1(x))), 2)
            x = torch.max_pool2d(torch.relu(self.b2(self.c2(x))), 2)
            return self.d2(torch.relu(self.d1(torch.flatten(x, 1))))  # logits

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = nn.Linear(784, 128), nn.Linear(128, 10)

        def forward(self, x):
            return self.d2(torch.relu(self.d1(torch.flatten(x, 1))))

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10000, 64)
            self.lstm = nn.LSTM(64, 64, batch_first=True)
            self.out = nn.Linear(64, 1)

        def forward(self, x):
            _, (h, _) = self.lstm(self.emb(x))
            return self.out(h[0])  # logit

    if lstm_steps(name):
        return Lstm()
    return {"seed_cnn": lambda: Cnn(False), "bn_cnn": lambda: Cnn(True), "seed_mlp": Mlp}[name]()


def torch_worker(name, measure, threads):
    """One measurement in this process: prints ms= per timed call, peer= and peak_kib=."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    mode, batch, iters, warmup = MEASURES[measure]
    model = torch_model(name)
    if lstm_steps(name):
        x = torch.randint(0, 10000, (batch, lstm_steps(name)))
        y = torch.randint(0, 2, (batch, 1)).float()
        loss_fn, head = F.binary_cross_entropy_with_logits, torch.sigmoid
    else:
        x = torch.rand(batch, 1, 28, 28)
        y = torch.randint(0, 10, (batch,))
        loss_fn, head = F.cross_entropy, lambda z: torch.softmax(z, -1)
    if mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

        def call():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        peer = "eager"
    else:
        model.eval()
        for w in model.parameters():  # jit.trace keeps the weights as constants
            w.requires_grad_(False)

        def eager(v):
            return head(model(v))
        with torch.no_grad():
            traced = torch.jit.trace(eager, x, check_trace=False)
            fns = {"eager": eager, "jit.trace": traced}
            trial = {}
            for k, fn in fns.items():
                for _ in range(warmup):
                    fn(x)
                ts = []
                for _ in range(max(3, iters // 5)):
                    t0 = time.perf_counter()
                    fn(x)
                    ts.append(time.perf_counter() - t0)
                trial[k] = statistics.median(ts)
        peer = min(trial, key=trial.get)
        fn = fns[peer]

        def call():
            with torch.no_grad():
                fn(x)
    for _ in range(warmup):
        call()
    with_compile = peak_kib()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(iters):
        t0 = time.perf_counter()
        call()
        print("ms=%.4f" % ((time.perf_counter() - t0) * 1e3))
    peak = peak_kib()
    print("peer=%s\npeak_kib=%d\npeak_with_compile_kib=%d" % (peer, peak, max(peak, with_compile)))


def run_peer(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("suite: %s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stderr[-3000:]))
    ms = [float(v) for v in re.findall(r"^ms=([0-9.eE+-]+)$", r.stdout, re.M)]
    peak = int(re.search(r"^peak_kib=(\d+)$", r.stdout, re.M).group(1))
    peer = re.search(r"^peer=(\S+)$", r.stdout, re.M)
    return ms, peak, peer.group(1) if peer else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--measures", default=",".join(MEASURES))
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build/bin/kiln-bench-model"))
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true", help="also print the tables as markdown")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="torch.set_num_threads and kiln's --threads (default %(default)s)")
    ap.add_argument("--worker", nargs=2, metavar=("MODEL", "MEASURE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        torch_worker(*args.worker, args.threads)
        return
    models, measures = args.models.split(","), args.measures.split(",")
    env = dict(os.environ)
    env.pop("KILN_NO_FUSION", None)
    s = {(m, q, p): {"ms": [], "peak": 0, "peer": None}
         for m in models for q in measures for p in ("torch", "kiln")}
    print("threads: %d; load average at start: %s" % (
        args.threads, " ".join(open("/proc/loadavg").read().split()[:3])))
    t_start = time.time()
    for r in range(args.rounds):
        for m in models:
            for q in measures:
                mode, batch, iters, warmup = MEASURES[q]
                cmds = {"torch": [sys.executable, os.path.abspath(__file__), "--worker", m, q,
                                  "--threads", str(args.threads)],
                        "kiln": [args.kiln, "--model", m, "--mode", mode, "--batch", str(batch),
                                 "--iters", str(iters), "--warmup", str(warmup),
                                 "--threads", str(args.threads)]}
                order = ("torch", "kiln") if r % 2 == 0 else ("kiln", "torch")
                line = []
                for p in order:
                    ms, peak, peer = run_peer(cmds[p])
                    e = s[(m, q, p)]
                    e["ms"] += ms
                    e["peak"] = max(e["peak"], peak)
                    e["peer"] = peer or e["peer"]
                    line.append("%s %.3f ms" % (p, statistics.median(ms)))
                print("round %d/%d %s %s: %s" % (r + 1, args.rounds, m, q, ", ".join(line)),
                      flush=True)
    print("load average at end: %s (%.0f s)" % (
        " ".join(open("/proc/loadavg").read().split()[:3]), time.time() - t_start))

    report = {}
    for m in models:
        for q in measures:
            batch = MEASURES[q][1]
            t, k = s[(m, q, "torch")], s[(m, q, "kiln")]
            tm, km = statistics.median(t["ms"]), statistics.median(k["ms"])
            report["%s/%s" % (m, q)] = {
                "torch_ms": tm, "kiln_ms": km, "torch_peer": t["peer"],
                "torch_samples_per_s": batch * 1e3 / tm, "kiln_samples_per_s": batch * 1e3 / km,
                "ratio_kiln_over_torch_samples_per_s": tm / km,
                "torch_peak_kib": t["peak"], "kiln_peak_kib": k["peak"],
                "torch_ms_all": t["ms"], "kiln_ms_all": k["ms"]}
    rows = []
    for m in models:
        row = [m]
        for q in measures:
            e = report["%s/%s" % (m, q)]
            if q.startswith("latency"):
                row.append("%.0f us / %.0f us (%s) = %.2f" % (
                    e["kiln_ms"] * 1e3, e["torch_ms"] * 1e3, e["torch_peer"],
                    e["ratio_kiln_over_torch_samples_per_s"]))
            else:
                row.append("%.0f / %.0f%s = %.2f" % (
                    e["kiln_samples_per_s"], e["torch_samples_per_s"],
                    " (%s)" % e["torch_peer"] if e["torch_peer"] != "eager" else "",
                    e["ratio_kiln_over_torch_samples_per_s"]))
        rows.append(row)
    head = ["model"] + ["%s kiln / torch%s" % (q, " (latency)" if q.startswith("latency")
                                                else " samples/s") for q in measures]
    print("\nthroughput: kiln / torch = ratio (above 1: kiln is faster; latency: torch/kiln)")
    for row in rows:
        print("  " + "; ".join("%s %s" % (h, c) for h, c in zip(head, row)))
    mem_rows = []
    for m in models:
        row = [m]
        for q in measures:
            e = report["%s/%s" % (m, q)]
            row.append("%.0f / %.0f MiB = %.2f" % (e["kiln_peak_kib"] / 1024,
                                                   e["torch_peak_kib"] / 1024,
                                                   e["kiln_peak_kib"] / e["torch_peak_kib"]))
        mem_rows.append(row)
    print("peak resident set of the timed calls: kiln / torch = ratio (below 1: kiln needs less)")
    for row in mem_rows:
        print("  " + "; ".join("%s %s" % (h, c) for h, c in zip(["model"] + measures, row)))
    if args.markdown:
        for title, hs, rs in (("samples/s (latency: us)", head, rows),
                              ("peak memory", ["model"] + measures, mem_rows)):
            print("\n%s\n\n| %s |\n|%s" % (title, " | ".join(hs),
                                             " --- |" + " ---: |" * (len(hs) - 1)))
            for row in rs:
                print("| %s |" % " | ".join(row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
