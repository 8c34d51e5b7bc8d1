"""Inputs, targets and checks of the model contract, generated from what a model declares.

The contract test (``tests/foundation/test_configs.py``) builds every config under ``configs/`` (and
every registered :class:`~geoperc.models.base.BaseGeoModel` with a tiny default), feeds it a batch made by
:func:`make_contract_batch` and checks the answers with :func:`check_losses`, :func:`check_gradients` and
:func:`check_predictions`. Nothing here knows a model family: the batch follows only the declared
``in_channels``, ``num_dates``, ``size_divisor``, ``num_classes``, ``output_kind`` and ``contract_input``
(see :mod:`geoperc.models.base`), so a config of a new kind is covered with no edit of the test.

What a model may declare for the contract
-----------------------------------------
``contract_input`` (dict, class attribute of the model)
    ``size`` ``(H, W)``
        the tiny input size (default ``(64, 64)``); rounded up to a multiple of ``size_divisor``.
    ``metainfo`` (dict)
        static metainfo put on every sample, deep-copied: what a model needs beyond pixels, e.g. the
        camera of an occupancy model, ``dict(cam_K=..., proj_matrix=..., voxel_origin=..., voxel_size=...)``
        (numbers or arrays; the values must fit ``size``).
    ``grid_shape`` ``(X, Y, Z)``
        voxel grid of ``voxel_labels`` targets and predictions (default ``metainfo['grid_shape']``).
    ``num_boxes`` (int)
        ground-truth boxes per image for ``rotated_boxes`` (default 3).
    ``instance_fields`` (dict)
        extra per-box ground truth of ``rotated_boxes`` models: ``name -> dict(dim=D, unit=False)``
        (or an int ``D``), generated as ``gt_instances.<name>`` float32 ``(N, D)`` normal values, rows scaled
        to unit length when ``unit`` (e.g. MutDet's object embeddings, ``embeds=dict(dim=256, unit=True)``).
    ``dtype`` (str) / ``value_range`` ``(lo, hi)``
        input pixels (default ``'uint8'`` in ``(0, 255)``, what the image loaders give).
    ``depth_range`` ``(lo, hi)``
        metres of ``dense_regression`` targets (default ``(0.5, 8.0)``).
    ``ragged`` (bool)
        whether the prediction batch holds a sample smaller than ``size`` (default True), so that
        padding removal (``img_shape``) is checked; the preprocessor pads it bottom / right.

``contract_tiny`` (dict)
    * as a **config** variable: merged into ``cfg.model`` before the contract test builds it (the way
      ``--cfg-options model.x=...`` merges), to keep a large model tractable on a CPU, e.g. for a
      SwinV2-B config ``contract_tiny = dict(backbone=dict(embed_dim=16, depths=(1, 1, 1, 1)))``. The
      full model's own tests (parameter counts, official keys) are the place for its full size.
    * as a **class** attribute of a registered model: constructor keyword arguments of a tiny instance;
      such a class is checked even when no config uses it. A concrete registered model of
      ``geoperc.models`` that no config uses and that has no ``contract_tiny`` fails the coverage test.

What :func:`make_contract_batch` generates, by ``output_kind``
---------------------------------------------------------------
Inputs: one tensor per sample, ``(C, H, W)`` (``num_dates`` 1) or ``(T, C, H, W)``, ``C = in_channels``;
metainfo ``img_path`` (a label naming the sample), ``ori_shape``, ``img_shape``, ``band_count`` plus the
declared ``metainfo``. Targets:

* ``dense_probs``: ``gt_sem_seg`` (1, H, W) long, classes ``0 .. num_classes - 1`` (at least 0/1) and a
  few ``ignore_index`` pixels.
* ``dense_regression``: ``gt_depth`` (1, H, W) float32 metres, 0 where there is no measurement, and
  ``depth_valid`` (1, H, W) bool (the pano datasets' name).
* ``rotated_boxes``: ``gt_instances`` with ``bboxes`` (N, 5) ``(cx, cy, w, h, angle)`` le90 (radians in
  [-pi/2, pi/2)) inside the image and ``labels`` (N,) long.
* ``voxel_labels``: ``gt_occ`` :class:`PixelData` (X, Y, Z) long, classes ``0 .. num_classes - 1`` and
  some 255 (invalid).

The batch is what ``pseudo_collate`` gives a model: ``dict(inputs=[...], data_samples=[...])``, ready for
``model.train_step`` / ``model.test_step`` (the model's own preprocessor normalises and pads it).
"""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData

