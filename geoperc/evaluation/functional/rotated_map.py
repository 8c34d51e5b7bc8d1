"""VOC-style mean average precision for oriented boxes (DOTA / DIOR-R).

What the references do (read from their code):

* DOTA devkit (``CAPTAIN-WHU/DOTA_devkit``, ``dota_evaluation_task1.py``): per class, detections of all
  images sorted by score; each is compared with the image's ground-truth *polygons* of that class
  (polygon IoU); the best-overlapping ground truth is a match if ``IoU > 0.5`` (strict); a match on a
  *difficult* object counts neither as TP nor FP; a second match on the same object is FP; difficult
  objects are not counted as positives. AP is **VOC07 11-point** (``use_07_metric=True`` in its
  ``main``).
* mmrotate 1.x (``eval_rbbox_map`` behind ``DOTAMetric``, also used for DIOR-R): the same greedy rule with
  ``IoU >= thr`` on *rotated boxes* (ground-truth polygons converted to rboxes first), ignored ground truth
  in ``bboxes_ignore``, ``use_07_metric=True`` (11-point) by default, mAP averaged over the classes that
  have ground truth. Its ``DOTADataset`` ignores no difficult object by default (``diff_thr=100``).

:func:`eval_rotated_map` implements both: ``match='mmrotate'`` (``>=``) or ``'dota_devkit'`` (``>``),
``mode='11points'`` (default, both references) or ``'area'`` (VOC2010+ all-point interpolation), boxes
``(N, 5)`` le90 rboxes or ``(N, 8)`` polygons, and ignored ground truth (difficult objects or an explicit
``ignore`` flag). Rotated IoU uses ``mmcv.ops.box_iou_rotated`` when mmcv's compiled ops load and exact
polygon intersection with shapely otherwise (the two agree to float32 precision); polygons always use
shapely. Detections of equal score keep their input order (stable sort).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from geoperc.ops.rotated import rbox_to_polygons

__all__ = ['rotated_iou', 'average_precision', 'tpfp_rotated', 'eval_rotated_map']


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _mmcv_box_iou_rotated():
    try:
        from mmcv.ops import box_iou_rotated
        return box_iou_rotated
    except (ImportError, ModuleNotFoundError, OSError, AttributeError):
        return None


def _polygons(boxes: np.ndarray):
    import shapely
    if boxes.shape[1] == 5:
        polys = rbox_to_polygons(boxes)
    else:
        ring = boxes.reshape(-1, 4, 2)
        polys = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    bad = ~shapely.is_valid(polys)
    if bad.any():
        polys[bad] = shapely.make_valid(polys[bad])
    return polys


def rotated_iou(boxes1, boxes2, backend: str = 'auto') -> np.ndarray:
    """IoU matrix ``(N, M)`` of oriented boxes.

    Args:
        boxes1 / boxes2: ``(N, 5)`` le90 ``(cx, cy, w, h, angle)`` or ``(N, 8)`` polygons (same kind).
        backend: ``'auto'`` (mmcv for rboxes when available, else shapely), ``'mmcv'`` or ``'shapely'``.
    """
    b1 = _np(boxes1).astype(np.float64)
    b2 = _np(boxes2).astype(np.float64)
    if b1.ndim != 2 or b2.ndim != 2 or b1.shape[1] != b2.shape[1] or b1.shape[1] not in (5, 8):
        raise ValueError(f'boxes must both be (N, 5) or (N, 8), got {b1.shape} and {b2.shape}')
    if len(b1) == 0 or len(b2) == 0:
        return np.zeros((len(b1), len(b2)))
    if backend not in ('auto', 'mmcv', 'shapely'):
        raise ValueError(f"backend must be 'auto', 'mmcv' or 'shapely', got {backend!r}")
    if b1.shape[1] == 5 and backend in ('auto', 'mmcv'):
        op = _mmcv_box_iou_rotated()
        if op is not None:
            import torch
            return op(torch.from_numpy(b1).float(), torch.from_numpy(b2).float()).numpy().astype(np.float64)
        if backend == 'mmcv':
            raise ImportError('mmcv.ops.box_iou_rotated is not available (mmcv built without ops)')
    import shapely
    p1, p2 = _polygons(b1), _polygons(b2)
    inter = shapely.area(shapely.intersection(p1[:, None], p2[None, :]))
    union = shapely.area(p1)[:, None] + shapely.area(p2)[None, :] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def average_precision(recall: np.ndarray, precision: np.ndarray, mode: str = '11points') -> float:
    """AP from a precision/recall curve (detections sorted by decreasing score).

    ``'11points'``: mean over t in {0, 0.1, ..., 1} of the largest precision at recall >= t (0 if none),
    the VOC07 metric of the DOTA devkit and mmrotate. ``'area'``: area under the monotone precision
    envelope (VOC2010+).
    """
    recall = np.asarray(recall, np.float64)
    precision = np.asarray(precision, np.float64)
    if mode == '11points':
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = precision[recall >= t]
            ap += (p.max() if p.size else 0.0) / 11.0
        return float(ap)
    if mode == 'area':
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        i = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    raise ValueError(f"mode must be '11points' or 'area', got {mode!r}")


def tpfp_rotated(det_boxes, det_scores, gt_boxes, gt_ignore=None, iou_thr: float = 0.5,
                 match: str = 'mmrotate', backend: str = 'auto') -> Tuple[np.ndarray, np.ndarray]:
    """TP / FP flags of one image's detections of one class (greedy, highest score first).

    A detection takes the ground truth it overlaps most (ignored ones included). It is TP if that overlap
    reaches ``iou_thr`` (``>=`` for mmrotate, ``>`` for the DOTA devkit), the ground truth is not ignored
    and not matched yet; it is neither TP nor FP if that ground truth is ignored; otherwise FP.

    Returns:
        ``(tp, fp)`` float arrays aligned with the *input* order of the detections.
    """
    db = _np(det_boxes).astype(np.float64)
    ds = _np(det_scores).astype(np.float64).reshape(-1)
    gb = _np(gt_boxes).astype(np.float64)
    n = len(db)
    tp, fp = np.zeros(n), np.zeros(n)
    if n == 0:
        return tp, fp
    if len(gb) == 0:
        fp[:] = 1
        return tp, fp
    ign = np.zeros(len(gb), bool) if gt_ignore is None else _np(gt_ignore).astype(bool).reshape(-1)
    ious = rotated_iou(db, gb.reshape(len(gb), -1), backend)
    best, arg = ious.max(1), ious.argmax(1)
    hit = best > iou_thr if match == 'dota_devkit' else best >= iou_thr
    covered = np.zeros(len(gb), bool)
    for i in np.argsort(-ds, kind='stable'):
        if not hit[i]:
            fp[i] = 1
        elif ign[arg[i]]:
            continue
        elif not covered[arg[i]]:
            covered[arg[i]] = True
            tp[i] = 1
        else:
            fp[i] = 1
    return tp, fp


def eval_rotated_map(det_results: Sequence[dict], annotations: Sequence[dict], num_classes: int,
                     iou_thr: float = 0.5, mode: str = '11points', match: str = 'mmrotate',
                     backend: str = 'auto', class_names: Optional[Sequence[str]] = None
                     ) -> Tuple[float, List[Dict[str, object]]]:
    """mAP over a set of images.

    Args:
        det_results: per image, ``dict(bboxes=(K, 5|8), scores=(K,), labels=(K,))``.
        annotations: per image, ``dict(bboxes=(G, 5|8), labels=(G,), ignore=(G,) bool)`` (``ignore``
            optional: difficult or otherwise ignored objects).
        num_classes: number of classes (labels ``0..num_classes-1``).
        iou_thr / mode / match / backend: see the module docstring.

    Returns:
        ``(mAP, per_class)``: mAP over the classes with at least one non-ignored ground truth (0 if none),
        and per class ``dict(name, num_gts, num_dets, recall, precision, ap)`` (``recall`` /
        ``precision``: final values; ``ap`` 0 for classes without ground truth).
    """
    if match not in ('mmrotate', 'dota_devkit'):
        raise ValueError(f"match must be 'mmrotate' or 'dota_devkit', got {match!r}")
    if len(det_results) != len(annotations):
        raise ValueError(f'{len(det_results)} detection results for {len(annotations)} annotated images')
    per_class = []
    for c in range(num_classes):
        scores, tps, fps, num_gts, num_dets = [], [], [], 0, 0
        for det, ann in zip(det_results, annotations):
            dl = _np(det['labels']).reshape(-1)
            gl = _np(ann['labels']).reshape(-1)
            gb = _np(ann['bboxes'])
            gi = _np(ann.get('ignore', np.zeros(len(gl), bool))).astype(bool).reshape(-1)
            dsel, gsel = dl == c, gl == c
            num_gts += int((gsel & ~gi).sum())
            if not dsel.any():
                continue
            db = _np(det['bboxes'])[dsel]
            dsc = _np(det['scores']).reshape(-1)[dsel]
            tp, fp = tpfp_rotated(db, dsc, gb[gsel] if gsel.any() else np.zeros((0, db.shape[1])), gi[gsel],
                                  iou_thr, match, backend)
            scores.append(dsc)
            tps.append(tp)
            fps.append(fp)
            num_dets += len(dsc)
        if scores:
            s = np.concatenate(scores)
            order = np.argsort(-s, kind='stable')
            tp = np.cumsum(np.concatenate(tps)[order])
            fp = np.cumsum(np.concatenate(fps)[order])
        else:
            tp = fp = np.zeros(0)
        eps = np.finfo(np.float64).eps
        recall = tp / max(num_gts, eps)
        precision = tp / np.maximum(tp + fp, eps)
        ap = average_precision(recall, precision, mode) if num_gts > 0 else 0.0
        per_class.append(dict(name=class_names[c] if class_names else str(c), num_gts=num_gts,
                              num_dets=num_dets, recall=float(recall[-1]) if len(recall) else 0.0,
                              precision=float(precision[-1]) if len(precision) else 0.0, ap=float(ap)))
    aps = [r['ap'] for r in per_class if r['num_gts'] > 0]
    return (float(np.mean(aps)) if aps else 0.0), per_class
