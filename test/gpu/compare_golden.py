"""compare_golden.py DIR LABEL: a GPU run's outputs (DIR/got<i>.npy) against the golden
outputs that DIR/case.json lists, within its atol * max(1, max|y|). Prints one line."""
import json
import os
import sys

import numpy as np

d, label = sys.argv[1], sys.argv[2]
case = json.load(open(os.path.join(d, "case.json")))
atol = float(case["tolerance"]["atol"])
refs = [os.path.join(d, name) for name in case["outputs"]]
ok, parts = True, []
for i, ref_path in enumerate(refs):
    ref = np.load(ref_path).astype(np.float64)
    got = np.load(os.path.join(d, "got%d.npy" % i)).astype(np.float64)
    got = got.reshape(-1)[: ref.size].reshape(ref.shape) if got.size >= ref.size else got
    if got.shape != ref.shape:
        print("FAIL %s: output %d has shape %s, want %s" % (label, i, got.shape, ref.shape))
        sys.exit(1)
    bound = atol * max(1.0, float(np.abs(ref).max()))
    err = float(np.nanmax(np.abs(got - ref))) if not np.isnan(got).any() else float("nan")
    good = err <= bound
    ok = ok and good
    parts.append("y%d %s max|diff| %.3g <= %.3g" % (i, str(ref.shape), err, bound) if good else
                 "y%d %s max|diff| %.3g > %.3g" % (i, str(ref.shape), err, bound))
print("%s %s: %s" % ("PASS" if ok else "FAIL", label, "; ".join(parts)))
sys.exit(0 if ok else 1)
