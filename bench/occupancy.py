#!/usr/bin/env python
"""VPOcc: parameters, forward / forward+backward time and peak memory at full resolution, VPCA point generation
vectorised vs the per-query loop, and the classical VP estimator's time per image.

* ``model``: the full-size model of ``configs/occupancy/vpocc/vpocc_r50_4xb1_30e_semantickitti.py`` on a
  370 x 1220 image with KITTI's camera, a synthetic depth map (a road plane and a wall, giving a realistic
  number of depth-proposed queries) and the VP at the principal point (as the official measurement),
  output 20 x 256 x 256 x 32; batch 1 and 2 (``--batches``), each in its own subprocess so the peak RSS
  (``ru_maxrss``) is that run's alone. ``forward``: eval + no_grad; ``fwd+bwd``: train loss + backward.
  Wall times are only comparable on an idle machine; ``*_cpu_s`` (process CPU seconds, all threads) are
  reported too for a shared one.
* ``vpca``: :func:`vp_sampling_points` vs :func:`vp_sampling_points_loop` on ``--vpca-queries`` queries
  (the loop timed on a subset and scaled), the ratio printed.
* ``vp``: :func:`estimate_vanishing_point` on 370 x 1220 generated road images.

Reference (fixtures/official/README.md): official code, 2 threads, batch 1, forward 38.5 s, 5.3 GB.

    python bench/occupancy.py --parts vpca vp                 # seconds
    python bench/occupancy.py --parts model --batches 1 --threads 2 --no-backward
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = osp.join(ROOT, 'configs', 'occupancy', 'vpocc', 'vpocc_r50_4xb1_30e_semantickitti.py')
REFERENCE = dict(params=110_596_468, forward_s=38.5, peak_gb=5.3)


def _inputs(B):
    import numpy as np
    import torch
    from geoperc.structures import GeoDataSample
    K = np.array([[707.0912, 0, 601.8873], [0, 707.0912, 183.1104], [0, 0, 1]])
    Tr = np.eye(4)
    Tr[:3] = [[-0.001857739, -0.9999659, -0.008039975, -0.004784029],
              [-0.006481465, 0.008051860, -0.9999466, -0.07337429],
              [0.9999773, -0.001805528, -0.006496203, -0.3339968]]
    H, W = 370, 1220
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    # road plane 1.65 m below the camera below the horizon, a wall 30 m ahead above it
    depth = np.where(ys > K[1, 2] + 1, 1.65 * K[1, 1] / np.maximum(ys - K[1, 2], 1e-3), 30.0).clip(0, 80)
    samples = []
    for _ in range(B):
        s = GeoDataSample(metainfo=dict(cam_K=K, T_velo_2_cam=Tr, vanishing_point=K[:2, 2].copy(),
                                        depth=depth.astype(np.float32)))
        from mmengine.structures import BaseDataElement
        t = np.zeros((256, 256, 32), np.int64)
        t[:, :, :4] = 9
        s.gt_occ = BaseDataElement(data=torch.from_numpy(t))
        samples.append(s)
    return torch.randn(B, 3, H, W), samples


def run_model(B, backward, iters):
    import torch
    from mmengine.config import Config

    import geoperc.models  # noqa: F401
    from geoperc.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    params = sum(p.numel() for p in model.parameters())
    x, s = _inputs(B)
    x = model.data_preprocessor({'inputs': list(x), 'data_samples': s}, False)['inputs']
    out = dict(batch=B, params=params)
    model.eval()
    with torch.no_grad():
        times, cpu = [], []
        for _ in range(iters):
            t, c = time.perf_counter(), time.process_time()
            logits = model(x, s, mode='tensor')
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    out['forward_s'] = min(times)
    out['forward_cpu_s'] = min(cpu)  # CPU seconds of all threads: comparable on a contended machine
    out['forward_peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    out['output_shape'] = list(logits.shape)
    del logits
    if backward:
        model.train()
        times, cpu = [], []
        for _ in range(iters):
            t, c = time.perf_counter(), time.process_time()
            loss = sum(model(x, s, mode='loss').values())
            loss.backward()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            model.zero_grad(set_to_none=True)
        out['fwd_bwd_s'] = min(times)
        out['fwd_bwd_cpu_s'] = min(cpu)
    out['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    return out


def run_vpca(n, loop_n):
    import torch
    from geoperc.models.occupancy.vpca import vp_sampling_points, vp_sampling_points_loop
    ref = torch.rand(1, n, 2)
    vp = torch.tensor([[610.0, 175.0]])
    t = time.perf_counter()
    vp_sampling_points(ref, vp, (370, 1220))
    vec = time.perf_counter() - t
    t = time.perf_counter()
    vp_sampling_points_loop(ref[:, :loop_n], vp, (370, 1220))
    loop = (time.perf_counter() - t) * n / loop_n
    return dict(queries=n, vectorised_s=vec, loop_s_scaled=loop, ratio=loop / vec)


def run_vp(n):
    sys.path.insert(0, osp.join(ROOT, 'tests', 'occupancy'))
    from test_vp_estimator import road_image

    from geoperc.datasets.occupancy.vanishing_point import estimate_vanishing_point
    imgs = [road_image((560.0 + 30 * i, 170.0 + 5 * i), seed=i) for i in range(n)]
    t = time.perf_counter()
    for im in imgs:
        estimate_vanishing_point(im)
    return dict(images=n, s_per_image=(time.perf_counter() - t) / n)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--parts', nargs='+', default=['vpca', 'vp', 'model'], choices=['vpca', 'vp', 'model'])
    p.add_argument('--batches', nargs='+', type=int, default=[1, 2])
    p.add_argument('--iters', type=int, default=1)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--no-backward', action='store_true')
    p.add_argument('--vpca-queries', type=int, default=30000)
    p.add_argument('--json', help='write the results here')
    p.add_argument('--_child', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    if args._child:
        print(json.dumps(run_model(args._child, not args.no_backward, args.iters)))
        return 0
    results = {}
    if 'vpca' in args.parts:
        results['vpca'] = run_vpca(args.vpca_queries, 300)
        print('vpca', results['vpca'], flush=True)
    if 'vp' in args.parts:
        results['vp'] = run_vp(4)
        print('vp', results['vp'], flush=True)
    if 'model' in args.parts:
        results['model'] = []
        for B in args.batches:
            cmd = [sys.executable, __file__, '--_child', str(B), '--threads', str(args.threads), '--iters',
                   str(args.iters)] + (['--no-backward'] if args.no_backward else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-2000:], file=sys.stderr)
                return r.returncode
            res = json.loads(r.stdout.strip().splitlines()[-1])
            results['model'].append(res)
            print('model', res, ' official (B=1, 2 threads):', REFERENCE, flush=True)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
