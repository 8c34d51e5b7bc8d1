"""Tiny copies of the public change-detection releases' on-disk layouts, generated from
:func:`geoperc.testing.change_scene.synth_change_pair` (nothing is downloaded).

Each writer creates the folder names, file suffixes, label encodings and (optionally) image sizes of
its release, with a few pairs per split, and returns the root a dataset's ``data_root`` points at.
File names follow the release's style. Labels are written as the release stores them (0 / 255 PNG,
JPEG for CDD), so the readers are tested against the real encodings.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .change_scene import synth_change_pair

DEFAULT_SPLITS = {'train': 2, 'val': 1, 'test': 1}


def _imwrite(path: str, arr: np.ndarray, quality: int = 95) -> None:
    """Write an (H, W) or (C, H, W) RGB-ordered array as PNG/JPEG."""
    import cv2
    if arr.ndim == 3:
        arr = arr.transpose(1, 2, 0)
        if arr.shape[2] == 3:
            arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)
        elif arr.shape[2] == 4:
            arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.lower().endswith(('.jpg', '.jpeg')) else []
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(arr), params):
        raise OSError(f'could not write {path}')


def write_pairs(root: str, folders: Tuple[str, str, str], splits: Optional[Dict[str, int]] = None,
                size: int = 64, bands: int = 3, img_ext: str = '.png', label_ext: str = '.png',
                name_fmt: str = '{split}_{i}', seed: int = 0, label_folders: Optional[Sequence[str]] = None,
                split_dirs: bool = True) -> Dict[str, int]:
    """Write ``<root>/<split>/<A>|<B>|<label>/<name><ext>`` pairs; labels 0 / 255.

    Args:
        label_folders: write the label into these folders instead of ``folders[2]``; two folders
            receive the left / right part of the change mask (their union is the mask), as
            S2Looking's ``label1`` / ``label2``.
        split_dirs: False writes the three folders directly under ``root`` (one split, the first).

    Returns:
        dict: pairs written per split.
    """
    rng = np.random.default_rng(seed)
    splits = dict(splits or DEFAULT_SPLITS)
    if not split_dirs:
        splits = dict([next(iter(splits.items()))])
    for split, n in splits.items():
        base = osp.join(root, split) if split_dirs else root
        for i in range(1, n + 1):
            img1, img2, lab, _ = synth_change_pair(rng, size, size, bands)
            name = name_fmt.format(split=split, i=i)
            _imwrite(osp.join(base, folders[0], name + img_ext), img1)
            _imwrite(osp.join(base, folders[1], name + img_ext), img2)
            lab255 = (lab * 255).astype(np.uint8)
            if label_folders:
                if len(label_folders) == 2:
                    left = lab255.copy()
                    left[:, size // 2:] = 0
                    right = lab255.copy()
                    right[:, :size // 2] = 0
                    parts = [left, right]
                else:
                    parts = [lab255] * len(label_folders)
                for f, part in zip(label_folders, parts):
                    _imwrite(osp.join(base, f, name + label_ext), part)
            else:
                _imwrite(osp.join(base, folders[2], name + label_ext), lab255)
    return splits


def write_levircd(root: str, splits=None, size: int = 64, seed: int = 0) -> str:
    """LEVIR-CD: ``{train,val,test}/{A,B,label}/<split>_<i>.png`` (release: 1024 px, 445/64/128)."""
    write_pairs(root, ('A', 'B', 'label'), splits, size, name_fmt='{split}_{i}', seed=seed)
    return root


def write_cdd(root: str, splits=None, size: int = 64, seed: int = 0, nested: bool = True) -> str:
    """CDD: ``ChangeDetectionDataset/Real/subset/{train,val,test}/{A,B,OUT}/<i:05d>.jpg`` (JPEG images
    and masks). Returns ``root`` (the archive's top folder) when ``nested`` else the subset folder."""
    sub = osp.join(root, 'Real', 'subset') if nested else root
    write_pairs(sub, ('A', 'B', 'OUT'), splits, size, img_ext='.jpg', label_ext='.jpg',
                name_fmt='{i:05d}', seed=seed)
    return root


def write_clcd(root: str, splits=None, size: int = 64, seed: int = 0) -> str:
    """CLCD: ``{train,val,test}/{time1,time2,label}/<i>.png`` (release: 512 px, 360/120/120)."""
    write_pairs(root, ('time1', 'time2', 'label'), splits, size, name_fmt='{i}', seed=seed)
    return root


def write_s2looking(root: str, splits=None, size: int = 64, seed: int = 0, label: str = 'all') -> str:
    """S2Looking: ``{train,val,test}/{Image1,Image2,...}/<i>.png``.

    ``label``: ``'all'`` writes ``label``, ``label1`` and ``label2`` (the release); ``'label'`` only
    ``label``; ``'split'`` only ``label1`` / ``label2`` (newly built / demolished, united by the reader).
    """
    folders = {'all': ('label1', 'label2'), 'label': None, 'split': ('label1', 'label2')}[label]
    write_pairs(root, ('Image1', 'Image2', 'label'), splits, size, name_fmt='{i}', seed=seed,
                label_folders=folders)
    if label == 'all':  # the union as ``label``
        write_pairs(root, ('Image1', 'Image2', 'label'), splits, size, name_fmt='{i}', seed=seed)
    return root


def write_gzcd(root: str, splits=None, size: int = 64, seed: int = 0, raw: bool = False) -> str:
    """GZ-CD: cropped split copy ``{train,val,test}/{A,B,label}/<i>.png``, or with ``raw`` the
    release's three folders ``T1``, ``T2``, ``labels_change`` of full scenes (PNG here)."""
    if raw:
        write_pairs(root, ('T1', 'T2', 'labels_change'), splits, size, name_fmt='P_GZ_{i}', seed=seed,
                    split_dirs=False)
    else:
        write_pairs(root, ('A', 'B', 'label'), splits, size, name_fmt='{i}', seed=seed)
    return root


def write_list_file(root: str, ann_file: str = 'train.txt', split: str = 'train',
                    absolute: bool = False, size: int = 64, seed: int = 0, n: int = 3) -> str:
    """A LEVIR-style copy plus a LENet list file ``<root>/<ann_file>`` of ``A B label`` lines (paths
    relative to ``root`` unless ``absolute``). Returns the list file's path."""
    write_levircd(root, {split: n}, size=size, seed=seed)
    lines = []
    for i in range(1, n + 1):
        rel = [osp.join(split, f, f'{split}_{i}.png') for f in ('A', 'B', 'label')]
        paths = [osp.abspath(osp.join(root, p)) for p in rel] if absolute else rel
        lines.append('  '.join(paths))
    path = osp.join(root, ann_file)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path
