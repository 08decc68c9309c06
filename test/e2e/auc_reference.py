#!/usr/bin/env python3
"""Expected values of MetricsTest.cpp's AUC cases.

A numpy transcription of Keras 3's AUC (keras/src/metrics/confusion_metrics.py: the threshold
placement in __init__, result() and interpolate_pr_auc()), with the confusion counts of
metrics_utils.update_confusion_matrix_variables: a prediction is positive at a threshold when it
is strictly greater than it (float32 thresholds and predictions). Run: python3 auc_reference.py
"""
import numpy as np


def div_no_nan(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b != 0)
    return out


def counts(y, p, n):
    thr = np.array([0 - 1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7],
                   dtype=np.float32)
    p = np.asarray(p, np.float32).reshape(-1)
    y = np.asarray(y, float).reshape(-1)
    pos = p[None, :] > thr[:, None]
    return (pos * y).sum(1), (pos * (1 - y)).sum(1), (~pos * y).sum(1), (~pos * (1 - y)).sum(1)


def auc(y, p, n=200, curve="ROC", method="interpolation"):
    tp, fp, fn, tn = counts(y, p, n)
    if curve == "PR" and method == "interpolation":
        dtp = tp[:n - 1] - tp[1:]
        pp = tp + fp
        slope = div_no_nan(dtp, np.maximum(pp[:n - 1] - pp[1:], 0))
        intercept = tp[1:] - slope * pp[1:]
        ratio = np.where((pp[:n - 1] > 0) & (pp[1:] > 0),
                         div_no_nan(pp[:n - 1], np.maximum(pp[1:], 0)), 1.0)
        return div_no_nan(slope * (dtp + intercept * np.log(ratio)),
                          np.maximum(tp[1:] + fn[1:], 0)).sum()
    recall = div_no_nan(tp, tp + fn)
    if curve == "ROC":
        x, yv = div_no_nan(fp, fp + tn), recall
    else:
        x, yv = recall, div_no_nan(tp, tp + fp)
    heights = {"interpolation": (yv[:n - 1] + yv[1:]) / 2,
               "minoring": np.minimum(yv[:n - 1], yv[1:]),
               "majoring": np.maximum(yv[:n - 1], yv[1:])}[method]
    return ((x[:n - 1] - x[1:]) * heights).sum()


if __name__ == "__main__":
    print("doc example", auc([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 3))
    y = [0, 1, 0, 1, 1, 0, 1, 0]
    p = [0.1, 0.35, 0.4, 0.8, 0.62, 0.7, 0.2, 0.05]
    for n in (5, 200):
        for curve in ("ROC", "PR"):
            for method in ("interpolation", "minoring", "majoring"):
                print(n, curve, method, repr(auc(y, p, n, curve, method)))
    Y = np.array([[0, 1], [1, 1], [0, 0], [1, 0]])
    P = np.array([[0.2, 0.9], [0.7, 0.6], [0.4, 0.3], [0.6, 0.65]])
    print("multi_label", repr((auc(Y[:, 0], P[:, 0], 5) + auc(Y[:, 1], P[:, 1], 5)) / 2),
          "flattened", repr(auc(Y, P, 5)))
    logits = np.array([-2.0, 0.5, 1.0, -0.3, 3.0])
    yl = [0, 1, 0, 1, 1]
    print("from_logits", repr(auc(yl, 1 / (1 + np.exp(-logits)), 5)), "raw", repr(auc(yl, logits, 5)))
