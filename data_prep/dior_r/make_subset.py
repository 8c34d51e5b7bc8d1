#!/usr/bin/env python
"""Write a reproducible fraction of DIOR-R trainval as an image-id list (MutDet's limited-data setting).

    python data_prep/dior_r/make_subset.py data/DIOR-R --fraction 0.1 --seed 0
    -> data/DIOR-R/ImageSets/Main/trainval_10pct_seed0.txt   (1,172 of 11,725 ids for 10%)

The ids of ``trainval.txt`` (or ``train.txt`` + ``val.txt``) are sorted, shuffled with
``numpy.random.default_rng(seed).permutation`` and the first ``round(fraction * N)`` kept, written sorted.
MutDet's own 10% list is not published; this one is documented so that others can reproduce it. Used by
``configs/detection/ars_detr/ars_detr_r50_b2_36e_dior_10pct.py``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout


def subset_ids(ids, fraction: float, seed: int):
    import numpy as np
    ids = sorted(set(ids))
    n = int(round(fraction * len(ids)))
    order = np.random.default_rng(seed).permutation(len(ids))[:n]
    return sorted(ids[i] for i in order)


def main(argv=None) -> int:
    from geoperc.errors import DatasetError, SettingsError
    p = argparse.ArgumentParser(prog='data_prep/dior_r/make_subset.py', description=__doc__.split('\n')[0])
    p.add_argument('root', help='DIOR-R folder (holding ImageSets/Main)')
    p.add_argument('--fraction', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    if not 0 < a.fraction <= 1:
        raise SettingsError(f'--fraction must be in (0, 1], got {a.fraction}')
    sets = osp.join(a.root, 'ImageSets', 'Main')
    files = [osp.join(sets, 'trainval.txt')]
    if not osp.isfile(files[0]):
        files = [osp.join(sets, 'train.txt'), osp.join(sets, 'val.txt')]
    ids = []
    for f in files:
        if not osp.isfile(f):
            raise DatasetError(f'{f}: image set not found (is {a.root} the DIOR-R folder?)')
        with open(f, encoding='utf-8') as fh:
            ids += [ln.strip() for ln in fh if ln.strip()]
    keep = subset_ids(ids, a.fraction, a.seed)
    out = osp.join(sets, f'trainval_{int(round(a.fraction * 100))}pct_seed{a.seed}.txt')
    tmp = out + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as fh:
        fh.write('\n'.join(keep) + '\n')
    os.replace(tmp, out)
    print(f'{len(keep)} of {len(set(ids))} trainval ids -> {out}')
    return 0


if __name__ == '__main__':
    from geoperc.cli.common import run
    sys.exit(run(main, sys.argv[1:], 'data_prep/dior_r/make_subset.py'))
