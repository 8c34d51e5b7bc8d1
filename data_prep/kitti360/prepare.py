#!/usr/bin/env python
"""Check an SSCBench-KITTI-360 copy and build the 1:1 / 1:2 targets and VP files VPOcc reads.

    python data_prep/kitti360/prepare.py data/SSCBench-KITTI-360 --labels data/SSCBench-KITTI-360/preprocess/labels
    python data_prep/kitti360/prepare.py data/SSCBench-KITTI-360 --vanishing-points data/SSCBench-KITTI-360/vanishing_points

Layout: ``data_2d_raw/<drive>/{image_00/data_rect/*.png, voxels/*.bin|.label|.invalid}`` (see
:mod:`geoperc.datasets.occupancy.kitti360`). Targets: ``<labels>/<drive>/<frame>_1_1.npy`` (voxel
``.label`` class ids with ``.invalid`` -> 255) and ``_1_2.npy`` (majority rule). VPs: the classical
estimator on ``image_00/data_rect`` for drives without ``seq_<drive>.json``.
"""
import argparse
import glob
import importlib.util
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('root', help='folder holding data_2d_raw/')
    p.add_argument('--labels')
    p.add_argument('--vanishing-points')
    p.add_argument('--sequences', nargs='+')
    p.add_argument('--overwrite', action='store_true')
    args = p.parse_args(argv)
    from geoperc.datasets.occupancy.kitti360 import KITTI360SSCDataset
    from geoperc.errors import EXIT_USER_ERROR, GeoPercError
    from geoperc.io.semantic_kitti import KITTI360_SPLIT_SEQUENCES, write_ssc_targets
    seqs = args.sequences or [s for v in KITTI360_SPLIT_SEQUENCES.values() for s in v]
    try:
        ds = KITTI360SSCDataset(args.root, sequences=seqs, load_target=False, lazy_init=False)
    except (GeoPercError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR
    print(f'{args.root}: {len(ds)} voxel frames in {len(seqs)} drives')
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if args.labels:
        it = tqdm(range(len(ds)), unit='frame', desc='targets') if tqdm else range(len(ds))
        for i in it:
            info = ds.get_data_info(i)
            out = osp.join(args.labels, info['sequence'], info['frame_id'])
            if not args.overwrite and osp.isfile(out + '_1_2.npy'):
                continue
            try:
                t = ds.load_target_of(info)
            except GeoPercError as e:
                print(f'error: {e}', file=sys.stderr)
                return EXIT_USER_ERROR
            if t is None:
                continue
            os.makedirs(osp.dirname(out), exist_ok=True)
            write_ssc_targets(out, t)
        print(f'targets: {args.labels}')
    if args.vanishing_points:
        spec = importlib.util.spec_from_file_location(
            'sk_vps', osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'semantic_kitti', 'vanishing_points.py'))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for seq in seqs:
            f = osp.join(args.vanishing_points, f'seq_{seq}.json')
            if osp.isfile(f) and not args.overwrite:
                continue
            rc = mod.main([osp.join(args.root, 'data_2d_raw', seq), '--camera', 'image_00/data_rect',
                           '--dataset', 'kitti360', '--out', f])
            if rc:
                return rc
    return 0


if __name__ == '__main__':
    sys.exit(main())
