"""Object-level metrics: one-to-one matching of predicted and reference polygons by IoU.

Pure geometry (shapely), independent of CRS: callers pass polygons in one planar, metric frame.
A predicted polygon and a reference polygon *match* when they have the same class and
IoU >= ``iou_thr``; each polygon matches at most once. Candidate pairs come from an STRtree
query, and are accepted greedily in order of decreasing IoU (ties: higher score, then lower
index), which for ``iou_thr >= 0.5`` and non-overlapping references is the unique matching.
Unmatched predictions are false positives, unmatched references misses.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import shapely


def rbox_to_polygons(boxes) -> List:
    """Rotated boxes ``(N, 5)`` = (cx, cy, w, h, angle in radians, le90) -> list of shapely polygons, in
    whatever frame the boxes are given (pixel boxes give pixel polygons); see :mod:`geoperc.ops.rotated`."""
    from geoperc.ops.rotated import rbox_to_polygons as _to_polygons
    return list(_to_polygons(boxes))


def pairwise_iou(pred: Sequence, ref: Sequence, pred_classes: Optional[Sequence[int]] = None,
                 ref_classes: Optional[Sequence[int]] = None):
    """IoU of every intersecting (prediction, reference) pair of the same class.

    Returns:
        tuple: ``(pred_idx, ref_idx, iou)`` arrays over the pairs with a non-zero intersection.
    """
    pred = np.asarray(list(pred), dtype=object)
    ref = np.asarray(list(ref), dtype=object)
    if not len(pred) or not len(ref):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    pi, ri = shapely.STRtree(ref).query(pred, predicate='intersects')
    if pred_classes is not None and ref_classes is not None:
        same = np.asarray(pred_classes)[pi] == np.asarray(ref_classes)[ri]
        pi, ri = pi[same], ri[same]
    inter = shapely.area(shapely.intersection(pred[pi], ref[ri]))
    union = shapely.area(pred)[pi] + shapely.area(ref)[ri] - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    keep = iou > 0
    return pi[keep].astype(np.int64), ri[keep].astype(np.int64), iou[keep]


@dataclass
class MatchResult:
    """Outcome of :func:`match_polygons`.

    ``pairs`` is (K, 2) of (prediction index, reference index) with IoU ``ious``;
    ``best_iou_pred`` / ``best_iou_ref`` hold each polygon's best IoU with any candidate of its
    class (matched or not), which says how close a false positive or a miss came.
    """
    pairs: np.ndarray
    ious: np.ndarray
    unmatched_pred: np.ndarray
    unmatched_ref: np.ndarray
    best_iou_pred: np.ndarray
    best_iou_ref: np.ndarray


def match_polygons(pred: Sequence, ref: Sequence, iou_thr: float = 0.5,
                   pred_classes: Optional[Sequence[int]] = None, ref_classes: Optional[Sequence[int]] = None,
                   pred_scores: Optional[Sequence[float]] = None) -> MatchResult:
    """Match predictions to references one-to-one at IoU >= ``iou_thr`` (see module docstring).

    Args:
        pred (list): predicted polygons.
        ref (list): reference polygons, same frame as ``pred``.
        iou_thr (float): minimum IoU of a match (compared with a 1e-9 tolerance).
        pred_classes, ref_classes (list[int], optional): classes; only equal classes match.
        pred_scores (list[float], optional): detector scores, used to break IoU ties.
    """
    if not 0 < iou_thr <= 1:
        raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
    n_p, n_r = len(pred), len(ref)
    pi, ri, iou = pairwise_iou(pred, ref, pred_classes, ref_classes)
    best_p, best_r = np.zeros(n_p), np.zeros(n_r)
    np.maximum.at(best_p, pi, iou)
    np.maximum.at(best_r, ri, iou)
    score = np.asarray(pred_scores, dtype=np.float64)[pi] if pred_scores is not None else np.zeros(len(pi))
    ok = iou >= iou_thr - 1e-9
    pi, ri, iou, score = pi[ok], ri[ok], iou[ok], score[ok]
    order = np.lexsort((ri, pi, -score, -iou))
    used_p, used_r = np.zeros(n_p, bool), np.zeros(n_r, bool)
    pairs, ious = [], []
    for k in order:
        if not used_p[pi[k]] and not used_r[ri[k]]:
            used_p[pi[k]] = used_r[ri[k]] = True
            pairs.append((pi[k], ri[k]))
            ious.append(iou[k])
    return MatchResult(np.asarray(pairs, np.int64).reshape(-1, 2), np.asarray(ious, np.float64),
                       np.flatnonzero(~used_p), np.flatnonzero(~used_r), best_p, best_r)


def _scores(tp: int, fp: int, fn: int, ious: np.ndarray) -> Dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return dict(precision=p, recall=r, f1=2 * p * r / (p + r) if p + r else 0.0,
                mean_iou=float(ious.mean()) if len(ious) else 0.0, tp=int(tp), fp=int(fp), fn=int(fn))


def object_metrics(result: MatchResult, pred_classes: Optional[Sequence[int]] = None,
                   ref_classes: Optional[Sequence[int]] = None) -> Dict[str, object]:
    """Object precision / recall / F1 and mean IoU of the matches, overall and per class.

    Overall scores pool all classes (micro): TP = matches, FP = unmatched predictions, FN =
    unmatched references. ``per_class`` maps each class present in either set to its own scores.
    """
    out = _scores(len(result.pairs), len(result.unmatched_pred), len(result.unmatched_ref), result.ious)
    per_class = {}
    if pred_classes is not None and ref_classes is not None:
        pc, rc = np.asarray(pred_classes, np.int64), np.asarray(ref_classes, np.int64)
        matched_cls = rc[result.pairs[:, 1]] if len(result.pairs) else np.zeros(0, np.int64)
        for c in sorted(set(pc.tolist()) | set(rc.tolist())):
            m = matched_cls == c
            per_class[int(c)] = _scores(int(m.sum()), int((pc[result.unmatched_pred] == c).sum()),
                                        int((rc[result.unmatched_ref] == c).sum()), result.ious[m])
    out['per_class'] = per_class
    return out
