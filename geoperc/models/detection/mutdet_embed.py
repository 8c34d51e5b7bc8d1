"""MutDet step 2: object embeddings and pseudo-classes for every pseudo-box.

As the official feature-extraction config (``Tool_DOTA_train_Feats.py`` with the detector class
``ToolFeatPatchExtractorDetector``, as read for this project):
the patch is resized to 1024 (the official ``RResize``), normalised with the ImageNet mean / std, every
pseudo-box is enlarged x1.5 (w and h) and cropped to 224 x 224 with mmcv's ``RoIAlignRotated``
(sampling ratio 2, ``clockwise=True``: le90 with y down), the crop goes through a frozen ResNet-50
(torchvision ImageNet weights, from a *local* file) and layer4 (2048 x 7 x 7) is average-pooled to a
2048-d vector (:class:`ObjectEmbedder`).

The official step 1.5 then applies ``z = x A^T + b`` (a PCA to 256-d), L2-normalises, and assigns each
object to the nearest of 256 unit-norm centres by cosine similarity (``cluster_1 .. cluster_256``) --
but the code that *fits* ``A``, ``b`` and the centres (``meta_pca_info.pkl``) was never published.
geoperc fits them itself (:class:`EmbeddingSpace`, numpy only, documented choices):

* PCA on a random sample of at most ``fit_samples`` objects (seeded): ``A`` = the top ``dim`` right
  singular vectors of the centred sample (each flipped so its largest-magnitude entry is positive, so a
  refit is identical), ``b = -A mean``. With fewer samples than ``dim`` the missing components are zero
  rows (logged).
* Spherical k-means (cosine k-means: assign by the largest cosine, centre = normalised mean) on the
  L2-normalised PCA features of the same sample: k-means++ seeding (seeded), at most ``iters`` Lloyd
  iterations, empty clusters re-seeded with the worst-fitting points. faiss (the official dependency)
  is not needed.

Storage (read per image by step 3, :class:`geoperc.models.detection.mutdet_data.MutDetPretrainDataset`)::

    <out>/feats/<patch>.npy          (N, 2048) float16 raw features (pass 1; resumable)
    <out>/embedding_space.npz        A (256, 2048), b (256,), mean (2048,), centers (256, 256), settings
    <out>/embeddings/<patch>.npz     embeds (N, 256) float32, unit norm; labels (N,) int64 (0-based)
    <out>/labelTxt/<patch>.txt       the step-1 polygons with ``cluster_<k>`` labels (1-based, official)

The order of objects is the order of the step-1 ``labelTxt`` lines, so box i has embedding i.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

from geoperc.errors import CheckpointError, DatasetError, SettingsError
from geoperc.io.atomic import atomic_call

__all__ = ['ObjectEmbedder', 'roi_align_rotated_torch', 'EmbeddingSpace', 'fit_pca', 'spherical_kmeans',
           'extract_features', 'build_embeddings', 'cluster_classes', 'IMAGENET_MEAN', 'IMAGENET_STD']

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def cluster_classes(k: int = 256) -> Tuple[str, ...]:
    """The pseudo-class names, ``cluster_1 .. cluster_k`` (official)."""
    return tuple(f'cluster_{i + 1}' for i in range(k))


# --------------------------------------------------------------------------------------------------
# crops
# --------------------------------------------------------------------------------------------------
def roi_align_rotated_torch(img: torch.Tensor, rois: torch.Tensor, output_size: int, sampling_ratio: int = 2,
                            aligned: bool = True) -> torch.Tensor:
    """Pure-PyTorch rotated RoIAlign (mmcv semantics, ``clockwise=True``, spatial scale 1).

    ``rois`` ``(N, 6)``: batch index, cx, cy, w, h, angle (le90 radians). Each of the output's
    ``output_size**2`` bins averages ``sampling_ratio**2`` bilinear samples; samples outside the image
    read 0. Used where mmcv's compiled op is missing and to check it.
    """
    N = rois.shape[0]
    S, r = int(output_size), int(sampling_ratio)
    if N == 0:
        return img.new_zeros((0, img.shape[1], S, S))
    off = 0.5 if aligned else 0.0
    # sample positions in the box frame, in units of the box size, centred at 0
    t = (torch.arange(S * r, dtype=img.dtype, device=img.device) + 0.5) / (S * r) - 0.5
    gy, gx = torch.meshgrid(t, t, indexing='ij')
    b, cx, cy, w, h, a = rois.unbind(-1)
    cos, sin = torch.cos(a)[:, None, None], torch.sin(a)[:, None, None]
    px = gx[None] * w[:, None, None]
    py = gy[None] * h[:, None, None]
    x = cx[:, None, None] - off + px * cos - py * sin
    y = cy[:, None, None] - off + px * sin + py * cos
    H, W = img.shape[-2:]
    grid = torch.stack([(x + 0.5) / W * 2 - 1, (y + 0.5) / H * 2 - 1], -1)  # align_corners=False
    out = []
    for i in range(N):
        out.append(F.grid_sample(img[int(b[i])][None], grid[i][None], mode='bilinear', padding_mode='zeros',
                                 align_corners=False))
    out = torch.cat(out)
    return F.avg_pool2d(out, r) if r > 1 else out


class ObjectEmbedder(nn.Module):
    """Frozen ResNet embedding of rotated crops (official step 1.4, see the module docstring).

    Args:
        weights: local torchvision ResNet checkpoint (e.g. ``resnet50-0676ba61.pth``). None builds a
            random network and warns loudly: only for tests and the demo, the embeddings are then
            meaningless for pre-training.
        arch: ``'resnet50'`` (official, 2048-d) or another torchvision ResNet (``'resnet18'``: 512-d,
            for quick runs).
        scale: box enlargement (official 1.5).
        crop_size: crop side (official 224; layer4 is then 7 x 7 and the pool is the official 7 x 7 one;
            other sizes pool adaptively over the whole layer4 map).
        sampling_ratio: RoIAlignRotated samples per bin and axis (official 2).
        resize: the patch's longer side is resized to this before cropping (official 1024, ``RResize``);
            None crops at native resolution.
        use_mmcv: use mmcv's compiled ``RoIAlignRotated`` (else :func:`roi_align_rotated_torch`).
        batch_size: crops per forward pass.
        seed: initialisation seed of the network (what is left random without ``weights``).
    """

    def __init__(self, weights: Optional[str] = None, arch: str = 'resnet50', scale: float = 1.5,
                 crop_size: int = 224, sampling_ratio: int = 2, resize: Optional[int] = 1024,
                 use_mmcv: bool = True, batch_size: int = 32, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 seed: int = 0):
        super().__init__()
        import torchvision
        if not hasattr(torchvision.models, arch) or not arch.startswith('resnet'):
            raise SettingsError(f'arch must be a torchvision ResNet (resnet18/34/50/101/152), got {arch!r}')
        with torch.random.fork_rng():  # a random network (tests, demo) is the same on every run
            torch.manual_seed(seed)
            net = getattr(torchvision.models, arch)(weights=None)
        if weights:
            from geoperc.models.backbones.pretrained import read_state_dict
            if not osp.isfile(weights):
                raise CheckpointError(f'{weights}: ResNet weights file not found (nothing is downloaded)')
            sd = {k: v for k, v in read_state_dict(weights).items() if not k.startswith('fc.')}
            res = net.load_state_dict(sd, strict=False)
            missing = [k for k in res.missing_keys if not k.startswith('fc.')]
            if missing or res.unexpected_keys:
                raise CheckpointError(f'{weights}: not a torchvision {arch} checkpoint (missing {missing[:3]}, '
                                      f'unexpected {res.unexpected_keys[:3]})')
        else:
            print_log('#' * 80 + f'\nObjectEmbedder: NO WEIGHTS given, {arch} is RANDOMLY initialised; the '
                      'object embeddings are only good for tests and the demo. Pass a local torchvision '
                      'ImageNet checkpoint for real pre-training.\n' + '#' * 80, logger='current',
                      level=30)
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2,
                                  net.layer3, net.layer4)
        self.out_dim = net.fc.in_features
        self.scale, self.crop_size, self.sampling_ratio = float(scale), int(crop_size), int(sampling_ratio)
        self.resize, self.use_mmcv, self.batch_size = resize, use_mmcv, int(batch_size)
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # frozen: BN statistics never update
        return super().train(False)

    def crops(self, img: np.ndarray, boxes: np.ndarray) -> torch.Tensor:
        """``img`` ``(H, W, 3)`` uint8 RGB, ``boxes`` ``(N, 5)`` le90 in its pixels -> normalised
        ``(N, 3, crop, crop)`` crops of the boxes enlarged by :attr:`scale`."""
        x = torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1)[None].float()
        f = 1.0
        if self.resize:
            f = self.resize / max(x.shape[-2:])
            if f != 1.0:
                x = F.interpolate(x, scale_factor=f, mode='bilinear', align_corners=False)
        x = ((x - self.mean) / self.std).contiguous()  # the compiled op reads contiguous memory
        b = torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 5))
        rois = torch.cat([torch.zeros(len(b), 1), b[:, :2] * f, b[:, 2:4] * f * self.scale, b[:, 4:]], 1)
        if self.use_mmcv:
            try:
                from mmcv.ops import RoIAlignRotated
            except (ImportError, OSError) as e:
                from geoperc.ops.rotated import MMCV_OPS_HINT
                raise ImportError(f'{MMCV_OPS_HINT.replace("rotated NMS", "RoIAlignRotated")} ({e}); or '
                                  'use_mmcv=False for the pure-PyTorch path') from e
            op = RoIAlignRotated(self.crop_size, 1.0, self.sampling_ratio, aligned=True, clockwise=True)
            return op(x, rois)
        return roi_align_rotated_torch(x, rois, self.crop_size, self.sampling_ratio)

    @torch.no_grad()
    def embed_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """``(N, 3, s, s)`` normalised crops -> ``(N, out_dim)`` pooled layer4 features."""
        out = []
        for i in range(0, len(crops), self.batch_size):
            f = self.body(crops[i:i + self.batch_size])
            out.append(F.avg_pool2d(f, 7) .flatten(1) if f.shape[-2:] == (7, 7)
                       else F.adaptive_avg_pool2d(f, 1).flatten(1))
        return torch.cat(out) if out else crops.new_zeros((0, self.out_dim))

    @torch.no_grad()
    def forward(self, img: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(N, out_dim)`` float32 features of ``boxes`` in ``img``."""
        if len(boxes) == 0:
            return np.zeros((0, self.out_dim), np.float32)
        return self.embed_crops(self.crops(img, boxes)).numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------------
