"""Writes a small IDX data set into DIR for test/tools/kilnc-trainer.test: x.idx.gz (100 gzip
images of shape (6, 6, 2), unsigned bytes) and y.idx (their labels, 0 or 1), and the same data
as kilnc fit reads it: x.npy (bytes / 255, float32) and y.npy (one-hot, float32)."""
import gzip
import struct
import sys

import numpy as np

out = sys.argv[1] + "/"
rng = np.random.default_rng(0)
n = 100
x = rng.integers(0, 256, size=(n, 6, 6, 2), dtype=np.uint8)
labels = rng.integers(0, 2, size=(n,), dtype=np.uint8)


def idx(path, a, compress):
    data = struct.pack(">BBBB", 0, 0, 8, a.ndim) + b"".join(struct.pack(">I", d) for d in a.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data + a.tobytes())


idx(out + "x.idx.gz", x, True)
idx(out + "y.idx", labels, False)
np.save(out + "x.npy", x.astype(np.float32) / np.float32(255))
np.save(out + "y.npy", np.eye(2, dtype=np.float32)[labels])
