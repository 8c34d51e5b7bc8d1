"""SemanticKITTI semantic scene completion (SSC) files, read exactly as released.

Behley et al., "SemanticKITTI: A Dataset for Semantic Scene Understanding of LiDAR Sequences", ICCV 2019;
file formats as documented and read by the official devkit ``PRBonn/semantic-kitti-api``
(``auxiliary/SSCDataset.py``, ``evaluate_completion.py``) and by the camera-based SSC code that VPOcc
builds on (MonoScene / Symphonies).

Release layout (``<root>`` = the folder holding ``sequences/``; KITTI odometry's ``dataset/`` level is
accepted too)::

    sequences/XX/image_2/NNNNNN.png          left colour camera (every frame)
    sequences/XX/calib.txt                   "P0: ..12 floats", P1, P2, P3, "Tr: ..12 floats"
    sequences/XX/poses.txt                   one 3x4 row-major camera pose per frame (camera-0 frame)
    sequences/XX/voxels/NNNNNN.bin           input occupancy, bit-packed, 256*256*32 bits (all splits)
    sequences/XX/voxels/NNNNNN.label         uint16 raw label id per voxel (train/val only)
    sequences/XX/voxels/NNNNNN.invalid       bit-packed: 1 = never observed, excluded from evaluation
    sequences/XX/voxels/NNNNNN.occluded      bit-packed: 1 = occluded in the current scan
    vanishing_points/seq_XX.json             VPOcc (NeurVPS, offline): {image key: [[x, y], ...]}

Facts (verified against the devkit and VPOcc/MonoScene code, see the module tests):

* Voxels exist for every 5th frame (000000, 000005, ...). The grid is ``(X, Y, Z) = (256, 256, 32)``,
  C order (Z fastest), 0.2 m voxels, origin ``(0, -25.6, -2)`` m in the LiDAR (velodyne) frame, so it covers
  x in [0, 51.2], y in [-25.6, 25.6], z in [-2, 4.4].
* Bit-packed files hold 8 voxels per byte, most significant bit first (``np.unpackbits`` order; the
  devkit's ``unpack`` shifts ``>> 7 .. >> 0``).
* ``.label`` is ``uint16`` per voxel (for point clouds it is uint32 with the instance id in the upper 16
  bits; voxel labels carry only the semantic id).
* Completion remapping: raw ids go through ``learning_map``; every raw id that maps to 0 *except raw 0*
  (outlier, other-structure, other-object, ...) becomes 255 "invalid", and only raw 0 stays 0 "empty".
  Voxels flagged ``.invalid`` become 255 as well. Class 0 is therefore *empty*, not "unlabeled".
* Splits: train 00-07, 09, 10; val 08; test 11-21 (test has only ``.bin`` and images).
* ``poses.txt`` is in the left camera frame; the LiDAR-frame pose is ``inv(Tr) @ pose @ Tr``.
* VPOcc's JSON keys are ``SemanticKITTI/dataset/sequences/XX/image_2/NNNNNN.png`` and the first entry of
  each value is the vanishing point ``(x, y)`` in image pixels.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_call

__all__ = ['write_ssc_targets', 'VOXEL_DIMS', 'VOXEL_SIZE', 'VOXEL_ORIGIN', 'SPLIT_SEQUENCES', 'SSC_CLASSES', 'LabelConfig',
           'default_label_config', 'load_label_config', 'completion_remap_lut', 'unpack_bits', 'pack_bits',
           'read_voxel_bits', 'write_voxel_bits', 'read_voxel_label', 'write_voxel_label',
           'read_ssc_target', 'write_prediction_label', 'read_calib', 'write_calib', 'read_poses',
           'write_poses', 'poses_to_lidar', 'read_vanishing_points', 'lookup_vanishing_point',
           'voxel_centers', 'find_sequences_root', 'downsample_label', 'write_vanishing_points',
           'vp_json_key', 'write_submission_zip', 'KITTI360_SPLIT_SEQUENCES', 'KITTI360_CLASSES',
           'kitti360_calib']

VOXEL_DIMS: Tuple[int, int, int] = (256, 256, 32)
VOXEL_SIZE: float = 0.2
VOXEL_ORIGIN: Tuple[float, float, float] = (0.0, -25.6, -2.0)
SPLIT_SEQUENCES: Dict[str, Tuple[str, ...]] = {
    'train': ('00', '01', '02', '03', '04', '05', '06', '07', '09', '10'),
    'val': ('08',),
    'test': ('11', '12', '13', '14', '15', '16', '17', '18', '19', '20', '21'),
}

# --- the standard 20-class SSC label set (semantic-kitti.yaml), written from the public table -----------
# raw id: (name, learning id, BGR colour)
_RAW_LABELS = {
    0: ('unlabeled', 0, (0, 0, 0)),
    1: ('outlier', 0, (0, 0, 255)),
    10: ('car', 1, (245, 150, 100)),
    11: ('bicycle', 2, (245, 230, 100)),
    13: ('bus', 5, (250, 80, 100)),
    15: ('motorcycle', 3, (150, 60, 30)),
    16: ('on-rails', 5, (255, 0, 0)),
    18: ('truck', 4, (180, 30, 80)),
    20: ('other-vehicle', 5, (255, 0, 0)),
    30: ('person', 6, (30, 30, 255)),
    31: ('bicyclist', 7, (200, 40, 255)),
    32: ('motorcyclist', 8, (90, 30, 150)),
    40: ('road', 9, (255, 0, 255)),
    44: ('parking', 10, (255, 150, 255)),
    48: ('sidewalk', 11, (75, 0, 75)),
    49: ('other-ground', 12, (75, 0, 175)),
    50: ('building', 13, (0, 200, 255)),
    51: ('fence', 14, (50, 120, 255)),
    52: ('other-structure', 0, (0, 150, 255)),
    60: ('lane-marking', 9, (170, 255, 150)),
    70: ('vegetation', 15, (0, 175, 0)),
    71: ('trunk', 16, (0, 60, 135)),
    72: ('terrain', 17, (80, 240, 150)),
    80: ('pole', 18, (150, 240, 255)),
    81: ('traffic-sign', 19, (0, 0, 255)),
    99: ('other-object', 0, (255, 255, 50)),
    252: ('moving-car', 1, (245, 150, 100)),
    253: ('moving-bicyclist', 7, (200, 40, 255)),
    254: ('moving-person', 6, (30, 30, 255)),
    255: ('moving-motorcyclist', 8, (90, 30, 150)),
    256: ('moving-on-rails', 5, (255, 0, 0)),
    257: ('moving-bus', 5, (250, 80, 100)),
    258: ('moving-truck', 4, (180, 30, 80)),
    259: ('moving-other-vehicle', 5, (255, 0, 0)),
}
# learning id -> raw id (the inverse map used to write test predictions)
_LEARNING_MAP_INV = {0: 0, 1: 10, 2: 11, 3: 15, 4: 18, 5: 20, 6: 30, 7: 31, 8: 32, 9: 40, 10: 44, 11: 48,
                     12: 49, 13: 50, 14: 51, 15: 70, 16: 71, 17: 72, 18: 80, 19: 81}
#: The 20 SSC classes, index = learning id; 0 is *empty* for completion.
SSC_CLASSES: Tuple[str, ...] = ('empty',) + tuple(_RAW_LABELS[_LEARNING_MAP_INV[i]][0] for i in range(1, 20))


@dataclass
class LabelConfig:
    """A ``semantic-kitti.yaml``-style label configuration.

    Attributes:
        labels: raw id -> name.
        color_map: raw id -> colour, **BGR** as in the YAML.
        learning_map: raw id -> learning (training) id.
        learning_map_inv: learning id -> raw id.
        learning_ignore: learning id -> ignored in (point-cloud) evaluation.
        split: ``{'train': [...], 'valid': [...], 'test': [...]}`` sequence numbers (ints).
    """
    labels: Dict[int, str]
    color_map: Dict[int, Tuple[int, int, int]]
    learning_map: Dict[int, int]
    learning_map_inv: Dict[int, int]
    learning_ignore: Dict[int, bool] = field(default_factory=dict)
    split: Dict[str, List[int]] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.learning_map_inv)

    def class_names(self, empty_name: str = 'empty') -> Tuple[str, ...]:
        """Names per learning id; learning id 0 is called ``empty_name`` (voxels: empty space)."""
        names = [self.labels[self.learning_map_inv[i]] for i in range(self.num_classes)]
        names[0] = empty_name
        return tuple(names)

    def palette_rgb(self) -> np.ndarray:
        """``(num_classes, 3)`` uint8 RGB colour per learning id (the YAML stores BGR)."""
        pal = np.zeros((self.num_classes, 3), np.uint8)
        for i in range(self.num_classes):
            b, g, r = self.color_map[self.learning_map_inv[i]]
            pal[i] = (r, g, b)
        return pal


def default_label_config() -> LabelConfig:
    """The standard 20-class SemanticKITTI label configuration (no file needed)."""
    return LabelConfig(
        labels={k: v[0] for k, v in _RAW_LABELS.items()},
        color_map={k: v[2] for k, v in _RAW_LABELS.items()},
        learning_map={k: v[1] for k, v in _RAW_LABELS.items()},
        learning_map_inv=dict(_LEARNING_MAP_INV),
        learning_ignore={i: i == 0 for i in range(20)},
        split={'train': [0, 1, 2, 3, 4, 5, 6, 7, 9, 10], 'valid': [8], 'test': list(range(11, 22))})


def load_label_config(path: Optional[str] = None) -> LabelConfig:
    """Read a ``semantic-kitti.yaml``-style file (keys ``labels``, ``color_map``, ``learning_map``,
    ``learning_map_inv``, optional ``learning_ignore`` and ``split``); ``None`` -> the built-in default."""
    if path is None:
        return default_label_config()
    import yaml
    if not osp.isfile(path):
        raise FileNotFoundError(f'label config not found: {path}')
    with open(path, encoding='utf-8') as f:
        d = yaml.safe_load(f)
    missing = [k for k in ('labels', 'color_map', 'learning_map', 'learning_map_inv') if k not in d]
    if missing:
        raise ValueError(f'{path}: missing keys {missing} (expected a semantic-kitti.yaml style file)')
    to_int = lambda m: {int(k): v for k, v in m.items()}  # noqa: E731
    inv = {int(k): int(v) for k, v in d['learning_map_inv'].items()}
    if sorted(inv) != list(range(len(inv))):
        raise ValueError(f'{path}: learning_map_inv keys must be 0..N-1, got {sorted(inv)}')
    return LabelConfig(labels={int(k): str(v) for k, v in d['labels'].items()},
                       color_map={int(k): tuple(int(c) for c in v) for k, v in d['color_map'].items()},
                       learning_map={int(k): int(v) for k, v in d['learning_map'].items()},
                       learning_map_inv=inv, learning_ignore=to_int(d.get('learning_ignore', {})),
                       split={k: [int(s) for s in v] for k, v in d.get('split', {}).items()})


def completion_remap_lut(learning_map: Dict[int, int]) -> np.ndarray:
    """Raw voxel label -> SSC target lookup table (uint8).

    ``learning_map`` is applied; raw ids mapped to 0 other than raw 0 become 255 (invalid), raw 0 stays 0
    (empty), and ids absent from the map become 255 too. The table has ``max_id + 100`` entries like the
    devkit's, and :func:`read_ssc_target` extends it if a file holds larger ids.
    """
    lut = np.full(max(learning_map) + 100, 255, np.uint8)
    for k, v in learning_map.items():
        lut[k] = 255 if v == 0 else v
    lut[0] = 0
    return lut


# --- bit-packed grids ---------------------------------------------------------------------------------
def unpack_bits(packed: np.ndarray) -> np.ndarray:
    """Bit-packed bytes -> 0/1 uint8, most significant bit first (the devkit's ``unpack``)."""
    return np.unpackbits(np.asarray(packed, np.uint8).reshape(-1), bitorder='big')


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """0/1 values (any shape, C order) -> bit-packed bytes, most significant bit first."""
    flat = np.asarray(bits).reshape(-1)
    if flat.size % 8:
        raise ValueError(f'{flat.size} voxels is not a multiple of 8 and cannot be bit-packed')
    return np.packbits(flat.astype(bool), bitorder='big')


def _check_size(path: str, n: int, shape: Sequence[int], what: str) -> None:
    expect = int(np.prod(shape))
    if n != expect:
        raise ValueError(f'{path}: {what} has {n} voxels, expected {expect} for grid {tuple(shape)} '
                         '(wrong file or grid_shape)')


def read_voxel_bits(path: str, shape: Sequence[int] = VOXEL_DIMS) -> np.ndarray:
    """Read a bit-packed grid (``.bin`` / ``.invalid`` / ``.occluded``) as uint8 0/1 of ``shape``."""
    bits = unpack_bits(np.fromfile(path, dtype=np.uint8))
    _check_size(path, bits.size, shape, 'bit grid')
    return bits.reshape(tuple(shape))


def write_voxel_bits(path: str, grid: np.ndarray) -> None:
    """Write a 0/1 grid bit-packed (``.bin`` / ``.invalid`` / ``.occluded`` format)."""
    atomic_call(path, pack_bits(grid).tofile)


def read_voxel_label(path: str, shape: Sequence[int] = VOXEL_DIMS) -> np.ndarray:
    """Read a voxel ``.label`` file: raw uint16 ids of ``shape``."""
    lab = np.fromfile(path, dtype=np.uint16)
    _check_size(path, lab.size, shape, 'label')
    return lab.reshape(tuple(shape))


def write_voxel_label(path: str, labels: np.ndarray) -> None:
    """Write raw ids as a uint16 ``.label`` file (C order)."""
    atomic_call(path, np.ascontiguousarray(labels, dtype=np.uint16).tofile)


def read_ssc_target(label_path: str, invalid_path: Optional[str] = None,
                    lut: Optional[np.ndarray] = None, shape: Sequence[int] = VOXEL_DIMS) -> np.ndarray:
    """SSC target for one frame: learning ids 0..C-1 (0 = empty), 255 = invalid / not evaluated.

    Args:
        label_path: the ``.label`` file.
        invalid_path: the ``.invalid`` file; voxels flagged there become 255. None: not applied.
        lut: raw -> target lookup (:func:`completion_remap_lut`); default: the standard learning map.
        shape: grid shape.

    Returns:
        ``(X, Y, Z)`` uint8 array.
    """
    if lut is None:
        lut = completion_remap_lut(default_label_config().learning_map)
    raw = read_voxel_label(label_path, shape)
    if raw.size and int(raw.max()) >= len(lut):
        lut = np.concatenate([lut, np.full(int(raw.max()) + 1 - len(lut), 255, np.uint8)])
    target = lut[raw]
    if invalid_path is not None:
        target[read_voxel_bits(invalid_path, shape).astype(bool)] = 255
    return target


def write_prediction_label(path: str, pred: np.ndarray, learning_map_inv: Optional[Dict[int, int]] = None
                           ) -> None:
    """Write an SSC prediction (learning ids) as the uint16 raw-id ``.label`` the benchmark expects
    (``sequences/XX/predictions/NNNNNN.label``), going through ``learning_map_inv``."""
    inv = learning_map_inv or default_label_config().learning_map_inv
    table = np.zeros(max(inv) + 1, np.uint16)
    for k, v in inv.items():
        table[k] = v
    pred = np.asarray(pred)
    if pred.size and (pred.min() < 0 or pred.max() > max(inv)):
        raise ValueError(f'prediction ids must be in 0..{max(inv)}, got {pred.min()}..{pred.max()}')
    write_voxel_label(path, table[pred.astype(np.int64)])


# --- calibration, poses, vanishing points ----------------------------------------------------------------
def read_calib(path: str) -> Dict[str, np.ndarray]:
    """Read ``calib.txt``: ``P0``..``P3`` as (3, 4) and ``Tr`` (velodyne -> camera 0) as (4, 4)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'calibration not found: {path}')
    raw = {}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if ':' not in line:
                raise ValueError(f'{path}:{lineno}: expected "KEY: values", got {line[:80]!r}')
            key, vals = line.split(':', 1)
            raw[key.strip()] = np.array([float(v) for v in vals.split()], np.float64)
    out = {}
    for k, v in raw.items():
        if v.size == 12:
            out[k] = v.reshape(3, 4)
    if 'Tr' in out:
        tr = np.eye(4)
        tr[:3] = out['Tr']
        out['Tr'] = tr
    for k in ('P2', 'Tr'):
        if k not in out:
            raise ValueError(f'{path}: no {k} (12 values) found; keys: {sorted(raw)}')
    return out


def write_calib(path: str, calib: Dict[str, np.ndarray]) -> None:
    """Write ``calib.txt`` lines ``KEY: 12 values`` (``Tr`` may be given as 4x4)."""
    lines = []
    for k in ('P0', 'P1', 'P2', 'P3', 'Tr'):
        if k in calib:
            m = np.asarray(calib[k], np.float64)[:3, :4].reshape(-1)
            lines.append(f'{k}: ' + ' '.join(f'{v:.12e}' for v in m))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def read_poses(path: str) -> np.ndarray:
    """Read ``poses.txt`` -> ``(N, 4, 4)`` camera-0 poses (row-major 3x4 per line)."""
    vals = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if vals.shape[1] != 12:
        raise ValueError(f'{path}: expected 12 values per line, got {vals.shape[1]}')
    poses = np.tile(np.eye(4), (len(vals), 1, 1))
    poses[:, :3, :] = vals.reshape(-1, 3, 4)
    return poses


def write_poses(path: str, poses: np.ndarray) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    np.savetxt(path, np.asarray(poses)[:, :3, :].reshape(len(poses), 12), fmt='%.9e')


def poses_to_lidar(poses: np.ndarray, tr: np.ndarray) -> np.ndarray:
    """Camera-0 poses -> LiDAR-frame poses: ``inv(Tr) @ pose @ Tr`` (semantic-kitti-api convention)."""
    tr_inv = np.linalg.inv(tr)
    return np.einsum('ij,njk,kl->nil', tr_inv, poses, tr)


def read_vanishing_points(path: str) -> Dict[str, np.ndarray]:
    """Read a VPOcc ``seq_XX.json``: image key -> first vanishing point ``(x, y)`` (float64 pixels).

    Values may be a list of points (VPOcc's NeurVPS output; the first is used, as VPOcc does) or a single
    ``[x, y]``.
    """
    with open(path, encoding='utf-8') as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        raise ValueError(f'{path}: expected a JSON object keyed by image path')
    out = {}
    for k, v in raw.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim == 2:
            a = a[0]
        if a.shape != (2,):
            raise ValueError(f'{path}: entry {k!r} is not [x, y] or [[x, y], ...]: {v!r}')
        out[k] = a
    return out


def lookup_vanishing_point(vps: Dict[str, np.ndarray], sequence: str, frame_id: str) -> Optional[np.ndarray]:
    """Find the VP of ``sequences/<sequence>/image_2/<frame_id>.png`` whatever prefix the keys carry."""
    tail = f'sequences/{sequence}/image_2/{frame_id}.png'
    for k, v in vps.items():
        if k.replace('\\', '/').endswith(tail):
            return v
    return None


def voxel_centers(shape: Sequence[int] = VOXEL_DIMS, voxel_size: float = VOXEL_SIZE,
                  origin: Sequence[float] = VOXEL_ORIGIN) -> np.ndarray:
    """``(X, Y, Z, 3)`` float32 centres of the voxels in the LiDAR frame (metres)."""
    axes = [origin[i] + (np.arange(shape[i], dtype=np.float64) + 0.5) * voxel_size for i in range(3)]
    return np.stack(np.meshgrid(*axes, indexing='ij'), -1).astype(np.float32)


def find_sequences_root(data_root: str) -> str:
    """``data_root/sequences`` or KITTI odometry's ``data_root/dataset/sequences``."""
    for cand in (osp.join(data_root, 'sequences'), osp.join(data_root, 'dataset', 'sequences')):
        if osp.isdir(cand):
            return cand
    raise FileNotFoundError(f'no sequences/ (or dataset/sequences/) folder under {data_root}')



# --- down-sampled targets, VP files, benchmark submission ---------------------------------------------
def downsample_label(label: np.ndarray, scale: int = 2, num_classes: int = 256, empty_ratio: float = 0.95
                     ) -> np.ndarray:
    """Down-sample an SSC target by ``scale`` per axis with the MonoScene / VoxFormer majority rule.

    For every ``scale^3`` block: if its empty (0) plus invalid (255) voxels exceed ``empty_ratio *
    scale^3``, the block becomes 0 when empties outnumber invalids and 255 otherwise; else it takes the most
    frequent class among its occupied valid voxels (ties -> the smallest id, as ``argmax(bincount)``).
    Vectorised over all blocks.
    """
    lab = np.asarray(label)
    if scale == 1:
        return lab.astype(np.uint8, copy=True)
    if any(s % scale for s in lab.shape):
        raise ValueError(f'grid {lab.shape} is not divisible by {scale}')
    X, Y, Z = (s // scale for s in lab.shape)
    blocks = lab.reshape(X, scale, Y, scale, Z, scale).transpose(0, 2, 4, 1, 3, 5).reshape(-1, scale ** 3)
    blocks = blocks.astype(np.int64)
    n_empty = (blocks == 0).sum(1)
    n_inv = (blocks == 255).sum(1)
    occ = (blocks > 0) & (blocks < 255)
    C = int(max(num_classes, blocks[occ].max() + 1 if occ.any() else 1))
    counts = np.zeros((len(blocks), C), np.int32)
    rows = np.broadcast_to(np.arange(len(blocks))[:, None], blocks.shape)
    np.add.at(counts, (rows[occ], blocks[occ]), 1)
    major = counts.argmax(1)
    mostly_free = (n_empty + n_inv) > empty_ratio * scale ** 3
    out = np.where(mostly_free, np.where(n_empty > n_inv, 0, 255), major)
    return out.reshape(X, Y, Z).astype(np.uint8)


def write_ssc_targets(prefix: str, target: np.ndarray) -> Tuple[str, str]:
    """Write ``<prefix>_1_1.npy`` (the full-resolution target) and ``<prefix>_1_2.npy`` (the
    :func:`downsample_label` 1:2 target, MonoScene/VoxFormer majority rule) atomically; returns both paths."""
    paths = []
    for suffix, arr in (('_1_1', target), ('_1_2', downsample_label(target, 2))):
        path = f'{prefix}{suffix}.npy'
        atomic_call(path, lambda tmp, a=arr: np.save(tmp, a))
        paths.append(path)
    return tuple(paths)


def vp_json_key(sequence: str, frame_id: str, camera: str = 'image_2', dataset: str = 'semantic_kitti') -> str:
    """The key VPOcc's JSON uses for a frame: ``SemanticKITTI/dataset/sequences/XX/image_2/NNNNNN.png`` or
    ``KITTI-360/<drive>/image_00/NNNNNNNNNN.png``."""
    if dataset == 'kitti360':
        return f'KITTI-360/{sequence}/{camera}/{frame_id}.png'
    return f'SemanticKITTI/dataset/sequences/{sequence}/{camera}/{frame_id}.png'


def write_vanishing_points(path: str, vps: Dict[str, Sequence[float]]) -> None:
    """Write a VPOcc ``seq_XX.json`` (``{key: [[x, y]]}``, the released format) atomically."""
    out = {k: [[float(v[0]), float(v[1])]] for k, v in vps.items()}
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = osp.join(d, f'.{osp.basename(path)}.tmp{os.getpid()}')
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(out, f)
    os.replace(tmp, path)


def write_submission_zip(path: str, predictions: Dict[Tuple[str, str], np.ndarray],
                         learning_map_inv: Optional[Dict[int, int]] = None, description: Optional[str] = None
                         ) -> str:
    """Zip test-set SSC predictions as the SemanticKITTI benchmark server expects:
    ``sequences/XX/predictions/NNNNNN.label`` (uint16 raw ids via ``learning_map_inv``) and, when given,
    ``description.txt``. ``predictions``: ``{(sequence, frame_id): (256, 256, 32) learning ids}``."""
    import tempfile
    import zipfile
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = osp.join(d, f'.{osp.basename(path)}.tmp{os.getpid()}')
    with tempfile.TemporaryDirectory() as td, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as zf:
        for (seq, fid), pred in sorted(predictions.items()):
            f = osp.join(td, f'{seq}_{fid}.label')
            write_prediction_label(f, pred, learning_map_inv)
            zf.write(f, f'sequences/{seq}/predictions/{fid}.label')
        if description:
            zf.writestr('description.txt', description)
    os.replace(tmp, path)
    return path


# --- SSCBench-KITTI-360 ----------------------------------------------------------------------------------
#: SSCBench-KITTI-360 splits (drives), as in the official VPOcc / Symphonies dataset
KITTI360_SPLIT_SEQUENCES: Dict[str, Tuple[str, ...]] = {
    'train': ('2013_05_28_drive_0004_sync', '2013_05_28_drive_0000_sync', '2013_05_28_drive_0010_sync',
              '2013_05_28_drive_0002_sync', '2013_05_28_drive_0003_sync', '2013_05_28_drive_0005_sync',
              '2013_05_28_drive_0007_sync'),
    'val': ('2013_05_28_drive_0006_sync',),
    'test': ('2013_05_28_drive_0009_sync',),
}
#: the 19 SSCBench-KITTI-360 classes (0 = empty)
KITTI360_CLASSES: Tuple[str, ...] = (
    'empty', 'car', 'bicycle', 'motorcycle', 'truck', 'other-vehicle', 'person', 'road', 'parking', 'sidewalk',
    'other-ground', 'building', 'fence', 'vegetation', 'terrain', 'pole', 'traffic-sign', 'other-structure',
    'other-object')


def kitti360_calib() -> Dict[str, np.ndarray]:
    """The fixed SSCBench-KITTI-360 calibration (``image_00`` rectified): ``P2`` (3, 4) and ``Tr``
    (velodyne -> camera, 4x4, the inverse of the published cam-to-velo matrix)."""
    P = np.array([[552.554261, 0.0, 682.049453, 0.0], [0.0, 552.554261, 238.769549, 0.0], [0.0, 0.0, 1.0, 0.0]])
    c2v = np.eye(4)
    c2v[:3] = [[0.04307104361, -0.08829286498, 0.995162929, 0.8043914418],
               [-0.999004371, 0.007784614041, 0.04392796942, 0.2993489574],
               [-0.01162548558, -0.9960641394, -0.08786966659, -0.1770225824]]
    return dict(P2=P, Tr=np.linalg.inv(c2v))