# PCA + spherical k-means
# --------------------------------------------------------------------------------------------------
def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def fit_pca(x: np.ndarray, dim: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` ``(N, D)`` -> ``(A (dim, D), b (dim,), mean (D,))`` with ``z = x A^T + b`` the PCA
    projection; deterministic signs; zero rows when the sample has fewer than ``dim`` components."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    keep = min(dim, int(np.sum(s > s.max() * 1e-9)) if s.size else 0)
    A = np.zeros((dim, x.shape[1]))
    comp = vt[:keep]
    sign = np.sign(comp[np.arange(keep), np.abs(comp).argmax(1)])
    A[:keep] = comp * sign[:, None]
    if keep < dim:
        print_log(f'PCA: only {keep} components from {len(x)} samples; the other {dim - keep} of {dim} '
                  'output dimensions are zero', logger='current', level=30)
    return A, -A @ mean, mean


def spherical_kmeans(z: np.ndarray, k: int, iters: int = 50, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Cosine k-means on unit vectors ``z`` ``(N, d)`` -> ``(centers (k, d) unit norm, labels (N,))``.

    k-means++ seeding with distance ``1 - cos``; Lloyd iterations until the labels stop changing or
    ``iters``; an empty cluster takes the point farthest from its centre. With ``N < k`` the centres
    are the points themselves plus repeats (so every label is still valid)."""
    rng = np.random.default_rng(seed)
    z = _normalize(np.asarray(z, np.float64))
    N = len(z)
    if N == 0:
        raise DatasetError('no object embeddings to cluster (step 1 found no pseudo-boxes?)')
    first = int(rng.integers(N))
    centers = [z[first]]
    d = 1 - z @ z[first]
    for _ in range(1, k):
        p = np.clip(d, 0, None) ** 2
        idx = int(rng.choice(N, p=p / p.sum())) if p.sum() > 1e-12 else int(rng.integers(N))
        centers.append(z[idx])
        d = np.minimum(d, 1 - z @ z[idx])
    c = np.stack(centers)
    labels = np.full(N, -1)
    for _ in range(iters):
        sims = z @ c.T
        new = sims.argmax(1)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(c)
        np.add.at(sums, labels, z)
        best = sims[np.arange(N), labels]
        for j in np.flatnonzero(counts == 0):
            far = int(best.argmin())
            sums[j] = z[far]
            best[far] = np.inf
        c = _normalize(sums)
    return c.astype(np.float32), (z @ c.T).argmax(1)


class EmbeddingSpace:
    """The fitted PCA + pseudo-class centres; ``transform`` -> unit embeddings, ``assign`` -> labels."""

    def __init__(self, A: np.ndarray, b: np.ndarray, centers: np.ndarray, mean: Optional[np.ndarray] = None,
                 settings: Optional[dict] = None):
        self.A, self.b = np.asarray(A, np.float32), np.asarray(b, np.float32)
        self.centers = _normalize(np.asarray(centers, np.float32))
        self.mean = None if mean is None else np.asarray(mean, np.float32)
        self.settings = dict(settings or {})

    @classmethod
    def fit(cls, feats: np.ndarray, dim: int = 256, k: int = 256, iters: int = 50, seed: int = 0,
            settings: Optional[dict] = None) -> 'EmbeddingSpace':
        A, b, mean = fit_pca(feats, dim)
        z = _normalize(np.asarray(feats, np.float64) @ A.T + b)
        centers, _ = spherical_kmeans(z, k, iters=iters, seed=seed)
        s = dict(dim=dim, k=k, iters=iters, seed=seed, fit_objects=int(len(feats)))
        s.update(settings or {})
        return cls(A, b, centers, mean, s)

    def transform(self, feats: np.ndarray) -> np.ndarray:
        """``(N, D)`` features -> ``(N, dim)`` unit-norm embeddings (official: ``x A^T + b``, L2)."""
        return _normalize(np.asarray(feats, np.float32) @ self.A.T + self.b).astype(np.float32)

    def assign(self, embeds: np.ndarray) -> np.ndarray:
        """Unit embeddings -> 0-based pseudo-class of the most cosine-similar centre."""
        return (np.asarray(embeds, np.float32) @ self.centers.T).argmax(1).astype(np.int64) \
            if len(embeds) else np.zeros(0, np.int64)

    def save(self, path: str) -> None:
        tmp = path + '.tmp.npz'
        np.savez(tmp, A=self.A, b=self.b, centers=self.centers,
                 mean=self.mean if self.mean is not None else np.zeros(0, np.float32),
                 settings=np.array(json.dumps(self.settings)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> 'EmbeddingSpace':
        if not osp.isfile(path):
            raise DatasetError(f'{path}: embedding space file not found (run data_prep/mutdet/embeddings.py)')
        with np.load(path, allow_pickle=False) as d:
            mean = d['mean'] if d['mean'].size else None
            return cls(d['A'], d['b'], d['centers'], mean, json.loads(str(d['settings'])))


# --------------------------------------------------------------------------------------------------
# the step-2 run
# --------------------------------------------------------------------------------------------------
def _read_boxes(txt: str) -> Tuple[np.ndarray, np.ndarray]:
    from geoperc.datasets.detection.dota import parse_dota_txt, polygons_to_le90
    try:
        objs = parse_dota_txt(txt)['objects']
    except ValueError as e:
        raise DatasetError(str(e)) from e
    polys = np.array([o[0] for o in objs], np.float64).reshape(-1, 8)
    return polys, polygons_to_le90(polys)


def _patches(step1_dir: str) -> List[Tuple[str, str, str]]:
    ann, img = osp.join(step1_dir, 'labelTxt'), osp.join(step1_dir, 'images')
    if not osp.isdir(ann) or not osp.isdir(img):
        raise DatasetError(f'{step1_dir}: not a pseudo-box folder (needs images/ and labelTxt/; run '
                           'data_prep/mutdet/pseudo_boxes.py first)')
    images = {osp.splitext(f)[0]: osp.join(img, f) for f in os.listdir(img) if not f.startswith('.')}
    out = []
    for f in sorted(os.listdir(ann)):
        if f.endswith('.txt') and not f.startswith('.'):
            stem = f[:-4]
            if stem not in images:
                raise DatasetError(f'{osp.join(ann, f)}: no image {stem}.* in {img}')
            out.append((stem, images[stem], osp.join(ann, f)))
    if not out:
        raise DatasetError(f'{ann}: no labelTxt files')
    return out


def extract_features(step1_dir: str, out_dir: str, embedder: ObjectEmbedder, progress: bool = True,
                     overwrite: bool = False) -> Dict[str, int]:
    """Pass 1: raw features of every pseudo-box, ``<out>/feats/<patch>.npy``; finished patches are
    skipped (resumable). Returns ``{patch: number of objects}``."""
    import cv2
    from tqdm import tqdm
    os.makedirs(osp.join(out_dir, 'feats'), exist_ok=True)
    counts = {}
    todo = []
    for stem, img_path, txt in _patches(step1_dir):
        dst = osp.join(out_dir, 'feats', stem + '.npy')
        if osp.exists(dst) and not overwrite:
            counts[stem] = int(np.load(dst, mmap_mode='r').shape[0])
        else:
            todo.append((stem, img_path, txt, dst))
    for stem, img_path, txt, dst in tqdm(todo, desc='object embeddings', unit='patch',
                                         disable=not progress or not todo):
        img = cv2.imread(img_path, cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f'{img_path}: cannot read the image')
        _, boxes = _read_boxes(txt)
        feats = embedder(img[..., ::-1], boxes).astype(np.float16)
        atomic_call(dst, lambda tmp: np.save(tmp, feats))
        counts[stem] = len(feats)
    return counts


def build_embeddings(step1_dir: str, out_dir: str, embedder: Optional[ObjectEmbedder] = None, dim: int = 256,
                     k: int = 256, fit_samples: int = 100_000, iters: int = 50, seed: int = 0,
                     refit: bool = False, progress: bool = True) -> dict:
    """Run step 2 (see the module docstring): features, the PCA / k-means fit, per-image embeddings and
    the ``cluster_<k>`` labelTxt. An existing ``embedding_space.npz`` is reused unless ``refit``."""
    from tqdm import tqdm

    from geoperc.models.detection.mutdet_pseudo import format_dota_line
    embedder = embedder or ObjectEmbedder()
    counts = extract_features(step1_dir, out_dir, embedder, progress=progress)
    space_path = osp.join(out_dir, 'embedding_space.npz')
    if osp.exists(space_path) and not refit:
        space = EmbeddingSpace.load(space_path)
        if (space.settings.get('dim'), space.settings.get('k')) != (dim, k):
            raise SettingsError(f'{space_path}: fitted with dim={space.settings.get("dim")}, '
                                f'k={space.settings.get("k")}; pass --refit to fit dim={dim}, k={k}')
    else:
        stems = sorted(counts)
        total = sum(counts.values())
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(total, size=min(fit_samples, total), replace=False)) if total else np.zeros(0, int)
        starts = np.cumsum([0] + [counts[s] for s in stems])
        sample = []
        for i, s in enumerate(stems):
            sel = pick[(pick >= starts[i]) & (pick < starts[i + 1])] - starts[i]
            if len(sel):
                sample.append(np.load(osp.join(out_dir, 'feats', s + '.npy'))[sel].astype(np.float32))
        if not sample:
            raise DatasetError(f'{step1_dir}: no pseudo-boxes in any patch; nothing to fit')
        space = EmbeddingSpace.fit(np.concatenate(sample), dim=dim, k=k, iters=iters, seed=seed,
                                   settings=dict(feature_dim=embedder.out_dim, step1_dir=osp.abspath(step1_dir)))
        space.save(space_path)
    for sub in ('embeddings', 'labelTxt'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    hist = np.zeros(k, np.int64)
    for stem, _, txt in tqdm(_patches(step1_dir), desc='pseudo-classes', unit='patch', disable=not progress):
        feats = np.load(osp.join(out_dir, 'feats', stem + '.npy')).astype(np.float32)
        polys, _ = _read_boxes(txt)
        if len(polys) != len(feats):
            raise DatasetError(f'{txt}: {len(polys)} boxes but {len(feats)} features; rerun step 2 with '
                               'the features of this patch removed')
        emb = space.transform(feats) if len(feats) else np.zeros((0, dim), np.float32)
        lab = space.assign(emb)
        hist += np.bincount(lab, minlength=k)
        atomic_call(osp.join(out_dir, 'embeddings', stem + '.npz'),
                lambda tmp: np.savez(tmp, embeds=emb, labels=lab))

        def _txt(tmp, polys=polys, lab=lab):
            with open(tmp, 'w') as f:
                f.writelines(format_dota_line(p, f'cluster_{int(c) + 1}') + '\n' for p, c in zip(polys, lab))
        atomic_call(osp.join(out_dir, 'labelTxt', stem + '.txt'), _txt)
    return dict(patches=len(counts), objects=int(sum(counts.values())), space=space_path,
                used_classes=int((hist > 0).sum()), out_dir=osp.abspath(out_dir))
