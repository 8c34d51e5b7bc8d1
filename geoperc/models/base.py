"""The one model contract of geoperc: :class:`BaseGeoModel`.

Every model family (change detection, oriented detection, occupancy, 360 depth) derives from
:class:`BaseGeoModel`, an MMEngine :class:`~mmengine.model.BaseModel`. The runner, the data preprocessor,
tiled inference and the contract test (``tests/foundation/test_configs.py``) read only what this class
declares; they never sniff output fields or read a preprocessor's private attributes.

What a model declares
---------------------
``in_channels`` (int)
    Bands per date the model consumes (3 for RGB, 4 for RGB+NIR, ...). Inputs with another band count
    are refused by tiled inference and the preprocessor with a message naming the file.
``num_dates`` (int, class attribute)
    1 for single-image models; 2 for bi-temporal change detection. Inputs arrive as ``(B, C, H, W)``
    when 1 and ``(B, T, C, H, W)`` when T > 1.
``size_divisor`` (int)
    Height and width the model needs divisible; the preprocessor pads to it (models take it from their
    preprocessor: configs state it once, in ``data_preprocessor.pad_size_divisor``).
``output_kind`` (str, class attribute)
    One of :data:`OUTPUT_KINDS`; says which ``pred_*`` fields ``predict`` fills and how tiled inference
    merges them (one merger per kind, registered in ``geoperc.inference.merge``).
``contract_input`` (dict, class attribute)
    What the contract test generates: ``size`` (H, W) of a tiny input; for kinds with extra inputs the
    model documents them in its own docstring and the test data generator of its family.

Output kinds (:data:`OUTPUT_KINDS`)
-----------------------------------
``'dense_probs'``
    ``pred_probs`` :class:`PixelData` (K, H, W) float32, class *probabilities* (sum 1 over K, K >= 2;
    a binary sigmoid model reports [1 - p, p]); ``pred_sem_seg`` (1, H, W) long, argmax with
    ``ignore_index`` where ``valid_mask`` is False. Tiled inference blends ``pred_probs``.
``'dense_regression'``
    ``pred_depth`` :class:`PixelData` (1, H, W) float32 (metres for depth models). Tiled inference blends it.
``'rotated_boxes'``
    ``pred_instances`` :class:`InstanceData`: ``bboxes`` (N, 5) ``(cx, cy, w, h, angle)`` in input
    pixels, angle in radians, le90; ``scores`` (N,); ``labels`` (N,) long. Tiled inference shifts boxes
    to raster pixels and merges seams with rotated NMS.
``'voxel_labels'``
    ``pred_occ`` :class:`PixelData`-like (X, Y, Z) long voxel classes (255 = not predicted).

All shapes are per sample after the preprocessor's padding is removed (``img_shape`` metainfo).

Modes (``forward``)
-------------------
``mode='loss'`` -> :meth:`loss` -> ``dict`` of ``loss_*`` tensors (other keys are logged, not summed);
``mode='predict'`` -> :meth:`predict` -> list of :class:`~geoperc.structures.GeoDataSample` with the
kind's ``pred_*`` fields; ``mode='tensor'`` -> :meth:`_forward` -> the raw network outputs.

Dense models (:class:`BaseDenseModel`) also implement :meth:`BaseDenseModel.predict_dense`: the batch
of probabilities / regression values at input resolution and nothing else. Tiled inference calls it
directly (no per-sample argmax, no data samples), ``predict`` builds on it.

One constructor vocabulary
--------------------------
``in_channels``, ``num_classes``, ``backbone`` (a config dict or module, built through
:func:`build_module`), ``pretrained`` (a *local* checkpoint path or None; never a hub download),
``loss`` / ``loss_*`` (config dicts or modules), ``data_preprocessor``, ``init_cfg``.

Adding a method: derive from :class:`BaseDenseModel` (dense kinds) or :class:`BaseGeoModel`, set
``output_kind`` / ``num_dates``, implement ``_forward``, ``loss`` and ``predict`` (or ``predict_dense``),
register with ``@MODELS.register_module()``; every config using it is then built, trained one step and
checked for the declared fields by the contract test with no edit.
"""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import PixelData

