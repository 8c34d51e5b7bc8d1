"""Oriented-box mAP (DOTA / DIOR-R): per image the predictions and the ground truth are stored, and
:func:`geoperc.evaluation.functional.eval_rotated_map` runs once over the set. Reported in percent.

With ``merge_patches=True`` (DOTA split into patches, mmrotate ``DOTAMetric`` semantics) the patch
detections are shifted back to their full image (offset read from the patch id
``<image>__<size>__<x>___<y>``) and merged with class-wise rotated NMS; the full images are scored against
their original ``labelTxt`` files in ``ann_dir`` and / or written as DOTA-server submission files
``Task1_<class>.txt`` under ``outfile_prefix`` (``format_only`` for the unlabelled test split)."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric

from geoperc.evaluation.functional import eval_rotated_map
from geoperc.registry import METRICS


def _instances(sample, key: str) -> dict:
    v = sample.get(key) if isinstance(sample, dict) else getattr(sample, key, None)
    if v is None:
        return {}
    if not isinstance(v, dict):
        v = {k: v.get(k) for k in v.keys()}
    out = {}
    for k, x in v.items():
        if hasattr(x, 'detach'):
            x = x.detach().cpu().numpy()
        elif hasattr(x, 'tensor') and hasattr(x.tensor, 'detach'):  # mmdet/mmrotate box types
            x = x.tensor.detach().cpu().numpy()
        out[k] = np.asarray(x)
    return out


@METRICS.register_module()
class RotatedMAPMetric(BaseMetric):
    """VOC-style mAP for rotated boxes.

    Ground truth comes from ``gt_instances`` (``bboxes`` (G, 5) le90 or (G, 8) polygons, ``labels``, and
    optionally ``ignore_flags`` and ``difficulty``) plus ``ignored_instances`` when present (mmdet style);
    predictions from ``pred_instances`` (``bboxes``, ``scores``, ``labels``).

    Args:
        iou_thrs (float | list): IoU thresholds; ``mAP`` is their mean, ``AP50`` etc. each.
        mode (str): ``'11points'`` (DOTA devkit and mmrotate default) or ``'area'``.
        match (str): ``'mmrotate'`` (IoU >= thr) or ``'dota_devkit'`` (IoU > thr).
        ignore_difficult (bool): ignore ground truth with ``difficulty > 0`` as the DOTA devkit does
            (mmrotate 1.x's default dataset settings keep them: set False to reproduce that).
        num_classes (int, optional): default ``len(dataset_meta['classes'])``.
        classwise (bool): also report ``AP<thr>_<class>`` for the first threshold.
        backend (str): rotated IoU backend (``'auto'``, ``'mmcv'``, ``'shapely'``).
        merge_patches (bool): merge patch results per full image first (see the module docstring).
        merge_iou_thr (float): NMS IoU of the merge (mmrotate: 0.1).
        ann_dir (str, optional): full-image DOTA ``labelTxt`` folder scored after merging.
        outfile_prefix (str, optional): folder for ``Task1_<class>.txt`` (and ``Task1.zip``).
        format_only (bool): only write the submission files (no ground truth needed).
    """
    default_prefix: Optional[str] = 'rotated'

    def __init__(self, iou_thrs: Union[float, Sequence[float]] = 0.5, mode: str = '11points',
                 match: str = 'mmrotate', ignore_difficult: bool = True, num_classes: Optional[int] = None,
                 classwise: bool = False, backend: str = 'auto', merge_patches: bool = False,
                 merge_iou_thr: float = 0.1, ann_dir: Optional[str] = None, outfile_prefix: Optional[str] = None,
                 format_only: bool = False, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thrs: List[float] = [float(iou_thrs)] if np.isscalar(iou_thrs) else [float(t) for t in iou_thrs]
        self.mode = mode
        self.match = match
        self.ignore_difficult = ignore_difficult
        self.num_classes = num_classes
        self.classwise = classwise
        self.backend = backend
        self.merge_patches = merge_patches
        self.merge_iou_thr = merge_iou_thr
        self.ann_dir = ann_dir
        self.outfile_prefix = outfile_prefix
        self.format_only = format_only
        if format_only and not outfile_prefix:
            raise ValueError('RotatedMAPMetric(format_only=True) needs outfile_prefix (where Task1 files go)')
        if merge_patches and not format_only and not ann_dir:
            raise ValueError('RotatedMAPMetric(merge_patches=True) scores full images: give ann_dir (their '
                             'labelTxt folder), or format_only=True with outfile_prefix')

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            pred = _instances(s, 'pred_instances')
            gt = _instances(s, 'gt_instances')
            ign_inst = _instances(s, 'ignored_instances')
            ncol = pred['bboxes'].shape[-1] if pred.get('bboxes') is not None and pred['bboxes'].size else 5
            gb = gt.get('bboxes', np.zeros((0, ncol))).reshape(-1, ncol)
            gl = gt.get('labels', np.zeros(0, np.int64)).reshape(-1)
            ign = np.zeros(len(gl), bool)
            if 'ignore_flags' in gt:
                ign |= gt['ignore_flags'].astype(bool).reshape(-1)
            if self.ignore_difficult:
                for key in ('difficulty', 'difficult'):
                    if key in gt:
                        ign |= gt[key].reshape(-1) > 0
            if ign_inst.get('bboxes') is not None and len(ign_inst['bboxes']):
                gb = np.concatenate([gb, ign_inst['bboxes'].reshape(-1, ncol)])
                gl = np.concatenate([gl, ign_inst['labels'].reshape(-1)])
                ign = np.concatenate([ign, np.ones(len(ign_inst['labels']), bool)])
            det = dict(bboxes=pred.get('bboxes', np.zeros((0, ncol))).reshape(-1, ncol),
                       scores=pred.get('scores', np.zeros(0)).reshape(-1),
                       labels=pred.get('labels', np.zeros(0, np.int64)).reshape(-1))
            meta = s.get('metainfo', s) if isinstance(s, dict) else s.metainfo
            img_id = meta.get('img_id') or meta.get('img_path')
            det['img_id'] = str(img_id) if img_id is not None else str(len(self.results))
            self.results.append((det, dict(bboxes=gb, labels=gl, ignore=ign)))

    def _merged(self, results: list):
        import os.path as osp

        from geoperc.datasets.detection.dota import parse_dota_txt, polygons_to_le90
        from geoperc.datasets.detection.split import merge_patch_results, write_dota_submission
        from geoperc.errors import DatasetError
        names = (self.dataset_meta or {}).get('classes')
        dets = [dict(r[0], img_id=osp.splitext(osp.basename(r[0]['img_id']))[0]) for r in results]
        merged = merge_patch_results(dets, self.merge_iou_thr)
        if self.outfile_prefix:
            if not names:
                raise ValueError('writing DOTA submission files needs dataset_meta["classes"]')
            write_dota_submission(merged, names, self.outfile_prefix, zip_name='Task1.zip')
        if self.format_only:
            return None, None
        cls_map = {c: i for i, c in enumerate(names or [])}
        out_dets, out_anns = [], []
        for img_id in sorted(merged):
            txt = osp.join(self.ann_dir, img_id + '.txt')
            if not osp.isfile(txt):
                raise DatasetError(f'{txt}: full-image label file not found (ann_dir of RotatedMAPMetric)')
            objs = [o for o in parse_dota_txt(txt)['objects'] if o[1] in cls_map]
            polys = np.array([o[0] for o in objs], np.float64).reshape(-1, 8)
            diff = np.array([o[2] for o in objs], np.int64)
            out_anns.append(dict(bboxes=polygons_to_le90(polys), labels=np.array([cls_map[o[1]] for o in objs],
                                                                                   np.int64),
                                 ignore=(diff > 0) if self.ignore_difficult else np.zeros(len(objs), bool)))
            out_dets.append(merged[img_id])
        return out_dets, out_anns

    def compute_metrics(self, results: list) -> dict:
        if self.merge_patches:
            dets, anns = self._merged(results)
            if dets is None:
                return {}
        else:
            dets, anns = [r[0] for r in results], [r[1] for r in results]
        names = (self.dataset_meta or {}).get('classes')
        num_classes = self.num_classes or (len(names) if names else None)
        if num_classes is None:
            labels = [a['labels'] for a in anns] + [d['labels'] for d in dets]
            num_classes = int(max((int(x.max()) for x in labels if x.size), default=-1)) + 1
        out, maps = {}, []
        for k, thr in enumerate(self.iou_thrs):
            m, per_class = eval_rotated_map(dets, anns, num_classes, thr, self.mode, self.match, self.backend,
                                            names if names and len(names) == num_classes else None)
            maps.append(m)
            out[f'AP{int(round(thr * 100)):02d}'] = round(m * 100, 4)
            if self.classwise and k == 0:
                for r in per_class:
                    out[f'AP{int(round(thr * 100)):02d}_{r["name"]}'] = round(r['ap'] * 100, 4)
        out['mAP'] = round(float(np.mean(maps)) * 100, 4)
        return out
