"""Monocular depth errors with the 360-degree benchmarks' exact conventions.

Metrics: AbsRel ``mean(|p - g| / g)``, SqRel ``mean((p - g)^2 / g)``, RMSE ``sqrt(mean((p - g)^2))``,
RMSE-log ``sqrt(mean((log p - log g)^2))``, ``abs`` (MAE), ``log10`` ``mean(|log10(p / g)|)`` and the
inlier ratios delta_k ``mean(max(p / g, g / p) < 1.25^k)``, k = 1, 2, 3.

The protocols differ in masks, clipping, log base, median scaling and how per-group numbers are pooled;
:data:`DEPTH_PROTOCOLS` holds them as the official code does them:

``'omnifusion'`` (``yuliangguo/OmniFusion``: loaders + ``metrics.py`` + ``compute_eval_metrics`` of
    ``test.py`` / ``train_erp_depth_iterative.py``)
    valid = ``min_depth < g <= max_depth`` with min 0.3 m and max 8 m (Stanford2D3D, 360D) or 10 m
    (Matterport3D); prediction scaled by ``median(g) / median(p)`` over the valid pixels **of the
    evaluation batch** (batch 2 in the official scripts); no clipping; RMSE-log in natural log (and only
    over ``p, g > 1e-7``); each batch's means weighted by its number of valid pixels, RMSE and RMSE-log
    are the square root of the pooled mean squares. Equivalent to pooling all valid pixels of the set.
``'unifuse'`` (``alibaba/UniFuse-Unidirectional-Fusion``: ``metrics.py`` ``compute_depth_metrics``,
    ``evaluate.py``)
    valid = ``0 < g <= max_depth`` (10 m); then g and p clipped below at 0.1 m, g above at 10 m, and
    ``g[p > 10] = 10`` exactly as the code is written (it was probably meant to clip p; p is never
    clipped above); optional median alignment ``--median_align`` (off by default); RMSE-log in log10;
    metrics per **image** (``evaluate.py`` calls it one image at a time) then averaged over images.

Medians follow ``torch.median`` (the lower of the two middle values for an even count), as both official
codes use it. ``weights`` (e.g. :func:`geoperc.io.equirect.solid_angle_weights`) turn every mean into a
weighted mean (solid-angle weighting); the benchmarks are unweighted, so results with weights are not
comparable to published numbers.
"""
import dataclasses
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = ['DepthProtocol', 'DEPTH_PROTOCOLS', 'get_depth_protocol', 'depth_errors', 'aggregate_depth_errors',
           'DEPTH_METRIC_KEYS']

DEPTH_METRIC_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'abs', 'log10', 'delta1', 'delta2', 'delta3')


@dataclasses.dataclass(frozen=True)
class DepthProtocol:
    """How one benchmark computes depth errors (see the module docstring).

    Attributes:
        name: protocol name.
        min_depth / max_depth: valid target range ``(min_depth, max_depth]`` in metres.
        clip_min: clamp target and prediction below, after masking (UniFuse 0.1), or None.
        clip_max: clamp target above (UniFuse 10), or None.
        unifuse_gt_quirk: also set ``g = clip_max`` where ``p > clip_max`` (UniFuse as written).
        median_scaling: scale the prediction by ``median(g) / median(p)`` per group.
        log_base: ``'e'`` or ``'10'`` for RMSE-log.
        pooled: True: groups weighted by valid pixels, RMSEs from pooled mean squares (OmniFusion);
            False: plain mean of per-group values (UniFuse).
    """
    name: str
    min_depth: float
    max_depth: Optional[float]
    clip_min: Optional[float]
    clip_max: Optional[float]
    unifuse_gt_quirk: bool
    median_scaling: bool
    log_base: str
    pooled: bool


DEPTH_PROTOCOLS: Dict[str, DepthProtocol] = {
    'omnifusion': DepthProtocol('omnifusion', min_depth=0.3, max_depth=8.0, clip_min=None, clip_max=None,
                                unifuse_gt_quirk=False, median_scaling=True, log_base='e', pooled=True),
    'unifuse': DepthProtocol('unifuse', min_depth=0.0, max_depth=10.0, clip_min=0.1, clip_max=10.0,
                             unifuse_gt_quirk=True, median_scaling=False, log_base='10', pooled=False),
}