__all__ = ['OutputKind', 'OUTPUT_KINDS', 'DENSE_PROBS', 'DENSE_REGRESSION', 'ROTATED_BOXES', 'VOXEL_LABELS',
           'BaseGeoModel', 'BaseDenseModel', 'build_module', 'ConfigOrModule']

ConfigOrModule = Union[dict, nn.Module]


@dataclass(frozen=True)
class OutputKind:
    """A kind of model output: its name, the ``pred_*`` fields it fills (with shapes) and what it is."""
    name: str
    fields: Dict[str, str]
    doc: str


DENSE_PROBS = 'dense_probs'
DENSE_REGRESSION = 'dense_regression'
ROTATED_BOXES = 'rotated_boxes'
VOXEL_LABELS = 'voxel_labels'

OUTPUT_KINDS: Dict[str, OutputKind] = {
    DENSE_PROBS: OutputKind(DENSE_PROBS, {'pred_probs': '(K, H, W) float, sums to 1 over K, K >= 2',
                                          'pred_sem_seg': '(1, H, W) long, ignore_index where invalid'},
                            'dense class probabilities (segmentation, change detection)'),
    DENSE_REGRESSION: OutputKind(DENSE_REGRESSION, {'pred_depth': '(1, H, W) float'},
                                 'dense regression (depth in metres, heights, ...)'),
    ROTATED_BOXES: OutputKind(ROTATED_BOXES, {'pred_instances': 'bboxes (N, 5) le90 radians, scores (N,), '
                                                                'labels (N,)'},
                              'rotated boxes in input pixels (oriented detection)'),
    VOXEL_LABELS: OutputKind(VOXEL_LABELS, {'pred_occ': '(X, Y, Z) long'},
                             'voxel class labels (semantic scene completion)'),
}


def build_module(cfg: Optional[ConfigOrModule], registry=None) -> Optional[nn.Module]:
    """Build ``cfg`` (a config dict with ``type``) through ``registry`` (geoperc's MODELS by default);
    modules and None pass through."""
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if registry is None:
        from geoperc.registry import MODELS as registry
    return registry.build(cfg)


class BaseGeoModel(BaseModel, metaclass=ABCMeta):
    """Abstract base of every geoperc model; see the module docstring for the contract.

    Args:
        in_channels: bands per date.
        num_classes: classes predicted (0 for pure regression models).
        data_preprocessor: config or module; its ``pad_size_divisor`` is the model's ``size_divisor``.
        init_cfg: MMEngine weight-initialisation config.

    Class attributes:
        output_kind: one of :data:`OUTPUT_KINDS` (required in concrete classes).
        num_dates: dates per sample (1, or 2 for change detection).
        contract_input: ``dict(size=(H, W))`` of the tiny input the contract test generates.
    """

    output_kind: str = ''
    num_dates: int = 1
    contract_input: dict = dict(size=(64, 64))

    def __init__(self, in_channels: int, num_classes: int, data_preprocessor: Optional[ConfigOrModule] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if type(self).output_kind not in OUTPUT_KINDS:
            raise TypeError(f'{type(self).__name__}.output_kind must be one of {sorted(OUTPUT_KINDS)}, '
                            f'got {type(self).output_kind!r}')
        self._in_channels = int(in_channels)
        self.num_classes = int(num_classes)

    # -- declared properties ----------------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        """Bands per date the model consumes."""
        return self._in_channels

    @property
    def size_divisor(self) -> int:
        """Input H and W must be multiples of this; the preprocessor pads to it."""
        return int(getattr(self.data_preprocessor, 'pad_size_divisor', 1) or 1)

    @property
    def output_fields(self) -> Dict[str, str]:
        """The ``pred_*`` fields :meth:`predict` fills, with their shapes."""
        return OUTPUT_KINDS[self.output_kind].fields

    # -- to implement -----------------------------------------------------------------------------
    @abstractmethod
    def _forward(self, inputs: torch.Tensor, data_samples: Optional[List] = None):
        """Raw network outputs (``mode='tensor'``)."""

    @abstractmethod
    def loss(self, inputs: torch.Tensor, data_samples: List) -> Dict[str, torch.Tensor]:
        """Losses, keys ``loss_*`` (summed by MMEngine's ``parse_losses``)."""

    @abstractmethod
    def predict(self, inputs: torch.Tensor, data_samples: Optional[List] = None) -> List:
        """Data samples with the ``pred_*`` fields of :attr:`output_kind`, padding removed."""

    # -- shared -----------------------------------------------------------------------------------
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}": use loss, predict or tensor')

    @staticmethod
    def new_samples(data_samples: Optional[List], n: int) -> List:
        """``data_samples`` or ``n`` fresh :class:`GeoDataSample`\\ s."""
        if data_samples is not None:
            return data_samples
        from geoperc.structures import GeoDataSample
        return [GeoDataSample() for _ in range(n)]


