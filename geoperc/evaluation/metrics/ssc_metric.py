"""Semantic scene completion metric (SemanticKITTI protocol): one confusion matrix accumulated over the
whole evaluation set; completion IoU / precision / recall and semantic mIoU over the non-empty classes
(see :mod:`geoperc.evaluation.functional.ssc`). Scores are reported in percent, as VPOcc / MonoScene
tables are."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from geoperc.evaluation.functional import ssc_confusion, ssc_metrics_from_confusion
from geoperc.registry import METRICS


def _field(sample, key: str):
    """``sample.key`` / ``sample[key]``, unwrapping a data element's ``data`` and tensors -> numpy."""
    v = sample.get(key) if isinstance(sample, dict) else getattr(sample, key, None)
    if v is None:
        return None
    if isinstance(v, dict):
        v = v.get('data', v.get('labels'))
    elif isinstance(v, BaseDataElement):
        v = v.data
    if hasattr(v, 'detach'):
        v = v.detach().cpu().numpy()
    return np.asarray(v)


@METRICS.register_module()
class SSCMetric(BaseMetric):
    """SSC metric over ``gt_occ`` / ``pred_occ`` voxel labels ``(X, Y, Z)`` of each data sample.

    Args:
        num_classes (int): classes including empty (20 for SemanticKITTI).
        ignore_index (int): target value not scored (255 = invalid).
        empty_index (int): the empty class (0).
        valid_key (str, optional): a per-sample boolean voxel mask field to restrict scoring further
            (e.g. a camera field-of-view mask); None scores the whole grid (the benchmark protocol).
        classwise (bool): also report ``iou_<class>`` for every non-empty class.
        output_dir (str, optional): also write every prediction as the benchmark's uint16 ``.label``
            (``output_dir/sequences/XX/predictions/NNNNNN.label``, through the inverse learning map), from
            the samples' ``sequence`` / ``frame_id`` metainfo.
        format_only (bool): only write predictions (the hidden test split: no ``gt_occ``); with
            ``submission_zip`` the files are also zipped as the SemanticKITTI server expects.
        submission_zip (str, optional): path of that zip (default ``output_dir/submission.zip`` when
            ``format_only``).
    """
    default_prefix: Optional[str] = 'ssc'

    def __init__(self, num_classes: int = 20, ignore_index: int = 255, empty_index: int = 0,
                 valid_key: Optional[str] = None, classwise: bool = True, output_dir: Optional[str] = None,
                 format_only: bool = False, submission_zip: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and not output_dir:
            raise ValueError('SSCMetric(format_only=True) needs output_dir')
        self.output_dir, self.format_only = output_dir, format_only
        self.submission_zip = submission_zip or (f'{output_dir}/submission.zip' if format_only else None)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.empty_index = empty_index
        self.valid_key = valid_key
        self.classwise = classwise

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            pred, gt = _field(s, 'pred_occ'), _field(s, 'gt_occ')
            if self.output_dir and pred is not None:
                self._write(s, pred)
            if self.format_only:
                continue
            if pred is None or gt is None:
                raise KeyError('SSCMetric needs pred_occ and gt_occ in every data sample')
            valid = _field(s, self.valid_key) if self.valid_key else None
            self.results.append(ssc_confusion(pred.reshape(gt.shape), gt, self.num_classes, self.ignore_index,
                                              valid))

    def _write(self, sample, pred) -> None:
        import os.path as osp

        from geoperc.io.semantic_kitti import write_prediction_label
        meta = sample if isinstance(sample, dict) else sample.metainfo  # the Evaluator passes to_dict() samples
        seq, fid = meta.get('sequence'), meta.get('frame_id')
        if seq is None or fid is None:
            raise KeyError('SSCMetric(output_dir=...) needs sequence and frame_id metainfo to name the .label files')
        write_prediction_label(osp.join(self.output_dir, 'sequences', str(seq), 'predictions', f'{fid}.label'),
                               pred.astype(np.int64))
        self._written = getattr(self, '_written', []) + [(str(seq), str(fid))]

    def compute_metrics(self, results: list) -> dict:
        if self.format_only:
            if self.submission_zip:
                self._zip()
            return {}
        cm = np.sum(results, axis=0)
        names = (self.dataset_meta or {}).get('classes')
        if names is not None and len(names) != self.num_classes:
            names = None
        m = ssc_metrics_from_confusion(cm, self.empty_index, names)
        out = {k: round(m[k] * 100, 4) for k in ('completion_iou', 'completion_precision', 'completion_recall',
                                                  'miou')}
        if self.classwise:
            for i, v in enumerate(m['per_class_iou']):
                if i != self.empty_index:
                    out[f'iou_{names[i] if names else i}'] = round(v * 100, 4)
        return out

    def _zip(self) -> None:
        import glob
        import os
        import os.path as osp
        import zipfile
        files = sorted(glob.glob(osp.join(self.output_dir, 'sequences', '*', 'predictions', '*.label')))
        d = osp.dirname(osp.abspath(self.submission_zip))
        os.makedirs(d, exist_ok=True)
        tmp = osp.join(d, f'.{osp.basename(self.submission_zip)}.tmp{os.getpid()}')
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, osp.relpath(f, self.output_dir))
        os.replace(tmp, self.submission_zip)
