"""N-band, multi-date data preprocessor, batched and vectorised, that knows targets by kind.

No RGB/BGR assumption: ``mean``/``std`` have one value per band (any band count) and apply to every
date. Inputs arrive as a list of tensors, each ``(T, C, H, W)`` (multi-date) or ``(C, H, W)`` (one
date), or as one batch tensor ``(B, T, C, H, W)`` / ``(B, C, H, W)``; the batch leaves as
``(B, T, C, Hp, Wp)`` or ``(B, C, Hp, Wp)`` float32.

One pass per batch. When the samples share a shape (always in tiled inference, usually in training)
the batch is stacked once and every step below is one vectorised operation over the whole batch: the
nodata test runs in the input dtype (``uint8`` compares stay ``uint8``), the conversion to float32 happens
once, and scaling, normalisation and masking are in place. Samples of different sizes are padded to the
largest first (the extra pixels are invalid) and then take the same path. Integer inputs skip the
non-finite test (they cannot hold NaN).

Validity. A pixel is *invalid* when, on any date, all its bands equal the sample's ``nodata`` metainfo
(NaN nodata included), when the dataset already marked it in ``valid_mask``, or when it is padding.
Tiled inference hands the validity of the whole batch as ``data['valid_mask']`` (``(B, H, W)`` bool,
computed by the reader) and no data samples. Invalid pixels, and single non-finite bands of otherwise
valid pixels, are set to 0 after normalisation (the band mean; plain 0 without ``mean``/``std``).
``valid_mask`` (``(1, Hp, Wp)`` bool, False in the padding) is kept on each data sample so predictions
there become nodata; with a batch ``valid_mask`` the output dict also carries it as ``valid_mask``
``(B, Hp, Wp)``.

Targets, by kind (each only when present on the sample):

* ``gt_sem_seg`` (pixel labels): ``ignore_index`` where invalid; padded with ``ignore_index``.
* ``gt_depth`` (dense regression): never normalised or scaled; set to 0 where invalid and padded with 0
  (0 = no depth; ``valid_mask`` is False there, so depth losses and metrics skip it).
* ``gt_instances.bboxes`` (rotated boxes, le90 ``(cx, cy, w, h, angle)`` in input pixels): unchanged.
  Padding is added only at the bottom and right, so pixel coordinates, hence box centres, sizes and
  angles, stay valid in the padded image; this preprocessor never resizes.
* ``gt_occ`` (voxel grids): untouched (they are not images).

Padding: bottom/right to a multiple of ``pad_size_divisor`` with ``pad_value`` (after normalisation);
recorded as ``padding`` (top, bottom, left, right), ``img_shape`` (before) and ``pad_shape`` (after)
metainfo so models crop predictions back. ``pad_size_divisor`` is the model's ``size_divisor``
(``geoperc/models/base.py``).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from geoperc.errors import RasterError
from geoperc.registry import MODELS

__all__ = ['GeoDataPreprocessor']


@MODELS.register_module()
class GeoDataPreprocessor(BaseDataPreprocessor):
    """Batched N-band, multi-date preprocessor: nodata -> valid mask, scale, normalise, pad, targets.

    Args:
        mean: per-band mean (any band count), applied after ``scale``; None (with ``std`` None) means no
            normalisation.
        std: per-band standard deviation, same length as ``mean``.
        scale: multiplies the input before ``mean``/``std`` (e.g. ``1 / 255`` for models trained on
            RGB in [0, 1], as the OmniFusion family); 1.0 leaves the values as read.
        pad_size_divisor: pad height and width (bottom/right) to a multiple of this; the model's
            ``size_divisor``.
        pad_value: value of padded input pixels (after normalisation).
        ignore_index: label of invalid and padded ``gt_sem_seg`` pixels.
        non_blocking: asynchronous host-to-device copies (MMEngine).
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 scale: float = 1.0,
                 pad_size_divisor: int = 1,
                 pad_value: float = 0.0,
                 ignore_index: int = 255,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        if (mean is None) != (std is None):
            raise ValueError('GeoDataPreprocessor: give both mean and std, or neither')
        if mean is not None and len(mean) != len(std):
            raise ValueError(f'GeoDataPreprocessor: {len(mean)} mean values but {len(std)} std values')
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32), False)
        else:
            self.mean = self.std = None
        self.scale = float(scale)
        self.pad_size_divisor = int(pad_size_divisor or 1)
        self.pad_value = pad_value
        self.ignore_index = ignore_index

    @property
    def num_bands(self) -> Optional[int]:
        """Bands per date the normalisation expects (None without ``mean``/``std``)."""
        return int(self.mean.numel()) if self.normalize else None

    # -- steps ------------------------------------------------------------------------------------
    @staticmethod
    def _stack(inputs) -> tuple:
        """``(batch, shapes)``: the inputs as one tensor in their dtype, each sample's ``(h, w)``."""
        if isinstance(inputs, torch.Tensor):
            return inputs, None
        inputs = list(inputs)
        shapes = [tuple(x.shape[-2:]) for x in inputs]
        if len(set(shapes)) == 1 and len({x.shape for x in inputs}) == 1:
            return torch.stack(inputs), None
        H, W = max(s[0] for s in shapes), max(s[1] for s in shapes)
        return torch.stack([F.pad(x, (0, W - x.shape[-1], 0, H - x.shape[-2])) for x in inputs]), shapes

    def _check_bands(self, x: torch.Tensor, samples):
        C = x.shape[-3]
        if self.normalize and self.mean.numel() != C:
            src = samples[0].metainfo.get('img_path') if samples else None
            raise RasterError(f'{src}: input has {C} bands but the data preprocessor has '
                              f'{self.mean.numel()} mean/std values')

    @staticmethod
    def _nodata_hits(x: torch.Tensor, nodata) -> torch.Tensor:
        """``(n, H, W)`` bool: on some date every band equals ``nodata`` (in the input dtype)."""
        if nodata != nodata:  # NaN nodata
            if not x.is_floating_point():
                return torch.zeros(x.shape[0], *x.shape[-2:], dtype=torch.bool, device=x.device)
            hit = torch.isnan(x)
        else:
            if not x.is_floating_point() and float(nodata) != int(nodata):
                return torch.zeros(x.shape[0], *x.shape[-2:], dtype=torch.bool, device=x.device)
            hit = x == torch.tensor(nodata, dtype=x.dtype, device=x.device) if not x.is_floating_point() \
                else x == nodata
        hit = hit.all(dim=-3)  # every band
        return hit.any(dim=1) if hit.dim() == 4 else hit  # any date

    def _validity(self, x: torch.Tensor, samples, batch_valid, shapes) -> Optional[torch.Tensor]:
        """``(B, H, W)`` bool, or None when every pixel is valid."""
        B, H, W = x.shape[0], x.shape[-2], x.shape[-1]
        valid = None if batch_valid is None else batch_valid.to(x.device).reshape(B, H, W).bool()

        def _and(m):
            nonlocal valid
            valid = m if valid is None else valid & m

        if samples:
            if any('valid_mask' in s for s in samples):
                masks = []
                for s, (h, w) in zip(samples, shapes or [(H, W)] * B):
                    if 'valid_mask' in s:
                        m = s.valid_mask.data.to(x.device).reshape(h, w).bool()
                    else:
                        m = torch.ones(h, w, dtype=torch.bool, device=x.device)
                    masks.append(F.pad(m, (0, W - w, 0, H - h)) if (h, w) != (H, W) else m)
                _and(torch.stack(masks))
            nodatas = [s.metainfo.get('nodata') for s in samples]
            groups = {}
            for i, nd in enumerate(nodatas):
                if nd is not None:
                    key = 'nan' if nd != nd else float(nd)
                    groups.setdefault(key, (nd, []))[1].append(i)
            for nd, idx in groups.values():
                if len(idx) == B:  # the usual case: one nodata for the batch, one comparison
                    _and(~self._nodata_hits(x, nd))
                else:
                    m = torch.ones(B, H, W, dtype=torch.bool, device=x.device)
                    m[idx] = ~self._nodata_hits(x[idx], nd)
                    _and(m)
        if shapes is not None:  # samples of different sizes: the stacking padding is invalid
            inside = torch.zeros(B, H, W, dtype=torch.bool, device=x.device)
            for i, (h, w) in enumerate(shapes):
                inside[i, :h, :w] = True
            _and(inside)
        return valid

    def _to_float(self, x: torch.Tensor, owned: bool) -> torch.Tensor:
        """float32, scaled and normalised, in place where the batch is ours."""
        if x.dtype != torch.float32:
            x = x.to(torch.float32)  # the one conversion (a new tensor)
        elif not owned:
            x = x.clone()  # float32 already: never modify the caller's tensor in place
        if self.scale != 1.0:
            x.mul_(self.scale)
        if self.normalize:
            shape = (-1, 1, 1)
            x.sub_(self.mean.view(shape)).div_(self.std.view(shape))
        return x

    @staticmethod
    def _mask_invalid(x: torch.Tensor, valid: Optional[torch.Tensor], was_float: bool):
        """Invalid pixels and non-finite single bands -> 0, in place."""
        if was_float:
            bad = ~torch.isfinite(x)
            if valid is not None:
                bad |= ~valid.view(valid.shape[0], *([1] * (x.dim() - 3)), *valid.shape[1:])
            x.masked_fill_(bad, 0.0)
        elif valid is not None and not bool(valid.all()):
            x.masked_fill_(~valid.view(valid.shape[0], *([1] * (x.dim() - 3)), *valid.shape[1:]), 0.0)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        d = self.pad_size_divisor
        H, W = x.shape[-2:]
        Hp, Wp = (H + d - 1) // d * d, (W + d - 1) // d * d
        if (Hp, Wp) == (H, W):
            return x
        return F.pad(x, (0, Wp - W, 0, Hp - H), value=self.pad_value)

    def _targets(self, samples, valid: Optional[torch.Tensor], shapes, H: int, W: int, Hp: int, Wp: int):
        """Per-sample metainfo, valid mask and targets (by kind), padded to ``(Hp, Wp)``."""
        for i, s in enumerate(samples):
            h, w = shapes[i] if shapes is not None else (H, W)
            s.set_metainfo(dict(img_shape=(h, w), pad_shape=(Hp, Wp), padding=(0, Hp - h, 0, Wp - w)))
            v = valid[i] if valid is not None else torch.ones(H, W, dtype=torch.bool, device=self.device)
            v = v[:h, :w]
            pad = (0, Wp - w, 0, Hp - h)
            s.valid_mask = PixelData(data=F.pad(v, pad)[None] if (h, w) != (Hp, Wp) else v[None])
            if 'gt_sem_seg' in s:
                gt = s.gt_sem_seg.data.to(v.device)
                gt = gt.masked_fill(~v, self.ignore_index)
                if (h, w) != (Hp, Wp):
                    gt = F.pad(gt, pad, value=self.ignore_index)
                s.gt_sem_seg = PixelData(data=gt)
            if 'gt_depth' in s:
                gt = s.gt_depth.data.to(v.device)
                gt = gt.masked_fill(~v, 0)
                if (h, w) != (Hp, Wp):
                    gt = F.pad(gt, pad, value=0)
                s.gt_depth = PixelData(data=gt)
            # gt_instances (le90 boxes): bottom/right padding keeps pixel coordinates -> unchanged
            # gt_occ (voxel grids): not an image -> untouched

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a batch; see the module docstring.

        Args:
            data: ``inputs`` (list of tensors or one batch tensor), optional ``data_samples`` and
                optional ``valid_mask`` ``(B, H, W)`` bool (the batch's validity, tiled inference).
            training: unused (no training-only steps).

        Returns:
            ``dict(inputs=(B, [T,] C, Hp, Wp) float32, data_samples=...)``, plus ``valid_mask``
            ``(B, Hp, Wp)`` when a batch ``valid_mask`` was given.
        """
        data = self.cast_data(data)
        samples = data.get('data_samples')
        owned = not isinstance(data['inputs'], torch.Tensor)
        x, shapes = self._stack(data['inputs'])
        owned = owned or shapes is not None
        self._check_bands(x, samples)
        batch_valid = data.get('valid_mask')
        valid = self._validity(x, samples, batch_valid, shapes)
        was_float = x.is_floating_point()
        x = self._to_float(x, owned)
        self._mask_invalid(x, valid, was_float)
        H, W = x.shape[-2:]
        x = self._pad(x)
        Hp, Wp = x.shape[-2:]
        out = dict(inputs=x, data_samples=samples)
        if samples:
            self._targets(samples, valid, shapes, H, W, Hp, Wp)
        if batch_valid is not None:
            v = valid if valid is not None else torch.ones(x.shape[0], H, W, dtype=torch.bool, device=x.device)
            out['valid_mask'] = F.pad(v, (0, Wp - W, 0, Hp - H)) if (Hp, Wp) != (H, W) else v
        return out
