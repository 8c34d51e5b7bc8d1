#!/usr/bin/env python
"""Write a sequence's vanishing points in VPOcc's released JSON format, without any learned model.

    python data_prep/semantic_kitti/vanishing_points.py data/SemanticKITTI/dataset/sequences/08 \\
        --out data/SemanticKITTI/vanishing_points/seq_08.json
    python data_prep/semantic_kitti/vanishing_points.py KITTI-360/data_2d_raw/2013_05_28_drive_0006_sync \\
        --camera image_00/data_rect --dataset kitti360 --out vanishing_points/seq_2013_05_28_drive_0006_sync.json

VPOcc uses NeurVPS VPs extracted offline (HF dataset ``joonsu0109/vpocc-vanishing-points``); when those
are not at hand, this runs the classical estimator (:mod:`geoperc.datasets.occupancy.vanishing_point`:
LSD segments + RANSAC on the dominant road direction) on every image. Keys are
``SemanticKITTI/dataset/sequences/XX/image_2/NNNNNN.png`` (or ``KITTI-360/<drive>/image_00/<frame>.png``)
and values ``[[x, y]]``, as the released files; frames where no VP is found get the principal point of
``calib.txt`` (or the image centre) and are counted in the summary. ``--every 5`` does only the voxelised
frames. Exit status 2 with one line for a bad input.
"""
import argparse
import glob
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout


def run(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('sequence_dir', help='sequences/XX (SemanticKITTI) or data_2d_raw/<drive> (KITTI-360)')
    p.add_argument('--camera', default='image_2', help='image folder inside the sequence (image_2)')
    p.add_argument('--dataset', choices=('semantic_kitti', 'kitti360'), default='semantic_kitti')
    p.add_argument('--out', required=True, help='output JSON (seq_XX.json)')
    p.add_argument('--every', type=int, default=1, help='keep frames whose number is a multiple of this')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)

    import cv2
    import numpy as np
    from geoperc.datasets.occupancy.vanishing_point import estimate_vanishing_point
    from geoperc.errors import DatasetError
    from geoperc.io.semantic_kitti import read_calib, vp_json_key, write_vanishing_points

    seq_dir = osp.abspath(args.sequence_dir)
    img_dir = osp.join(seq_dir, args.camera)
    imgs = sorted(glob.glob(osp.join(img_dir, '*.png')))
    if not imgs:
        raise DatasetError(f'{img_dir}: no .png images')
    imgs = [f for f in imgs if not args.every or int(osp.splitext(osp.basename(f))[0]) % args.every == 0]
    seq = osp.basename(seq_dir.rstrip('/'))
    calib = osp.join(seq_dir, 'calib.txt')
    pp = read_calib(calib)['P2'][:2, 2] if osp.isfile(calib) else None
    cam_key = args.camera.split('/')[0]
    try:
        from tqdm import tqdm
        bar = tqdm(imgs, unit='img', desc=f'VPs {seq}', disable=args.no_progress)
    except ImportError:
        bar = imgs
    out, missed = {}, 0
    for f in bar:
        img = cv2.imread(f, cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f'{f}: OpenCV could not decode the image')
        vp, _ = estimate_vanishing_point(img)
        if vp is None:
            missed += 1
            vp = pp if pp is not None else np.array([img.shape[1] / 2, img.shape[0] / 2])
        out[vp_json_key(seq, osp.splitext(osp.basename(f))[0], cam_key, args.dataset)] = vp
    write_vanishing_points(args.out, out)
    print(f'{args.out}: {len(out)} vanishing points ({missed} frames without a VP got the principal point)')
    return 0


def main(argv=None) -> int:
    from geoperc.errors import EXIT_USER_ERROR, GeoPercError
    try:
        return run(argv)
    except (GeoPercError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == '__main__':
    sys.exit(main())
