"""Checks that two Keras .h5 files hold the same datasets, bit for bit, and the same root
attributes: a standalone trainer's output against kilnc fit's (test/tools/kilnc-trainer.test)."""
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
da, db = datasets(a), datasets(b)
assert sorted(da) == sorted(db), (sorted(da), sorted(db))
for k in da:
    x, y = np.asarray(da[k]), np.asarray(db[k])
    assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), (k, x, y)
for k in ("model_config", "training_config", "keras_version", "backend"):
    assert a.attrs.get(k) == b.attrs.get(k), (k, a.attrs.get(k), b.attrs.get(k))
print("same: %d datasets" % len(da))
