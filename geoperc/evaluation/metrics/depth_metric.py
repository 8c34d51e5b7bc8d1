"""360-degree depth metric with a benchmark's exact conventions (``protocol='omnifusion'`` or
``'unifuse'``; see :mod:`geoperc.evaluation.functional.depth`). Per-group errors are stored and
combined at the end as the official code combines them; values are reported as they are (AbsRel 0.095,
delta1 0.90: fractions, not percent)."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from geoperc.evaluation.functional import DEPTH_METRIC_KEYS, aggregate_depth_errors, depth_errors, get_depth_protocol
from geoperc.registry import METRICS
from .ssc_metric import _field


@METRICS.register_module()
class DepthMetric(BaseMetric):
    """Depth errors of ``pred_depth`` against ``gt_depth`` (``(1, H, W)`` or ``(H, W)`` metres).

    Args:
        protocol (str): ``'omnifusion'`` or ``'unifuse'``.
        max_depth / min_depth (float, optional): override the protocol's valid range (OmniFusion:
            ``max_depth=10.0`` for Matterport3D, 8 otherwise).
        median_scaling (bool, optional): override (UniFuse ``--median_align``: True).
        group (str, optional): ``'batch'`` (OmniFusion: median and means per evaluation batch; set the
            val batch size to 2 to reproduce its scripts) or ``'image'`` (UniFuse); default by protocol.
        valid_key (str, optional): a per-sample validity field (e.g. ``'depth_valid'``) ANDed with the
            protocol's range.
        spherical_weighting (bool): weight pixels by ``cos(latitude)`` (solid angle; not comparable
            with published numbers, which are unweighted).
    """
    default_prefix: Optional[str] = 'depth'

    def __init__(self, protocol: str = 'omnifusion', max_depth: Optional[float] = None,
                 min_depth: Optional[float] = None, median_scaling: Optional[bool] = None,
                 group: Optional[str] = None, valid_key: Optional[str] = None, spherical_weighting: bool = False,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.protocol = get_depth_protocol(protocol, max_depth=max_depth, min_depth=min_depth,
                                           median_scaling=median_scaling)
        self.group = group or ('batch' if self.protocol.pooled else 'image')
        if self.group not in ('batch', 'image'):
            raise ValueError(f"group must be 'batch' or 'image', got {group!r}")
        self.valid_key = valid_key
        self.spherical_weighting = spherical_weighting

    def _weights(self, shape):
        if not self.spherical_weighting:
            return None
        from geoperc.io.equirect import solid_angle_weights
        return solid_angle_weights(shape[-2], shape[-1]).numpy()

    def process(self, data_batch, data_samples: Sequence) -> None:
        preds, gts, valids = [], [], []
        for s in data_samples:
            pred, gt = _field(s, 'pred_depth'), _field(s, 'gt_depth')
            if pred is None or gt is None:
                raise KeyError('DepthMetric needs pred_depth and gt_depth in every data sample')
            gt = gt.reshape(gt.shape[-2:])
            preds.append(pred.reshape(gt.shape))
            gts.append(gt)
            v = _field(s, self.valid_key) if self.valid_key else None
            valids.append(None if v is None else v.reshape(gt.shape))
        if self.group == 'image':
            for p, g, v in zip(preds, gts, valids):
                self.results.append(depth_errors(p, g, v, self.protocol, self._weights(g.shape)))
            return
        if len({g.shape for g in gts}) > 1:
            raise ValueError('group="batch" needs equally sized depth maps in a batch')
        v = None if all(x is None for x in valids) else np.stack(
            [np.ones(g.shape, bool) if x is None else x for x, g in zip(valids, gts)])
        w = self._weights(gts[0].shape)
        self.results.append(depth_errors(np.stack(preds), np.stack(gts), v, self.protocol,
                                         None if w is None else w[None]))

    def compute_metrics(self, results: list) -> dict:
        agg = aggregate_depth_errors(results, self.protocol)
        return {k: round(float(agg[k]), 6) for k in DEPTH_METRIC_KEYS}
