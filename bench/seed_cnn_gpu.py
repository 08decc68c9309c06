#!/usr/bin/env python3
"""Seed CNN on the GPU: kiln against PyTorch (eager, torch.compile) and JAX (jit), interleaved.

Training: one optimizer step (Adam 1e-3, categorical crossentropy) per batch on random 28x28x1
images with one-hot labels, at each --train-batches size; predict: one forward pass per batch at
each --predict-batches size (batch 1 is the latency figure). Each round times --iters steps of
every peer in turn (torch, jax, then the kiln command, which prints one `ms=<float>` per step),
so all see the same machine state. Every step ends with the peer's own synchronization (torch:
cuda.synchronize; jax: block_until_ready; kiln: its outputs are back on the host). The report
gives medians in ms and samples/s and the ratio kiln/peer in samples/s (above 1: kiln faster).

  python3 bench/seed_cnn_gpu.py --rounds 3 --iters 20 \\
      --kiln-train "build/bin/kiln-bench-train-step --device gpu --batch {batch} --iters {iters}"
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time


def torch_peer(compile_mode=None):
    """PyTorch eager, or with torch.compile(mode=compile_mode) ("default", "reduce-overhead")
    on the model (forward and backward; the Adam step stays eager, fused by torch itself).
    Compiled models are kept per batch size, so compiling happens in the first warm-up."""
    import torch
    import torch.nn.functional as F

    class SeedCnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 32, 3)
            self.c2 = torch.nn.Conv2d(32, 64, 3)
            self.d1 = torch.nn.Linear(1600, 128)
            self.d2 = torch.nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(torch.relu(self.c1(x)), 2)
            x = F.max_pool2d(torch.relu(self.c2(x)), 2)
            return self.d2(torch.relu(self.d1(torch.flatten(x, 1))))

    cache = {}

    def compiled(model):
        if compile_mode is None:
            return model
        return torch.compile(model, mode=None if compile_mode == "default" else compile_mode)

    def train(batch, iters, warmup=5):
        if ("train", batch) not in cache:
            torch.manual_seed(0)
            model = SeedCnn().cuda()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
            x = torch.rand(batch, 1, 28, 28, device="cuda")
            y = torch.randint(0, 10, (batch,), device="cuda")
            cache[("train", batch)] = (compiled(model), opt, x, y)
        model, opt, x, y = cache[("train", batch)]
        times = []
        for i in range(warmup + iters):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        return times

    def predict(batch, iters, warmup=5):
        if ("predict", batch) not in cache:
            torch.manual_seed(0)
            model = SeedCnn().cuda().eval()
            x = torch.rand(batch, 1, 28, 28, device="cuda")
            cache[("predict", batch)] = (compiled(model), x)
        model, x = cache[("predict", batch)]
        times = []
        with torch.no_grad():
            for i in range(warmup + iters):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                torch.softmax(model(x), -1)
                torch.cuda.synchronize()
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
        return times
    return train, predict


def jax_peer():
    import jax
    import jax.numpy as jnp

    def init(key):
        ks = jax.random.split(key, 4)
        g = jax.nn.initializers.glorot_uniform()
        return [g(ks[0], (3, 3, 1, 32)), jnp.zeros(32), g(ks[1], (3, 3, 32, 64)), jnp.zeros(64),
                g(ks[2], (1600, 128)), jnp.zeros(128), g(ks[3], (128, 10)), jnp.zeros(10)]

    def forward(p, x):
        dn = ("NHWC", "HWIO", "NHWC")
        pool = lambda a: jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        a = pool(jax.nn.relu(jax.lax.conv_general_dilated(x, p[0], (1, 1), "VALID", dimension_numbers=dn) + p[1]))
        a = pool(jax.nn.relu(jax.lax.conv_general_dilated(a, p[2], (1, 1), "VALID", dimension_numbers=dn) + p[3]))
        a = jax.nn.relu(a.reshape(a.shape[0], -1) @ p[4] + p[5])
        return a @ p[6] + p[7]

    def loss(p, x, y):
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(forward(p, x)), -1))

    @jax.jit
    def step(p, m, v, t, x, y):
        g = jax.grad(loss)(p, x, y)
        t = t + 1
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g)]
        v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v, g)]
        a = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        p = [pi - a * mi / (jnp.sqrt(vi) + 1e-7) for pi, mi, vi in zip(p, m, v)]
        return p, m, v, t

    fwd = jax.jit(lambda p, x: jax.nn.softmax(forward(p, x), -1))

    def train(batch, iters, warmup=5):
        p = init(jax.random.PRNGKey(0))
        m = [jnp.zeros_like(a) for a in p]
        v = [jnp.zeros_like(a) for a in p]
        t = jnp.zeros((), jnp.float32)
        x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 28, 28, 1))
        y = jax.nn.one_hot(jax.random.randint(jax.random.PRNGKey(2), (batch,), 0, 10), 10)
        times = []
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            p, m, v, t = step(p, m, v, t, x, y)
            jax.block_until_ready(p)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        return times

    def predict(batch, iters, warmup=5):
        p = init(jax.random.PRNGKey(0))
        x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 28, 28, 1))
        times = []
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            jax.block_until_ready(fwd(p, x))
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        return times
    return train, predict


def kiln_steps(cmd, batch, iters):
    line = cmd.format(batch=batch, iters=iters)
    r = subprocess.run(shlex.split(line), capture_output=True, text=True)
    ms = [float(l.split("=", 1)[1]) for l in r.stdout.splitlines() if l.startswith("ms=")]
    if r.returncode or not ms:
        print(f"seed_cnn_gpu: kiln failed ({r.returncode}): {line}\n{r.stdout[-1500:]}{r.stderr[-1500:]}",
              file=sys.stderr)
        return None
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--train-batches", default="32,128,1024")
    ap.add_argument("--predict-batches", default="1,256,4096")
    ap.add_argument("--kiln-train", help="command with {batch} and {iters}; prints ms= lines")
    ap.add_argument("--kiln-predict", help="command with {batch} and {iters}; prints ms= lines")
    ap.add_argument("--torch-compile", default="",
                    help="torch.compile modes to add as peers, e.g. default,reduce-overhead")
    ap.add_argument("--json")
    a = ap.parse_args()
    peers = {}
    makers = [("torch", torch_peer)]
    for mode in (m for m in a.torch_compile.split(",") if m):
        makers.append((f"torch.compile({mode})", lambda mode=mode: torch_peer(mode)))
    makers.append(("jax", jax_peer))
    for name, make in makers:
        try:
            peers[name] = make()
        except Exception as e:  # a peer that is not installed is reported, not fatal
            print(f"seed_cnn_gpu: no {name}: {e}", file=sys.stderr)
    results = {}
    for kind, batches, cmd in (("train", a.train_batches, a.kiln_train),
                               ("predict", a.predict_batches, a.kiln_predict)):
        for batch in (int(b) for b in batches.split(",") if b):
            times = {}
            for r in range(a.rounds):
                for name, (train, predict) in peers.items():
                    times.setdefault(name, []).extend((train if kind == "train" else predict)(batch, a.iters))
                if cmd:
                    k = kiln_steps(cmd, batch, a.iters)
                    if k:
                        times.setdefault("kiln", []).extend(k)
            res = {n: {"ms": statistics.median(t), "samples_per_s": batch * 1e3 / statistics.median(t)}
                   for n, t in times.items()}
            line = f"{kind} batch {batch}: " + ", ".join(
                f"{n} {r['ms']:.3f} ms ({r['samples_per_s']:.0f}/s)" for n, r in res.items())
            if "kiln" in res:
                line += "; kiln/" + ", kiln/".join(
                    f"{n} {res['kiln']['samples_per_s'] / r['samples_per_s']:.2f}"
                    for n, r in res.items() if n != "kiln")
            print(line, flush=True)
            results[f"{kind}_{batch}"] = res
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
