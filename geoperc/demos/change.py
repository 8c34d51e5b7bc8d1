"""The change-detection demo (the embedded default): ``make demo`` / ``geoperc demo --task change``.

1. Generate two georeferenced scenes with :mod:`geoperc.testing` (two dates of a 4-band GeoTIFF in
   UTM with nodata, objects appearing between dates under seasonal / illumination pseudo-changes, and
   the reference polygons as a GeoPackage): one to train on, one held out.
2. Train a tiny change detector on the training scene through the same runner and config system as
   everything else (``configs/demo/``).
3. Run tiled inference over the held-out scene: change-probability and change-mask GeoTIFFs in the
   scene's CRS, and a PNG overlay.
4. Evaluate the mask against the held-out reference polygons like a QGIS-exported scene: metrics JSON /
   CSV, a GeoPackage of hits, false alarms and misses with QGIS styles, and a PNG report.
"""
import argparse
import json
import os
import os.path as osp
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'demo', 'fsgnet_r18_tiny_demo_scene.py')


def main(argv=None):
    p = argparse.ArgumentParser(prog="geoperc demo --task change", description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='demo_output', help='output folder (default ./demo_output)')
    p.add_argument('--config', default=DEFAULT_CONFIG, help='change-detection config to train')
    p.add_argument('--iters', type=int, default=None, help='training iterations (default: the config\'s)')
    p.add_argument('--tile', type=int, default=128, help='tiled-inference window size')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (default 1: small models on a shared CPU are fastest single-threaded)')
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.time()
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    from geoperc.testing import make_change_scene
    print('[1/4] generating the demo scenes ...', flush=True)
    train_scene = make_change_scene(osp.join(out, 'scene_train'), size=(512, 512), seed=1)
    test_scene = make_change_scene(osp.join(out, 'scene_test'), size=(384, 448), seed=2)

    print('[2/4] training (MMEngine runner) ...', flush=True)
    from geoperc.runner import train
    work_dir = osp.join(out, 'train')
    # one setting moves the data: the config's pairs are scene_train/... and scene_test/... below it
    opts = dict(data_root=out)
    if args.iters:
        opts['train_cfg.max_iters'] = args.iters
    runner = train(args.config, work_dir=work_dir, cfg_options=opts)
    ckpt = osp.join(work_dir, f'iter_{runner.iter}.pth')

    print('[3/4] tiled inference over the held-out scene ...', flush=True)
    from geoperc.inference import build_model
    from geoperc.inference.tiled import infer_geotiff
    from geoperc.visualization import change_overlay_from_files
    model = build_model(args.config, ckpt)
    inputs = [test_scene.date1, test_scene.date2]
    prob = osp.join(out, 'change_probability.tif')
    mask = osp.join(out, 'change_mask.tif')
    infer_geotiff(model, inputs, prob, tile=args.tile, overlap=args.tile // 4, output='probs')
    infer_geotiff(model, inputs, mask, tile=args.tile, overlap=args.tile // 4, output='labels')
    overlay = change_overlay_from_files(test_scene.date1, test_scene.date2, mask,
                                        osp.join(out, 'change_overlay.png'), reference=test_scene.label)

    print('[4/4] evaluating against the reference polygons ...', flush=True)
    from geoperc.evaluation.scene import main as eval_scene
    eval_dir = osp.join(out, 'evaluation')
    eval_scene(['--pred', mask, '--ref', test_scene.reference, '--ref-layer', test_scene.reference_layer,
                '--out', eval_dir])
    with open(osp.join(eval_dir, 'metrics.json')) as f:
        metrics = json.load(f)

    px, ob = metrics['pixel'], metrics['object']
    print('\n== geoperc demo finished in %.0f s ==' % (time.time() - t0))
    print(f'scene (train)         {osp.dirname(train_scene.date1)}')
    print(f'scene (held out)      {osp.dirname(test_scene.date1)}  (date1.tif, date2.tif, reference.gpkg)')
    print(f'training work dir     {work_dir}  (log, {osp.basename(ckpt)})')
    print(f'change probability    {prob}')
    print(f'change mask           {mask}')
    print(f'overlay               {overlay}')
    print(f'evaluation            {eval_dir}  (metrics.json, metrics.csv, layers.gpkg, report)')
    print(f'pixel  change P/R/F1/IoU  {px["precision"]:.3f} / {px["recall"]:.3f} / {px["f1"]:.3f} / {px["iou"]:.3f}')
    print(f'object change P/R/F1/IoU  {ob["precision"]:.3f} / {ob["recall"]:.3f} / {ob["f1"]:.3f} / {ob["iou"]:.3f}')
    print('Open the mask, overlay layers and reference in QGIS: they share the scene CRS '
          f'({test_scene.crs}).')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
