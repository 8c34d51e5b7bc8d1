"""MutDet data: the step-3 pre-training dataset, the embedding loader, and generated oriented-object images.

:class:`MutDetPretrainDataset` reads the step-1 patches (``images/``) with the step-2 ``cluster_<k>``
labels (``labelTxt/``) and points every item at its step-2 embeddings (``embeddings/<patch>.npz``, see
:mod:`geoperc.models.detection.mutdet_embed`). :class:`LoadObjectEmbeddings` loads them into
``results['gt_embeds']`` ``(N, 256)`` float32, in the order of the boxes; box transforms that drop boxes
must drop the same rows (the packing transform then carries them as ``gt_instances.embeds``). A file whose
count differs from the boxes is cut to the shorter one with a warning, as the official detector does
(``DETRegRotatedDETRFast.forward_train``), and at most ``max_objects`` (official ``max_gt_num`` 1000)
are kept.

:func:`synth_object_image` / :func:`write_object_dataset` generate DOTA-format images of oriented objects
(three classes that differ in size, aspect ratio and colour, on a textured background) for the tests and
``geoperc demo --task mutdet``: no downloads.
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from geoperc.datasets.detection.dota import DOTADataset
from geoperc.datasets.transforms.base import BaseTransform
from geoperc.datasets.transforms.rotated import PackRotatedDetInputs
from geoperc.errors import DatasetError
from geoperc.registry import DATASETS, TRANSFORMS
from .mutdet_embed import cluster_classes

__all__ = ['MutDetPretrainDataset', 'LoadObjectEmbeddings', 'PackMutDetInputs', 'synth_object_image',
           'write_object_dataset',
           'SYNTH_CLASSES']

SYNTH_CLASSES = ('vehicle', 'tank', 'ship')
# (long side range px, aspect ratio range, base colour RGB)
_SYNTH_SPEC = {0: ((14, 22), (1.8, 2.6), (200, 60, 50)),
               1: ((18, 28), (1.0, 1.15), (230, 230, 235)),
               2: ((36, 56), (3.5, 5.0), (60, 90, 200))}


@DATASETS.register_module()
class MutDetPretrainDataset(DOTADataset):
    """Step-3 data: patches + ``cluster_<k>`` pseudo-labels + per-patch object embeddings.

    ``data_root`` is the chain folder the steps write (``geoperc pretrain``, ``geoperc demo --task mutdet``)::

        <data_root>/step1/images/<patch>.png        step 1 (pseudo_boxes.py --out <data_root>/step1)
        <data_root>/step2/labelTxt/<patch>.txt      step 2 (embeddings.py <data_root>/step1 --out <data_root>/step2)
        <data_root>/step2/embeddings/<patch>.npz

    Args:
        data_root: the chain folder.
        img_dir / ann_dir / embed_dir: the three folders, relative to ``data_root`` (or absolute).
        num_pseudo_classes: k of the k-means (official 256).
        filter_empty_gt: drop patches without pseudo-boxes (default True: they teach nothing here).
        **kwargs: :class:`~geoperc.datasets.detection.DOTADataset` arguments.
    """

    def __init__(self, data_root: str = '', img_dir: str = 'step1/images', ann_dir: str = 'step2/labelTxt',
                 embed_dir: str = 'step2/embeddings', num_pseudo_classes: int = 256, filter_empty_gt: bool = True,
                 **kwargs):
        self.embed_dir = embed_dir if osp.isabs(embed_dir) else osp.join(data_root, embed_dir)
        kwargs['data_prefix'] = dict(img=img_dir, ann=ann_dir)
        meta = dict(classes=cluster_classes(num_pseudo_classes))
        meta.update(kwargs.pop('metainfo', None) or {})
        super().__init__(data_root=data_root, metainfo=meta, filter_empty_gt=filter_empty_gt, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.embed_dir):
            raise DatasetError(f'{self.embed_dir}: embeddings folder not found (run data_prep/mutdet/'
                               'embeddings.py)')
        try:
            data_list = super().load_data_list()
        except (FileNotFoundError, ValueError) as e:
            raise DatasetError(str(e)) from e
        for item in data_list:
            item['embed_path'] = osp.join(self.embed_dir, item['img_id'] + '.npz')
            if not osp.isfile(item['embed_path']):
                raise DatasetError(f'{item["embed_path"]}: no embeddings for patch {item["img_id"]} '
                                   '(rerun data_prep/mutdet/embeddings.py)')
        return data_list


@TRANSFORMS.register_module()
class LoadObjectEmbeddings(BaseTransform):
    """``results['embed_path']`` -> ``results['gt_embeds']`` ``(N, C)`` float32 (see the module docstring).

    Counts are matched against ``results['gt_bboxes']`` when the box loader ran before, else against
    ``results['instances']``.
    """

    def __init__(self, max_objects: int = 1000):
        self.max_objects = int(max_objects)

    @staticmethod
    def _count(results: dict) -> Optional[int]:
        for key in ('gt_bboxes', 'instances'):
            if results.get(key) is not None:
                return len(results[key])
        return None

    def transform(self, results: dict) -> dict:
        path = results['embed_path']
        try:
            with np.load(path, allow_pickle=False) as d:
                emb = d['embeds'].astype(np.float32)
        except (OSError, KeyError, ValueError) as e:
            raise DatasetError(f'{path}: cannot read object embeddings ({e})') from e
        n = self._count(results)
        if n is not None and n != len(emb):
            warnings.warn(f'{path}: {len(emb)} embeddings for {n} boxes; both cut to {min(n, len(emb))}')
            m = min(n, len(emb))
            emb = emb[:m]
            for key in ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'instances'):
                if results.get(key) is not None:
                    results[key] = results[key][:m]
        if len(emb) > self.max_objects:
            emb = emb[:self.max_objects]
            for key in ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'instances'):
                if results.get(key) is not None:
                    results[key] = results[key][:self.max_objects]
        results['gt_embeds'] = emb
        return results



@TRANSFORMS.register_module()
class PackMutDetInputs(PackRotatedDetInputs):
    """:class:`~geoperc.datasets.transforms.rotated.PackRotatedDetInputs` plus ``gt_instances.embeds``
    ``(N, C)`` float32 from ``results['gt_embeds']``."""

    def transform(self, results: dict) -> dict:
        import torch
        out = super().transform(results)
        if results.get('gt_embeds') is not None:
            gi = out['data_samples'].gt_instances
            emb = np.asarray(results['gt_embeds'], np.float32)
            if len(emb) != len(gi):
                raise ValueError(f'{results.get("img_path")}: {len(emb)} embeddings for {len(gi)} boxes (a box '
                                 'transform dropped boxes: put LoadObjectEmbeddings after it, or drop rows too)')
            gi.embeds = torch.from_numpy(emb.reshape(len(gi), -1))
        return out


# --------------------------------------------------------------------------------------------------
# generated oriented objects
# --------------------------------------------------------------------------------------------------
def _background(rng: np.random.Generator, H: int, W: int) -> np.ndarray:
    import cv2
    base = rng.uniform(70, 130, 3)
    noise = rng.normal(0, 1, (H // 16 + 2, W // 16 + 2, 3)).astype(np.float32)
    smooth = cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC) * 14
    fine = rng.normal(0, 4, (H, W, 3))
    return np.clip(base + smooth + fine, 0, 255)


def synth_object_image(rng: np.random.Generator, size: Tuple[int, int] = (256, 256), n_objects: int = 12,
                       classes: Sequence[int] = (0, 1, 2)) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated image of non-overlapping oriented objects.

    Returns ``(img (H, W, 3) uint8 RGB, boxes (N, 5) le90 float32, labels (N,) int64)``; each class has
    its own size, aspect-ratio range and colour (:data:`SYNTH_CLASSES`)."""
    import cv2
    import shapely

    from geoperc.ops.rotated import rbox_to_corners, regularize_le90
    H, W = size
    img = _background(rng, H, W)
    boxes, labels, polys = [], [], []
    for _ in range(n_objects * 20):
        if len(boxes) == n_objects:
            break
        c = int(rng.choice(list(classes)))
        (l0, l1), (r0, r1), colour = _SYNTH_SPEC[c]
        w = rng.uniform(l0, l1)
        h = w / rng.uniform(r0, r1)
        a = rng.uniform(-np.pi / 2, np.pi / 2)
        m = w / 2 + 2
        cx, cy = rng.uniform(m, W - m), rng.uniform(m, H - m)
        box = regularize_le90(np.array([[cx, cy, w, h, a]]))[0]
        corners = rbox_to_corners(box[None])[0]
        poly = shapely.Polygon(corners)
        if any(poly.buffer(3).intersects(p) for p in polys):
            continue
        polys.append(poly)
        col = np.clip(np.asarray(colour) + rng.normal(0, 12, 3), 0, 255)
        cv2.fillPoly(img, [np.round(corners * 16).astype(np.int32)], col.tolist(), lineType=cv2.LINE_AA, shift=4)
        boxes.append(box)
        labels.append(c)
    img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    return img, np.asarray(boxes, np.float32).reshape(-1, 5), np.asarray(labels, np.int64)


def write_object_dataset(root: str, n_images: int = 4, size: Tuple[int, int] = (256, 256), n_objects: int = 12,
                         seed: int = 0, with_labels: bool = True, prefix: str = 'img') -> Dict[str, np.ndarray]:
    """Write :func:`synth_object_image` images in the DOTA layout (``images/*.png``,
    ``labelTxt/*.txt`` with :data:`SYNTH_CLASSES` names). Returns ``{image id: boxes}``."""
    import cv2

    from geoperc.models.detection.mutdet_pseudo import format_dota_line
    from geoperc.ops.rotated import rbox_to_corners
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    if with_labels:
        os.makedirs(osp.join(root, 'labelTxt'), exist_ok=True)
    out = {}
    for i in range(n_images):
        img, boxes, labels = synth_object_image(rng, size, n_objects)
        name = f'{prefix}{i:04d}'
        cv2.imwrite(osp.join(root, 'images', name + '.png'), img[..., ::-1])
        if with_labels:
            with open(osp.join(root, 'labelTxt', name + '.txt'), 'w') as f:
                for b, c in zip(rbox_to_corners(boxes), labels):
                    f.write(format_dota_line(b.reshape(-1), SYNTH_CLASSES[c]) + '\n')
        out[name] = boxes
    return out
