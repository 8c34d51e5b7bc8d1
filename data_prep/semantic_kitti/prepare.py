#!/usr/bin/env python
"""Check a SemanticKITTI SSC copy and build what VPOcc reads: 1:1 / 1:2 targets and vanishing points.

    python data_prep/semantic_kitti/prepare.py data/SemanticKITTI --labels data/SemanticKITTI/preprocess/labels
    python data_prep/semantic_kitti/prepare.py data/SemanticKITTI --check-only
    python data_prep/semantic_kitti/prepare.py data/SemanticKITTI --labels L --vanishing-points data/SemanticKITTI/vanishing_points

1. check: every sequence of the splits has ``calib.txt``, ``image_2/`` and ``voxels/``; every voxelised
   train/val frame has ``.label`` + ``.invalid`` of the right size and its image; test frames have ``.bin``.
   Problems are listed with their paths (exit 1).
2. ``--labels DIR``: ``DIR/XX/NNNNNN_1_1.npy`` (learning ids, 255 invalid: the ``.label`` through the
   learning map with ``.invalid`` applied) and ``_1_2.npy`` (the MonoScene / VoxFormer majority rule), the
   files the official VPOcc / MonoScene pipelines load. Existing files are kept unless ``--overwrite``.
3. ``--vanishing-points DIR``: ``DIR/seq_XX.json`` for sequences that have none, with the classical
   estimator (``vanishing_points.py``); the released NeurVPS files are used as they are when present.

Progress is shown with a tqdm bar; outputs are written atomically.
"""
import argparse
import glob
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout


def check(root, sequences, grid):
    import numpy as np
    from geoperc.io.semantic_kitti import find_sequences_root
    problems = []
    seq_root = find_sequences_root(root)
    n = 0
    for seq in sequences:
        sdir = osp.join(seq_root, seq)
        for need in ('calib.txt', 'image_2', 'voxels'):
            if not osp.exists(osp.join(sdir, need)):
                problems.append(f'{osp.join(sdir, need)}: missing')
        vox = sorted(glob.glob(osp.join(sdir, 'voxels', '*.bin')))
        labelled = int(seq) <= 10
        for b in vox:
            stem = b[:-4]
            fid = osp.basename(stem)
            n += 1
            if not osp.isfile(osp.join(sdir, 'image_2', fid + '.png')):
                problems.append(f'{osp.join(sdir, "image_2", fid + ".png")}: missing (voxel frame {fid})')
            if labelled:
                for ext, nbytes in (('.label', 2 * int(np.prod(grid))), ('.invalid', int(np.prod(grid)) // 8)):
                    f = stem + ext
                    if not osp.isfile(f):
                        problems.append(f'{f}: missing')
                    elif osp.getsize(f) != nbytes:
                        problems.append(f'{f}: {osp.getsize(f)} bytes, expected {nbytes}')
    return n, problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('root', help='folder holding sequences/ (or dataset/sequences/)')
    p.add_argument('--labels', help='write XX/NNNNNN_1_1.npy and _1_2.npy here')
    p.add_argument('--vanishing-points', help='write missing seq_XX.json here')
    p.add_argument('--sequences', nargs='+', help='default: train + val (+ test for --vanishing-points)')
    p.add_argument('--grid', nargs=3, type=int, default=(256, 256, 32))
    p.add_argument('--check-only', action='store_true')
    p.add_argument('--overwrite', action='store_true')
    args = p.parse_args(argv)

    import numpy as np
    from geoperc.errors import EXIT_USER_ERROR, GeoPercError
    from geoperc.io.semantic_kitti import SPLIT_SEQUENCES, find_sequences_root, read_ssc_target, write_ssc_targets
    try:
        seqs = args.sequences or list(SPLIT_SEQUENCES['train'] + SPLIT_SEQUENCES['val'])
        seqs = [f'{int(s):02d}' if str(s).isdigit() else s for s in seqs]
        n, problems = check(args.root, seqs, tuple(args.grid))
    except (GeoPercError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR
    for pr in problems:
        print(pr)
    print(f'{args.root}: {n} voxel frames in {len(seqs)} sequences, {len(problems)} problems')
    if problems or args.check_only:
        return 1 if problems else 0
    seq_root = find_sequences_root(args.root)
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if args.labels:
        todo = [(s, b) for s in seqs if int(s) <= 10 for b in sorted(glob.glob(osp.join(seq_root, s, 'voxels', '*.label')))]
        it = tqdm(todo, unit='frame', desc='targets') if tqdm else todo
        for seq, lab in it:
            fid = osp.basename(lab)[:-6]
            out = osp.join(args.labels, seq, fid)
            if not args.overwrite and osp.isfile(out + '_1_2.npy'):
                continue
            os.makedirs(osp.dirname(out), exist_ok=True)
            t = read_ssc_target(lab, lab[:-6] + '.invalid', shape=tuple(args.grid))
            write_ssc_targets(out, t)
        print(f'targets: {args.labels}')
    if args.vanishing_points:
        import importlib.util
        spec = importlib.util.spec_from_file_location('sk_vps', osp.join(osp.dirname(osp.abspath(__file__)),
                                                                         'vanishing_points.py'))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        vp_main = mod.main
        vp_seqs = args.sequences or list(SPLIT_SEQUENCES['train'] + SPLIT_SEQUENCES['val'] + SPLIT_SEQUENCES['test'])
        for seq in vp_seqs:
            seq = f'{int(seq):02d}' if str(seq).isdigit() else seq
            f = osp.join(args.vanishing_points, f'seq_{seq}.json')
            if osp.isfile(f) and not args.overwrite:
                print(f'{f}: present, kept')
                continue
            rc = vp_main([osp.join(seq_root, seq), '--out', f])
            if rc:
                return rc
    return 0


if __name__ == '__main__':
    sys.exit(main())
