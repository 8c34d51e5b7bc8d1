#!/usr/bin/env python
"""Split DOTA images (or GeoTIFF scenes) into patches, mmrotate ``img_split`` semantics.

    # DOTA v1.0 single scale, 1024 / gap 200 (mmrotate ss_trainval):
    python data_prep/dota/split.py --img-dir data/DOTA/train/images --ann-dir data/DOTA/train/labelTxt \
        --out data/split_ss_dota/train --sizes 1024 --gaps 200 --nproc 8
    # MutDet pre-training tiles (800 / gap 200, 'DOTA_800_600'):
    python data_prep/dota/split.py --img-dir ... --out ... --sizes 800 --gaps 200
    # a GeoTIFF orthomosaic, read window by window, patches keep their georeferencing:
    python data_prep/dota/split.py --img-dir scenes/ --out tiles/ --ext .tif

Writes ``OUT/images/<id>__<size>__<x>___<y>.<ext>`` and ``OUT/labelTxt/<same>.txt`` (DOTA format).
Idempotent: existing patches are skipped (``--overwrite`` rewrites them). See
``geoperc/datasets/detection/split.py`` for the rules.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout


def main(argv=None) -> int:
    from geoperc.datasets.detection.split import split_dataset
    p = argparse.ArgumentParser(prog='data_prep/dota/split.py', description=__doc__.split('\n')[0])
    p.add_argument('--img-dir', required=True, help='folder of images (PNG / JPEG / GeoTIFF)')
    p.add_argument('--ann-dir', default=None, help='DOTA labelTxt folder (omit for the test split)')
    p.add_argument('--out', required=True, help='output folder (images/ and labelTxt/ inside)')
    p.add_argument('--sizes', type=int, nargs='+', default=[1024])
    p.add_argument('--gaps', type=int, nargs='+', default=[200])
    p.add_argument('--rates', type=float, nargs='+', default=[1.0], help='multi-scale: e.g. 0.5 1.0 1.5')
    p.add_argument('--img-rate-thr', type=float, default=0.6)
    p.add_argument('--iof-thr', type=float, default=0.7)
    p.add_argument('--padding-value', type=float, nargs='+', default=[104, 116, 124])
    p.add_argument('--no-padding', action='store_true')
    p.add_argument('--ext', default='.png', help='.png (default), .jpg or .tif (keeps georeferencing)')
    p.add_argument('--nproc', type=int, default=1)
    p.add_argument('--overwrite', action='store_true', help='rewrite existing patches')
    a = p.parse_args(argv)
    pv = a.padding_value[0] if len(a.padding_value) == 1 else a.padding_value
    stats = split_dataset(a.img_dir, a.out, ann_dir=a.ann_dir, nproc=a.nproc, sizes=a.sizes, gaps=a.gaps,
                          rates=a.rates, img_rate_thr=a.img_rate_thr, iof_thr=a.iof_thr, padding_value=pv,
                          no_padding=a.no_padding, ext=a.ext, skip_existing=not a.overwrite)
    print(f'{stats["images"]} images -> {stats["windows"]} patches ({stats["written"]} written, the rest '
          f'already there) in {osp.join(a.out, "images")}')
    return 0


if __name__ == '__main__':
    from geoperc.cli.common import run
    sys.exit(run(main, sys.argv[1:], 'data_prep/dota/split.py'))