class BaseDenseModel(BaseGeoModel):
    """A model whose output is a dense map per input pixel (``dense_probs`` or ``dense_regression``).

    Implement :meth:`predict_dense`; :meth:`predict` crops padding and fills ``pred_probs`` +
    ``pred_sem_seg`` (labels from one batched argmax) or ``pred_depth``.

    Args:
        ignore_index: label written where ``valid_mask`` is False (``dense_probs``).
    """

    output_kind = DENSE_PROBS

    def __init__(self, in_channels: int, num_classes: int, ignore_index: int = 255,
                 data_preprocessor: Optional[ConfigOrModule] = None, init_cfg: Optional[dict] = None):
        super().__init__(in_channels, num_classes, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if self.output_kind not in (DENSE_PROBS, DENSE_REGRESSION):
            raise TypeError(f'{type(self).__name__}: a dense model has output_kind dense_probs or '
                            f'dense_regression, not {self.output_kind!r}')
        self.ignore_index = ignore_index

    @abstractmethod
    def predict_dense(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, K, H, W)`` float at the input's resolution: class probabilities (``dense_probs``,
        K >= 2, summing to 1) or regression values (``dense_regression``, K = 1). No labels, no samples:
        tiled inference calls this on every batch of windows."""

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List] = None) -> List:
        out = self.predict_dense(inputs)
        return self.postprocess(out, data_samples)

    def postprocess(self, out: torch.Tensor, data_samples: Optional[List]) -> List:
        """Crop each sample to ``img_shape`` and fill the kind's fields."""
        data_samples = self.new_samples(data_samples, out.shape[0])
        probs = self.output_kind == DENSE_PROBS
        labels = out.argmax(dim=1, keepdim=True) if probs else None  # one batched argmax
        for i, sample in enumerate(data_samples):
            h, w = sample.metainfo.get('img_shape', out.shape[-2:])
            if probs:
                label = labels[i, :, :h, :w]
                if 'valid_mask' in sample:
                    valid = sample.valid_mask.data[..., :h, :w].to(label.device).bool()
                    label = label.masked_fill(~valid, self.ignore_index)
                    sample.valid_mask = PixelData(data=valid)
                sample.pred_probs = PixelData(data=out[i, :, :h, :w])
                sample.pred_sem_seg = PixelData(data=label)
            else:
                if 'valid_mask' in sample:
                    sample.valid_mask = PixelData(data=sample.valid_mask.data[..., :h, :w].bool())
                sample.pred_depth = PixelData(data=out[i, :1, :h, :w])
            for gt in ('gt_sem_seg', 'gt_depth'):
                if gt in sample:
                    setattr(sample, gt, PixelData(data=getattr(sample, gt).data[..., :h, :w]))
        return data_samples