def get_depth_protocol(protocol='omnifusion', **overrides) -> DepthProtocol:
    """A protocol by name (or as given) with fields overridden, e.g. ``max_depth=10.0`` for Matterport3D
    under OmniFusion, ``median_scaling=True`` for UniFuse's ``--median_align``."""
    if isinstance(protocol, str) and protocol not in DEPTH_PROTOCOLS:
        raise ValueError(f'protocol must be one of {sorted(DEPTH_PROTOCOLS)}, got {protocol!r}')
    p = DEPTH_PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(p, **overrides) if overrides else p


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _lower_median(x: np.ndarray) -> float:
    s = np.sort(x.reshape(-1))
    return float(s[(len(s) - 1) // 2])


def _wmean(v: np.ndarray, w: Optional[np.ndarray]) -> float:
    if v.size == 0:
        return float('nan')
    if w is None:
        return float(v.mean())
    sw = w.sum()
    return float((v * w).sum() / sw) if sw > 0 else float('nan')


def depth_errors(pred, gt, valid=None, protocol='omnifusion', weights=None, **overrides) -> Dict[str, float]:
    """Errors of one evaluation group: one image, or a batch (stack the images) for OmniFusion's batch
    median.

    Args:
        pred / gt: depth in metres, same shape (e.g. ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)``).
        valid: optional extra validity mask (e.g. the dataset's ``depth_valid``), same shape.
        protocol: a name of :data:`DEPTH_PROTOCOLS` or a :class:`DepthProtocol`.
        weights: optional per-pixel weights broadcastable to ``gt`` (solid-angle weighting).
        **overrides: protocol fields to override (``max_depth=10.0``, ``median_scaling=True`` ...).

    Returns:
        The metrics of :data:`DEPTH_METRIC_KEYS` plus ``mse``, ``mse_log`` (the squares before the root),
        ``n`` (valid pixels, or their weight sum), ``n_log`` and ``scale`` (the median factor, 1 if none).
        A group without valid pixels returns ``n = 0`` and NaN metrics (aggregation skips it).
    """
    proto = get_depth_protocol(protocol, **overrides)
    p = _np(pred).astype(np.float64)
    g = _np(gt).astype(np.float64)
    if p.shape != g.shape:
        raise ValueError(f'prediction shape {p.shape} != target shape {g.shape}')
    mask = np.isfinite(g) & (g > proto.min_depth)
    if proto.max_depth is not None:
        mask &= g <= proto.max_depth
    if valid is not None:
        mask &= _np(valid).astype(bool).reshape(g.shape)
    w = None if weights is None else np.broadcast_to(_np(weights).astype(np.float64), g.shape)[mask]
    g, p = g[mask], p[mask]
    nan = {k: float('nan') for k in DEPTH_METRIC_KEYS + ('mse', 'mse_log')}
    if g.size == 0:
        return dict(nan, n=0.0, n_log=0.0, scale=1.0)
    if proto.clip_min is not None:
        g = np.maximum(g, proto.clip_min)
        p = np.maximum(p, proto.clip_min)
    if proto.clip_max is not None:
        g = np.minimum(g, proto.clip_max)
        if proto.unifuse_gt_quirk:
            g = np.where(p > proto.clip_max, proto.clip_max, g)
    scale = 1.0
    if proto.median_scaling:
        mp = _lower_median(p)
        scale = _lower_median(g) / mp if mp > 0 else 1.0
        p = p * scale
    diff = p - g
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = np.maximum(np.where(g > 0, p / g, np.inf), np.where(p > 0, g / p, np.inf))
        pos = (p > 1e-7) & (g > 1e-7)
        lg = np.log10 if proto.log_base == '10' else np.log
        dlog = lg(p[pos]) - lg(g[pos])
        dlog10 = np.abs(np.log10(p[pos] / g[pos]))
    wl = None if w is None else w[pos]
    out = dict(abs_rel=_wmean(np.abs(diff) / g, w), sq_rel=_wmean(diff ** 2 / g, w), mse=_wmean(diff ** 2, w),
               mse_log=_wmean(dlog ** 2, wl), abs=_wmean(np.abs(diff), w), log10=_wmean(dlog10, wl),
               delta1=_wmean((ratio < 1.25).astype(np.float64), w),
               delta2=_wmean((ratio < 1.25 ** 2).astype(np.float64), w),
               delta3=_wmean((ratio < 1.25 ** 3).astype(np.float64), w))
    out['rmse'] = math.sqrt(out['mse'])
    out['rmse_log'] = math.sqrt(out['mse_log']) if not math.isnan(out['mse_log']) else float('nan')
    out.update(n=float(g.size if w is None else w.sum()), n_log=float(pos.sum() if wl is None else wl.sum()),
               scale=float(scale))
    return out


def aggregate_depth_errors(groups: Sequence[Dict[str, float]], protocol='omnifusion', **overrides
                           ) -> Dict[str, float]:
    """Combine per-group results of :func:`depth_errors` as the protocol's official code does.

    ``pooled`` protocols: every metric is the mean of the group values weighted by the group's ``n``
    (OmniFusion's ``AverageMeter.update(value, N)``), and ``rmse``/``rmse_log`` are the square roots of the
    pooled ``mse``/``mse_log``. Others: the plain mean over groups. Groups with ``n = 0`` are skipped.

    Returns:
        The metrics of :data:`DEPTH_METRIC_KEYS` plus ``groups`` and ``pixels`` counted.
    """
    proto = get_depth_protocol(protocol, **overrides)
    gs: List[Dict[str, float]] = [g for g in groups if g.get('n', 0) > 0]
    if not gs:
        return dict({k: float('nan') for k in DEPTH_METRIC_KEYS}, groups=0, pixels=0.0)
    n = np.array([g['n'] for g in gs])
    out = {}
    for k in DEPTH_METRIC_KEYS + ('mse', 'mse_log'):
        v = np.array([g[k] for g in gs], np.float64)
        ok = np.isfinite(v)
        if not ok.any():
            out[k] = float('nan')
        elif proto.pooled:
            out[k] = float((v[ok] * n[ok]).sum() / n[ok].sum())
        else:
            out[k] = float(v[ok].mean())
    if proto.pooled:
        out['rmse'] = math.sqrt(out['mse'])
        out['rmse_log'] = math.sqrt(out['mse_log']) if np.isfinite(out['mse_log']) else float('nan')
    res = {k: out[k] for k in DEPTH_METRIC_KEYS}
    res.update(groups=len(gs), pixels=float(n.sum()))
    return res
