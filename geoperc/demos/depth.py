"""The 360-degree depth demo: ``geoperc demo --task depth``.

1. Generate textured box rooms rendered to equirectangular RGB + depth, written in the Stanford2D3D
   release layout (``area_*/pano/{rgb,depth}``, 16-bit depth in 1/512 m) by
   :func:`geoperc.testing.formats3d.write_box_rooms_stanford2d3d`: training rooms and held-out rooms.
2. Train the tiny OmniFusion config (``configs/depth/omnifusion/omnifusion_tiny_1xb4_400it_synth_rooms.py``)
   through :func:`geoperc.runner.train` (MMEngine runner, same dataset / pipeline / metric classes as the
   Stanford2D3D configs).
3. Evaluate on the held-out rooms with OmniFusion's protocol (per-batch median scaling, 0.3 < gt <= 8 m)
   and, for reference, without median scaling; write the metrics as JSON.
4. For one held-out room: the predicted depth back-projected to a coloured point cloud (PLY), a headless
   render of it, and a PNG of RGB / prediction / error / ground truth.
"""
import argparse
import json
import os
import os.path as osp
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'depth', 'omnifusion', 'omnifusion_tiny_1xb4_400it_synth_rooms.py')


def _train(config: str, work_dir: str, options: dict):
    """``geoperc.runner.train`` with ``options`` (``--cfg-options``), whichever of its two call forms
    (``train(config, work_dir=, cfg_options=)`` or ``train(argv)``) this checkout has."""
    import inspect

    from geoperc import runner
    params = list(inspect.signature(runner.train).parameters)
    if params and params[0] == 'config':
        return runner.train(config, work_dir=work_dir, cfg_options=options)
    root = options['data_root']
    opts = [f'{k}={v}' for k, v in options.items()]
    opts += [f'{n}.dataset.data_root={root}' for n in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return runner.train([config, '--work-dir', work_dir, '--cfg-options', *opts])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='geoperc demo --task depth', description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='demo_output_depth', help='output folder (default ./demo_output_depth)')
    p.add_argument('--config', default=DEFAULT_CONFIG, help='OmniFusion config to train')
    p.add_argument('--iters', type=int, default=250,
                   help='training iterations (default 250, a few CPU minutes; 0 = the config\'s 400)')
    p.add_argument('--train-rooms', type=int, default=48)
    p.add_argument('--test-rooms', type=int, default=8)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    args = p.parse_args(argv)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.time()
    out = osp.abspath(args.out)
    data = osp.join(out, 'rooms')
    os.makedirs(out, exist_ok=True)

    from geoperc.testing.formats3d import write_box_rooms_stanford2d3d
    print('[1/4] generating equirectangular rooms (Stanford2D3D layout) ...', flush=True)
    write_box_rooms_stanford2d3d(data, areas=('area_1',), per_area=args.train_rooms, seed=0)
    write_box_rooms_stanford2d3d(data, areas=('area_5a',), per_area=args.test_rooms, seed=1)

    print('[2/4] training the tiny OmniFusion (MMEngine runner) ...', flush=True)
    work_dir = osp.join(out, 'train')
    opts = {'data_root': data, 'model.merge_cache_dir': osp.join(work_dir, 'merge_cache')}
    if args.iters:
        opts.update({'train_cfg.max_iters': args.iters, 'train_cfg.val_interval': args.iters,
                     'default_hooks.checkpoint.interval': args.iters,
                     # the cosine decay after the 30-iteration warm-up ends with the run
                     'param_scheduler.1.T_max': max(args.iters - 30, 1), 'param_scheduler.1.end': args.iters})
    runner = _train(args.config, work_dir, opts)
    ckpt = osp.join(work_dir, f'iter_{runner.iter}.pth')

    print('[3/4] evaluating on the held-out rooms ...', flush=True)
    from geoperc.evaluation.functional import aggregate_depth_errors, depth_errors
    model = runner.model
    model.eval()
    loader = runner.test_dataloader
    groups = {'omnifusion': [], 'no_median_scaling': []}
    first = None
    with torch.no_grad():
        for batch in loader:
            samples = model.test_step(batch)
            pred = np.stack([s.pred_depth.data.cpu().numpy() for s in samples])
            gt = np.stack([s.gt_depth.data.cpu().numpy() for s in samples])
            valid = np.stack([s.depth_valid.data.cpu().numpy() for s in samples])
            groups['omnifusion'].append(depth_errors(pred, gt, valid, 'omnifusion'))
            groups['no_median_scaling'].append(depth_errors(pred, gt, valid, 'omnifusion', median_scaling=False))
            if first is None:
                first = (batch['inputs'][0].numpy(), pred[0, 0], gt[0, 0], valid[0, 0])
    metrics = {k: aggregate_depth_errors(v, 'omnifusion') for k, v in groups.items()}
    mpath = osp.join(out, 'metrics.json')
    with open(mpath + '.tmp', 'w') as f:
        json.dump(dict(protocol='omnifusion (per-batch median scaling, 0.3 < gt <= 8 m, pixel-pooled); '
                                'no_median_scaling: the same without the median factor',
                       checkpoint=ckpt, **metrics), f, indent=2)
    os.replace(mpath + '.tmp', mpath)

    print('[4/4] point cloud, render and panel of a held-out room ...', flush=True)
    from geoperc.io.equirect import write_depth_panel_png
    from geoperc.io.pointcloud import RenderError, render_pano_point_cloud_png, write_pano_point_cloud
    img_bgr, pred, gt, valid = first
    rgb = img_bgr.transpose(1, 2, 0)[..., ::-1].astype(np.uint8)
    ply = write_pano_point_cloud(osp.join(out, 'room_pred.ply'), pred, rgb, max_depth=8.0)
    ply_gt = write_pano_point_cloud(osp.join(out, 'room_gt.ply'), gt, rgb, valid=valid)
    panel = write_depth_panel_png(osp.join(out, 'room_panel.png'), rgb, pred, gt, valid)
    try:
        render = render_pano_point_cloud_png(osp.join(out, 'room_pred_render.png'), pred, rgb, max_depth=8.0)
    except RenderError as e:
        render = f'(not rendered: {e})'

    m = metrics['omnifusion']
    print('\n== geoperc depth demo finished in %.0f s ==' % (time.time() - t0))
    print(f'rooms (Stanford2D3D layout)  {data}  (area_1 train, area_5a held out)')
    print(f'training work dir            {work_dir}  (log, {osp.basename(ckpt)})')
    print(f'metrics                      {mpath}')
    print(f'point cloud (prediction)     {ply}')
    print(f'point cloud (ground truth)   {ply_gt}')
    print(f'render                       {render}')
    print(f'RGB / prediction / error / GT {panel}')
    print('held-out, OmniFusion protocol: AbsRel %.3f  SqRel %.3f  RMSE %.3f  RMSE-log %.3f  d1 %.3f'
          % (m['abs_rel'], m['sq_rel'], m['rmse'], m['rmse_log'], m['delta1']))
    n = metrics['no_median_scaling']
    print('held-out, metric scale (no median scaling): AbsRel %.3f  RMSE %.3f  d1 %.3f'
          % (n['abs_rel'], n['rmse'], n['delta1']))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
