"""N-band, multi-date data preprocessor.

No RGB/BGR assumption: ``mean``/``std`` have one value per band (any band count) and apply to every
date. Inputs arrive as a list of tensors, each ``(T, C, H, W)`` (multi-date) or ``(C, H, W)`` (one
date); the batch leaves as ``(B, T, C, H, W)`` or ``(B, C, H, W)`` float32.

Nodata: a pixel is *invalid* when, on any date, all its bands equal the sample's ``nodata`` metainfo
(NaN nodata included), or when the dataset already marked it in ``valid_mask``. A single non-finite band
of an otherwise valid pixel is set to the band mean. Invalid pixels are set to the band mean (0 after
normalisation), their reference (``gt_sem_seg``) is set to ``ignore_index`` so they never count in the
loss, and ``valid_mask`` is kept on the data sample so predictions there become nodata.

Padding: bottom/right to a multiple of ``pad_size_divisor``; recorded as ``padding`` (top, bottom, left,
right) and ``pad_shape`` metainfo so models crop predictions back.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from geoperc.registry import MODELS


@MODELS.register_module()
class GeoDataPreprocessor(BaseDataPreprocessor):

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 pad_size_divisor: int = 1,
                 pad_value: float = 0.0,
                 ignore_index: int = 255,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        assert (mean is None) == (std is None), 'give both mean and std, or neither'
        self._normalize = mean is not None
        if self._normalize:
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32), False)
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value
        self.ignore_index = ignore_index

    def _valid(self, img: torch.Tensor, sample) -> torch.Tensor:
        """(H, W) bool: True where every date has data."""
        H, W = img.shape[-2:]
        valid = torch.ones(H, W, dtype=torch.bool, device=img.device)
        nodata = sample.metainfo.get('nodata') if sample is not None else None
        if nodata is not None:
            per_date = img if img.dim() == 4 else img[None]  # (T, C, H, W)
            hit = torch.isnan(per_date) if nodata != nodata else per_date == nodata  # NaN nodata
            valid &= ~hit.all(dim=1).any(dim=0)
        if sample is not None and 'valid_mask' in sample:
            valid &= sample.valid_mask.data.to(img.device).reshape(H, W).bool()
        return valid

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs: List[torch.Tensor] = data['inputs']
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs)
        samples = data.get('data_samples')
        out_imgs = []
        d = self.pad_size_divisor
        H = max(i.shape[-2] for i in inputs)
        W = max(i.shape[-1] for i in inputs)
        Hp = (H + d - 1) // d * d
        Wp = (W + d - 1) // d * d
        for k, img in enumerate(inputs):
            sample = samples[k] if samples is not None else None
            valid = self._valid(img, sample)
            x = img.float()
            if self._normalize:
                C = x.shape[-3]
                if self.mean.numel() != C:
                    src = sample.metainfo.get('img_path') if sample is not None else None
                    raise ValueError(f'{src}: input has {C} bands but the data preprocessor has '
                                     f'{self.mean.numel()} mean/std values')
                x = (x - self.mean.view(C, 1, 1)) / self.std.view(C, 1, 1)
                # invalid pixels, and single NaN bands of valid ones, become the band mean (0)
                x = torch.where(valid & torch.isfinite(x), x, torch.zeros((), device=x.device))
            h, w = x.shape[-2:]
            pad = (0, Wp - w, 0, Hp - h)
            if Hp != h or Wp != w:
                x = F.pad(x, pad, value=self.pad_value)
            out_imgs.append(x)
            if sample is not None:
                sample.set_metainfo(dict(img_shape=(h, w), pad_shape=(Hp, Wp),
                                         padding=(0, Hp - h, 0, Wp - w)))
                sample.valid_mask = PixelData(data=valid[None])
                if 'gt_sem_seg' in sample:
                    gt = sample.gt_sem_seg.data.clone()
                    gt[:, ~valid] = self.ignore_index
                    if Hp != h or Wp != w:
                        gt = F.pad(gt, pad, value=self.ignore_index)
                    sample.gt_sem_seg = PixelData(data=gt)
        return dict(inputs=torch.stack(out_imgs), data_samples=samples)
