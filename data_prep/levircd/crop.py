#!/usr/bin/env python
"""Crop LEVIR-CD's 1024 px tiles into non-overlapping 256 px crops (16 per tile), the layout most
papers train on (LENet and FSG-Net included).

    python data_prep/levircd/crop.py data/LEVIR-CD data/LEVIR-CD-256 [--size 256] [--splits train val test]

Output keeps the release layout, ``<dst>/<split>/{A,B,label}/<name>_<k>.png`` with k = 1..16 in
row-major order (``train_1_1.png`` ... ``train_1_16.png``, the naming of the widely shared
LEVIR-CD-256 copies). Crops are the exact source pixels re-encoded as PNG (lossless; labels stay
0 / 255).

Idempotent and restartable: every crop is written to a temporary file in the destination folder and
renamed into place when complete, so an interrupted run never leaves a truncated PNG; crops that
already exist are skipped (``--overwrite`` rewrites them). Verify the result with
``python data_prep/levircd/check.py <dst> --variant crops256``.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile

FOLDERS = ('A', 'B', 'label')


def crop_names(stem: str, n_rows: int, n_cols: int):
    """Output names of one tile's crops, row-major, 1-based."""
    return [f'{stem}_{k + 1}.png' for k in range(n_rows * n_cols)]


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    d = osp.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix='.' + osp.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def crop_file(src: str, dst_dir: str, size: int, overwrite: bool = False) -> int:
    """Crop one image into ``size`` px tiles in ``dst_dir``; returns the number of crops written."""
    import cv2
    stem = osp.splitext(osp.basename(src))[0]
    img = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'could not read {src}')
    H, W = img.shape[:2]
    if H % size or W % size:
        raise ValueError(f'{src}: {H} x {W} px is not a multiple of {size}')
    n_rows, n_cols = H // size, W // size
    written = 0
    for k, name in enumerate(crop_names(stem, n_rows, n_cols)):
        out = osp.join(dst_dir, name)
        if osp.exists(out) and not overwrite:
            continue
        r, c = divmod(k, n_cols)
        ok, buf = cv2.imencode('.png', img[r * size:(r + 1) * size, c * size:(c + 1) * size])
        if not ok:
            raise OSError(f'could not encode a crop of {src}')
        write_atomic(out, buf.tobytes())
        written += 1
    return written


def crop_dataset(src_root: str, dst_root: str, size: int = 256, splits=('train', 'val', 'test'),
                 overwrite: bool = False, progress: bool = True) -> int:
    """Crop every split / folder of a LEVIR-CD copy. Returns the number of crops written."""
    from tqdm import tqdm
    jobs = []
    for split in splits:
        for f in FOLDERS:
            d = osp.join(src_root, split, f)
            if not osp.isdir(d):
                raise FileNotFoundError(f'folder not found: {d}')
            out = osp.join(dst_root, split, f)
            os.makedirs(out, exist_ok=True)
            jobs += [(osp.join(d, n), out) for n in sorted(os.listdir(d)) if n.lower().endswith('.png')]
    written = 0
    for src, out in tqdm(jobs, desc=f'crop {size}px', unit='img', disable=not progress):
        written += crop_file(src, out, size, overwrite)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('src', help='LEVIR-CD root (holding train/ val/ test/)')
    p.add_argument('dst', help='output root (same layout)')
    p.add_argument('--size', type=int, default=256, help='crop size in px (default 256)')
    p.add_argument('--splits', nargs='+', default=['train', 'val', 'test'])
    p.add_argument('--overwrite', action='store_true', help='rewrite crops that already exist')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    a = p.parse_args(argv)
    n = crop_dataset(a.src, a.dst, a.size, a.splits, a.overwrite, progress=not a.quiet)
    print(f'{n} crops written to {a.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
