"""Verify a downloaded copy of a change-detection release before training on it.

Read-only (so idempotent). Checks, per split: the folders exist, the file count matches the release,
date A / date B / label folders hold the same names, every image has the release's size and both
dates the same size, and label values are the release's encoding. Used by ``data_prep/*/check.py``.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import list_files, stem


@dataclass
class LayoutSpec:
    """What a release looks like on disk.

    Attributes:
        name: dataset name for messages.
        folders: (date A, date B, label) folder names inside each split.
        splits: expected pairs per split (``None`` = any non-zero count).
        img_suffix / seg_suffix: accepted file suffixes.
        size: expected (H, W) of every image, or None (any, but A, B and label must agree).
        label_values: allowed label values (after reducing colour labels with the max over bands).
        jpeg_labels: labels are JPEG: values may be near, not at, ``label_values``; the check is that
            at most ``jpeg_mid_fraction`` of pixels lie between 32 and 223.
        split_dirs: False when the three folders sit directly in the root (one unnamed split).
        alt_label_folders: label folders to unite when ``folders[2]`` is missing (S2Looking).
    """
    name: str
    folders: Tuple[str, str, str]
    splits: Dict[str, Optional[int]]
    img_suffix: Tuple[str, ...] = ('.png',)
    seg_suffix: Tuple[str, ...] = ('.png',)
    size: Optional[Tuple[int, int]] = None
    label_values: Tuple[int, ...] = (0, 255)
    jpeg_labels: bool = False
    jpeg_mid_fraction: float = 0.01
    split_dirs: bool = True
    alt_label_folders: Sequence[str] = field(default_factory=tuple)


def _read(path: str) -> np.ndarray:
    from geoperc.datasets.transforms.loading import imread_unchanged, is_raster
    if is_raster(path):
        from geoperc.io.raster import GridReader
        with GridReader(path) as rd:
            return rd.read((0, 0, rd.grid.width, rd.grid.height))[0].transpose(1, 2, 0)
    return imread_unchanged(path)


def verify_layout(root: str, spec: LayoutSpec, sample: Optional[int] = None, progress: bool = True
                  ) -> Tuple[List[str], Dict[str, int]]:
    """Check ``root`` against ``spec``.

    Args:
        root: the copy's root (the folder holding the splits).
        spec: the release's :class:`LayoutSpec`.
        sample: read only the first ``sample`` pairs of each split for the size / value checks
            (``None``: all); names and counts are always checked in full.
        progress: show a tqdm bar while reading images.

    Returns:
        tuple: (problems: list of messages naming the path, counts: pairs found per split).
    """
    from tqdm import tqdm
    problems: List[str] = []
    counts: Dict[str, int] = {}
    if not osp.isdir(root):
        return [f'root folder not found: {root}'], counts
    for split, expected in spec.splits.items():
        base = osp.join(root, split) if spec.split_dirs else root
        if not osp.isdir(base):
            problems.append(f'split folder not found: {base}')
            continue
        label_dirs = [spec.folders[2]]
        if not osp.isdir(osp.join(base, spec.folders[2])) and spec.alt_label_folders and all(
                osp.isdir(osp.join(base, f)) for f in spec.alt_label_folders):
            label_dirs = list(spec.alt_label_folders)
        dirs = [spec.folders[0], spec.folders[1]] + label_dirs
        names = {}
        for d in dirs:
            path = osp.join(base, d)
            if not osp.isdir(path):
                problems.append(f'folder not found: {path}')
                continue
            sfx = spec.img_suffix if d in spec.folders[:2] else spec.seg_suffix
            names[d] = {stem(f): f for f in list_files(path, sfx)}
        if len(names) != len(dirs):
            continue
        ref = set(names[dirs[0]])
        counts[split] = len(ref)
        for d in dirs[1:]:
            if set(names[d]) != ref:
                missing = sorted(ref - set(names[d]))[:5]
                extra = sorted(set(names[d]) - ref)[:5]
                problems.append(f'{osp.join(base, d)} does not match {osp.join(base, dirs[0])}: '
                                f'missing {missing} extra {extra}')
        if expected is not None and len(ref) != expected:
            problems.append(f'{osp.join(base, dirs[0])}: {len(ref)} pairs, the {spec.name} release has {expected}')
        elif not ref:
            problems.append(f'{osp.join(base, dirs[0])}: no images')
        common = sorted(set.intersection(*[set(v) for v in names.values()]))
        if sample is not None:
            common = common[:sample]
        bar = tqdm(common, desc=f'{spec.name} {split}', disable=not progress, leave=False)
        for s in bar:
            shapes = {}
            for d in dirs:
                p = osp.join(base, d, names[d][s])
                try:
                    arr = _read(p)
                except (OSError, ValueError) as e:
                    problems.append(f'{p}: unreadable ({e})')
                    continue
                shapes[d] = arr.shape[:2]
                if spec.size is not None and arr.shape[:2] != tuple(spec.size):
                    problems.append(f'{p}: size {arr.shape[:2]}, expected {tuple(spec.size)}')
                if d in label_dirs:
                    lab = arr.max(axis=2) if arr.ndim == 3 else arr
                    problems.extend(_label_problems(p, lab, spec))
            if len(set(shapes.values())) > 1:
                problems.append(f'{osp.join(base, "*", s)}: A/B/label sizes differ {shapes}')
    return problems, counts


def _label_problems(path: str, lab: np.ndarray, spec: LayoutSpec) -> List[str]:
    if spec.jpeg_labels:
        mid = ((lab > 32) & (lab < 223)).mean()
        if mid > spec.jpeg_mid_fraction:
            return [f'{path}: {mid:.1%} of label pixels are neither near 0 nor near 255']
        return []
    bad = sorted(set(np.unique(lab).tolist()) - set(spec.label_values))
    if bad:
        return [f'{path}: label values {bad[:8]} not in {list(spec.label_values)}']
    return []


def main(spec: LayoutSpec, argv=None, variants: Optional[Dict[str, LayoutSpec]] = None,
         resolve_root: Optional[Callable[[str], str]] = None) -> int:
    """Command line of the ``data_prep/*/check.py`` scripts: ``check.py ROOT [--sample N]
    [--variant NAME]``. ``resolve_root`` maps the given root to the folder holding the splits.
    Prints a report; exit status 0 if the copy is good, 1 otherwise."""
    import argparse
    parser = argparse.ArgumentParser(description=f'Verify a downloaded copy of {spec.name}')
    parser.add_argument('root', help='the folder holding the splits')
    parser.add_argument('--sample', type=int, default=None,
                        help='read only N pairs per split for sizes / label values (default: all)')
    if variants:
        parser.add_argument('--variant', choices=sorted(variants), default=None,
                            help='check a variant layout instead of the release')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if variants and args.variant:
        spec = variants[args.variant]
    root = resolve_root(args.root) if resolve_root else args.root
    problems, counts = verify_layout(root, spec, sample=args.sample, progress=not args.quiet)
    for split, n in counts.items():
        print(f'{spec.name} {split}: {n} pairs')
    if problems:
        print(f'{len(problems)} problem(s) in {root}:')
        for p in problems[:50]:
            print('  ' + p)
        if len(problems) > 50:
            print(f'  ... and {len(problems) - 50} more')
        return 1
    print(f'OK: {root} is a complete {spec.name} copy')
    return 0