from geoperc.models.base import (DENSE_PROBS, DENSE_REGRESSION, OUTPUT_KINDS, ROTATED_BOXES, VOXEL_LABELS,
                                 BaseDenseModel, BaseGeoModel)
from geoperc.structures import GeoDataSample

__all__ = ['contract_spec', 'make_contract_batch', 'check_losses', 'check_gradients', 'check_predictions',
           'run_contract', 'tiny_model_cfg']

IGNORE = 255


def contract_spec(model: BaseGeoModel) -> dict:
    """The model's ``contract_input`` with the defaults filled in and ``size`` a multiple of ``size_divisor``."""
    spec = dict(size=(64, 64), metainfo={}, num_boxes=3, dtype='uint8', value_range=(0, 255),
                depth_range=(0.5, 8.0), ragged=True)
    spec.update(copy.deepcopy(dict(getattr(model, 'contract_input', None) or {})))
    d = max(int(model.size_divisor), 1)
    h, w = (int(s) for s in spec['size'])
    spec['size'] = (-(-h // d) * d, -(-w // d) * d)
    if model.output_kind == VOXEL_LABELS:
        grid = spec.get('grid_shape', spec['metainfo'].get('grid_shape'))
        if grid is None:
            raise TypeError(f'{type(model).__name__}: a voxel_labels model declares '
                            "contract_input['grid_shape'] (or metainfo['grid_shape'])")
        spec['grid_shape'] = tuple(int(g) for g in grid)
    return spec


def _sizes(spec: dict, model: BaseGeoModel, batch: int, ragged: bool) -> List[Tuple[int, int]]:
    h, w = spec['size']
    step = max(int(model.size_divisor) // 2, 1)
    if not (ragged and spec['ragged']) or h <= step or w <= step:
        return [(h, w)] * batch
    return [(h, w) if i % 2 == 0 else (h - step, w - step) for i in range(batch)]


def _pixels(rng: np.random.Generator, shape: Sequence[int], spec: dict) -> torch.Tensor:
    lo, hi = spec['value_range']
    dtype = np.dtype(spec['dtype'])
    if dtype.kind in 'ui':
        x = rng.integers(int(lo), int(hi) + 1, size=shape).astype(dtype)
    else:
        x = rng.uniform(lo, hi, size=shape).astype(dtype)
    return torch.from_numpy(x)


def _blobs(rng: np.random.Generator, h: int, w: int, k: int) -> np.ndarray:
    """(h, w) int64 labels in 0..k-1: a few rectangles of each class on class 0 (every class present)."""
    lab = np.zeros((h, w), np.int64)
    for c in range(1, k):
        for _ in range(2):
            y, x = rng.integers(0, max(h - 4, 1)), rng.integers(0, max(w - 4, 1))
            lab[y:y + int(rng.integers(4, max(h // 3, 5))), x:x + int(rng.integers(4, max(w // 3, 5)))] = c
    return lab


def _target(sample: GeoDataSample, model: BaseGeoModel, spec: dict, rng: np.random.Generator, h: int, w: int):
    kind = model.output_kind
    k = max(int(model.num_classes), 2)
    ignore = int(getattr(model, 'ignore_index', IGNORE))
    if kind == DENSE_PROBS:
        lab = _blobs(rng, h, w, k)
        lab[rng.random((h, w)) < 0.02] = ignore
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(lab[None]))
    elif kind == DENSE_REGRESSION:
        lo, hi = spec['depth_range']
        yy, xx = np.mgrid[0:h, 0:w]
        depth = lo + (hi - lo) * (0.5 + 0.25 * np.sin(xx / max(w, 1) * 2 * math.pi) + 0.2 * yy / max(h, 1))
        depth = depth.astype(np.float32)
        depth[rng.random((h, w)) < 0.05] = 0.0  # no measurement
        sample.gt_depth = PixelData(data=torch.from_numpy(depth[None]))
        sample.depth_valid = PixelData(data=torch.from_numpy(depth[None] > 0))
    elif kind == ROTATED_BOXES:
        n = int(spec['num_boxes'])
        side = min(h, w)
        bw = rng.uniform(side / 8, side / 3, n)
        bh = rng.uniform(side / 8, side / 3, n)
        r = np.hypot(bw, bh) / 2  # the box fits inside the image at any angle
        cx = rng.uniform(r, w - r)
        cy = rng.uniform(r, h - r)
        angle = rng.uniform(-math.pi / 2, math.pi / 2, n)
        inst = InstanceData()
        inst.bboxes = torch.from_numpy(np.stack([cx, cy, bw, bh, angle], 1).astype(np.float32))
        inst.labels = torch.from_numpy(rng.integers(0, max(int(model.num_classes), 1), n).astype(np.int64))
        for name, field in (spec.get('instance_fields') or {}).items():
            field = dict(dim=field) if isinstance(field, int) else dict(field)
            v = rng.normal(size=(n, int(field['dim']))).astype(np.float32)
            if field.get('unit'):
                v /= np.linalg.norm(v, axis=1, keepdims=True)
            inst.set_field(torch.from_numpy(v), name)
        sample.gt_instances = inst
    elif kind == VOXEL_LABELS:
        grid = spec['grid_shape']
        occ = rng.integers(0, k, size=grid).astype(np.int64)
        occ[rng.random(grid) < 0.5] = 0  # mostly empty, as scenes are
        occ[rng.random(grid) < 0.05] = IGNORE
        sample.gt_occ = PixelData(data=torch.from_numpy(occ))
    else:  # pragma: no cover - BaseGeoModel refuses unknown kinds at construction
        raise TypeError(f'unknown output kind {kind!r}')


def make_contract_batch(model: BaseGeoModel, batch: int = 2, seed: int = 0, ragged: bool = False) -> dict:
    """A collated batch of generated inputs and targets for ``model`` (see the module docstring).

    Args:
        model: a built :class:`BaseGeoModel`.
        batch: samples.
        seed: the generator seed (the same seed gives the same batch).
        ragged: make every second sample smaller than ``contract_input['size']`` (by half the
            ``size_divisor``), to check that predictions come back at each sample's own size.
    """
    if not isinstance(model, BaseGeoModel):
        raise TypeError(f'{type(model).__name__} is not a geoperc BaseGeoModel (geoperc/models/base.py)')
    spec = contract_spec(model)
    rng = np.random.default_rng(seed)
    c, t = int(model.in_channels), int(model.num_dates)
    inputs, samples = [], []
    for i, (h, w) in enumerate(_sizes(spec, model, batch, ragged)):
        shape = (c, h, w) if t == 1 else (t, c, h, w)
        inputs.append(_pixels(rng, shape, spec))
        meta = dict(img_path=f'<contract sample {i} of {type(model).__name__}>', ori_shape=(h, w),
                    img_shape=(h, w), band_count=c)
        meta.update(copy.deepcopy(spec['metainfo']))
        sample = GeoDataSample(metainfo=meta)
        _target(sample, model, spec, rng, h, w)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def tiny_model_cfg(model_cfg: dict, contract_tiny: Optional[dict]) -> dict:
    """``model_cfg`` with the config's ``contract_tiny`` merged in (nested dicts merged key by key)."""
    out = copy.deepcopy(model_cfg)
    if contract_tiny:
        _merge(out, contract_tiny)
    return out


def _merge(dst: dict, src: dict):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


# -- checks -------------------------------------------------------------------------------------------
def _tensors(v) -> List[torch.Tensor]:
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        return [x for item in v for x in _tensors(item)]
    return []


def check_losses(losses: Dict[str, object], who: str = 'model') -> None:
    """``loss`` returned a dict with at least one ``loss_*`` key, each a finite tensor (or list of them)."""
    assert isinstance(losses, dict), f'{who}.loss must return a dict, got {type(losses).__name__}'
    keys = [k for k in losses if k.startswith('loss')]
    assert keys, f'{who}.loss returned no loss_* key: {sorted(losses)}'
    for k in keys:
        ts = _tensors(losses[k])
        assert ts, f'{who}: {k} is not a tensor ({type(losses[k]).__name__})'
        for x in ts:
            assert x.is_floating_point() and bool(torch.isfinite(x).all()), f'{who}: {k} = {x} is not finite'


def check_gradients(model: torch.nn.Module, allow_unused: bool = False, who: str = 'model') -> None:
    """After ``backward``: every trainable parameter got a finite gradient (DDP without
    ``find_unused_parameters`` needs all of them; ``allow_unused`` relaxes that), and some are non-zero."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert named, f'{who} has no trainable parameters'
    missing = [n for n, p in named if p.grad is None]
    if not allow_unused:
        assert not missing, (f'{who}: {len(missing)} trainable parameters get no gradient from the loss, '
                             f'e.g. {missing[:5]} (set find_unused_parameters=True in the config if intended)')
    assert len(missing) < len(named), f'{who}: no parameter gets a gradient from the loss'
    bad = [n for n, p in named if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    assert not bad, f'{who}: non-finite gradients in {bad[:5]}'
    assert any(bool(p.grad.abs().sum() > 0) for _, p in named if p.grad is not None), \
        f'{who}: every gradient is zero'


def _data(v):
    return v.data if hasattr(v, 'data') and not isinstance(v, torch.Tensor) else v


def check_predictions(model: BaseGeoModel, batch: dict, outputs: List, who: str = 'model') -> None:
    """The declared ``pred_*`` fields of ``model.output_kind`` came back, per sample, with the shapes,
    dtypes and value ranges of :mod:`geoperc.models.base` (padding removed)."""
    kind = model.output_kind
    assert isinstance(outputs, (list, tuple)) and len(outputs) == len(batch['inputs']), \
        f'{who}.predict must return one data sample per input, got {type(outputs).__name__}'
    k = int(model.num_classes)
    ignore = int(getattr(model, 'ignore_index', IGNORE))
    for i, (x, s) in enumerate(zip(batch['inputs'], outputs)):
        where = f'{who} sample {i}'
        for field in OUTPUT_KINDS[kind].fields:
            assert field in s, \
                f'{where}: predict filled no {field} ({kind} declares {list(OUTPUT_KINDS[kind].fields)})'
        h, w = x.shape[-2:]
        if kind == DENSE_PROBS:
            p = _data(s.pred_probs)
            assert p.is_floating_point() and p.dim() == 3 and tuple(p.shape[-2:]) == (h, w), \
                f'{where}: pred_probs {tuple(p.shape)} {p.dtype}, expected (K, {h}, {w}) float'
            assert p.shape[0] >= 2 and (k < 2 or p.shape[0] == k), \
                f'{where}: pred_probs has {p.shape[0]} classes, num_classes {k}'
            assert bool(((p >= -1e-6) & (p <= 1 + 1e-6)).all()), f'{where}: pred_probs outside [0, 1]'
            assert torch.allclose(p.sum(0), torch.ones_like(p[0]), atol=1e-4), \
                f'{where}: pred_probs do not sum to 1'
            lab = _data(s.pred_sem_seg)
            assert lab.dtype == torch.int64 and tuple(lab.shape) == (1, h, w), \
                f'{where}: pred_sem_seg {tuple(lab.shape)} {lab.dtype}, expected (1, {h}, {w}) int64'
            inside = (lab >= 0) & (lab < p.shape[0])
            assert bool((inside | (lab == ignore)).all()), \
                f'{where}: pred_sem_seg outside 0..{p.shape[0] - 1} / {ignore}'
            arg = p.argmax(0, keepdim=True)
            assert bool((lab[inside] == arg[inside]).all()), \
                f'{where}: pred_sem_seg is not the argmax of pred_probs'
        elif kind == DENSE_REGRESSION:
            d = _data(s.pred_depth)
            assert d.is_floating_point() and tuple(d.shape) == (1, h, w), \
                f'{where}: pred_depth {tuple(d.shape)} {d.dtype}, expected (1, {h}, {w}) float'
            assert bool(torch.isfinite(d).all()), f'{where}: pred_depth is not finite'
        elif kind == ROTATED_BOXES:
            inst = s.pred_instances
            b, sc, lb = inst.bboxes, inst.scores, inst.labels
            assert isinstance(b, torch.Tensor) and b.is_floating_point() and b.dim() == 2 and b.shape[1] == 5, \
                f'{where}: pred_instances.bboxes must be an (N, 5) float tensor, got {getattr(b, "shape", type(b))}'
            n = b.shape[0]
            assert tuple(sc.shape) == (n,) and sc.is_floating_point(), \
                f'{where}: scores {tuple(sc.shape)}, expected ({n},) float'
            assert tuple(lb.shape) == (n,) and lb.dtype == torch.int64, \
                f'{where}: labels {tuple(lb.shape)} {lb.dtype}, expected ({n},) int64'
            assert bool(torch.isfinite(b).all()) and bool(torch.isfinite(sc).all()), \
                f'{where}: boxes / scores not finite'
            assert bool(((lb >= 0) & (lb < max(k, 1))).all()), f'{where}: labels outside 0..{k - 1}'
            eps = 1e-4
            assert bool(((b[:, 4] >= -math.pi / 2 - eps) & (b[:, 4] <= math.pi / 2 + eps)).all()), \
                f'{where}: angles outside le90 [-pi/2, pi/2] radians'
            assert bool((b[:, 2:4] >= 0).all()), f'{where}: negative box sizes'
        elif kind == VOXEL_LABELS:
            occ = _data(s.pred_occ)
            grid = contract_spec(model)['grid_shape']
            assert isinstance(occ, torch.Tensor) and occ.dtype == torch.int64 and tuple(occ.shape) == grid, \
                (f'{where}: pred_occ {tuple(getattr(occ, "shape", ()))} {getattr(occ, "dtype", type(occ))}, '
                 f'expected {grid} int64')
            assert bool((((occ >= 0) & (occ < max(k, 1))) | (occ == IGNORE)).all()), \
                f'{where}: pred_occ outside 0..{k - 1} / {IGNORE}'


def run_contract(model: BaseGeoModel, optim_wrapper, allow_unused: bool = False, who: str = 'model') -> None:
    """The whole contract on one built model: declared band statistics, one optimizer step on a generated
    batch (:func:`check_losses`, :func:`check_gradients`, weights finite and changed), then ``predict`` on a
    ragged batch (:func:`check_predictions`) and, for dense models, ``predict_dense`` at input resolution.

    Args:
        optim_wrapper: an MMEngine optimizer wrapper built for ``model`` (``build_optim_wrapper``).
        allow_unused: parameters may get no gradient (configs with ``find_unused_parameters=True``).
    Raises:
        AssertionError naming ``who`` and the broken promise.
    """
    assert isinstance(model, BaseGeoModel), f'{who}: {type(model).__name__} does not derive from BaseGeoModel'
    pre = model.data_preprocessor
    mean = getattr(pre, 'mean', None)
    if isinstance(mean, torch.Tensor) and getattr(pre, '_normalize', True):
        assert mean.numel() == model.in_channels, \
            f'{who}: {mean.numel()} band statistics for a model of in_channels={model.in_channels}'
    model.train()
    data = model.data_preprocessor(make_contract_batch(model, batch=2, seed=0), True)
    losses = model(**data, mode='loss')
    check_losses(losses, who)
    loss, _ = model.parse_losses(losses)
    optim_wrapper.backward(loss)
    check_gradients(model, allow_unused=allow_unused, who=who)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    optim_wrapper.step()
    optim_wrapper.zero_grad()
    after = dict(model.named_parameters())
    assert all(bool(torch.isfinite(after[n]).all()) for n in before), f'{who}: non-finite weights after one step'
    assert any(not torch.equal(before[n], after[n]) for n in before), f'{who}: one step changed no weight'
    model.eval()
    batch = make_contract_batch(model, batch=2, seed=1, ragged=True)
    with torch.no_grad():
        out = model.test_step(copy.deepcopy(batch))
    check_predictions(model, batch, out, who)
    if isinstance(model, BaseDenseModel):  # what tiled inference calls: the batch at input resolution
        with torch.no_grad():
            x = model.data_preprocessor(copy.deepcopy(batch), False)['inputs']
            dense = model.predict_dense(x)
        assert dense.dim() == 4 and dense.shape[0] == x.shape[0] and dense.shape[-2:] == x.shape[-2:], \
            f'{who}: predict_dense gave {tuple(dense.shape)} for inputs {tuple(x.shape)}'
        k = int(model.num_classes)
        if model.output_kind == DENSE_PROBS:
            assert dense.shape[1] >= 2 and (k < 2 or dense.shape[1] == k), \
                f'{who}: predict_dense gave {dense.shape[1]} channels for num_classes={k}'
        else:
            assert dense.shape[1] == 1, f'{who}: predict_dense of a regression model gave {dense.shape[1]} channels'
