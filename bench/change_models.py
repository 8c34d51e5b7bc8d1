#!/usr/bin/env python
"""Change-detection models: parameters, forward and forward+backward time per iteration, peak memory.

Each model runs in its own subprocess (so peak RSS is that model's alone), built from its full-size config's
``model`` dict, on random ``(B, 2, C, H, W)`` inputs (default 256 x 256, batch 4) on the CPU:

* ``forward``: ``eval()`` + ``no_grad`` raw outputs (``mode='tensor'``), median over ``--iters`` after a
  warm-up;
* ``fwd+bwd``: ``train()`` loss (``mode='loss'``) + backward, median over ``--iters`` after a warm-up;
* ``peak RSS``: the subprocess's maximum resident set size (``ru_maxrss``), training included; the RSS
  after importing torch / mmdet / geoperc (before the model) is reported as ``import_rss_gb``.

One thread by default (``--threads``): on a shared machine it is the only stable measurement. The LENet
reference figures of the official code on this kind of machine (METHODS.md section 8: 11.8 s / 37.7 s,
about 13 GB) are printed next to ours.

Usage::

    python bench/change_models.py                      # all full-size change models
    python bench/change_models.py --models lenet --iters 3 --threads 2 --json out.json
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS = {
    'lenet': 'configs/change/lenet/lenet_swinv2b_2xb16_40k_levircd.py',
    'fsgnet_r18': 'configs/change/fsgnet/fsgnet_r18_1xb32_100e_levircd.py',
    'fsgnet_r50': ('configs/change/fsgnet/fsgnet_r18_1xb32_100e_levircd.py', dict(depth=50)),
}
REFERENCE = {'lenet': dict(params=168_063_726, forward_s=11.8, fwd_bwd_s=37.7, peak_rss_gb=13.0)}


def _model_cfg(name):
    from mmengine.config import Config
    entry = MODELS[name]
    path, backbone = (entry, None) if isinstance(entry, str) else entry
    cfg = Config.fromfile(osp.join(ROOT, path))
    model = cfg.model
    model['norm_cfg'] = dict(type='BN', requires_grad=True)  # single process: SyncBN -> BN as the runner does
    if 'backbone' in model and isinstance(model['backbone'], dict) and 'norm_cfg' in model['backbone']:
        model['backbone']['norm_cfg'] = dict(type='BN', requires_grad=True)
    if backbone:
        model['backbone'].update(backbone)
    return model


def run_one(name, size, batch, iters, threads):
    """Measure one model in this process; returns a dict."""
    import resource
    import statistics

    import numpy as np
    import torch
    from mmengine.structures import PixelData

    from geoperc.registry import MODELS as REG
    from geoperc.structures import GeoDataSample

    torch.set_num_threads(threads)
    base_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # after imports
    torch.manual_seed(0)
    model = REG.build(_model_cfg(name))
    model.init_weights()
    params = sum(p.numel() for p in model.parameters())
    C = model.in_channels  # bands per date, declared by the model (geoperc/models/base.py)
    x = torch.randn(batch, 2, C, size, size)
    rng = np.random.default_rng(0)
    samples = [GeoDataSample(gt_sem_seg=PixelData(data=torch.from_numpy(rng.integers(0, 2, (1, size, size)))))
               for _ in range(batch)]

    def timed(fn):
        fn()  # warm-up (also builds masks / caches)
        out = []
        for _ in range(iters):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    model.eval()
    with torch.no_grad():
        fwd = timed(lambda: model(x, mode='tensor'))
    model.train()

    def step():
        model.zero_grad(set_to_none=True)
        losses = model(x, samples, mode='loss')
        sum(losses.values()).backward()

    fb = timed(step)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB
    return dict(model=name, params=params, input=f'{batch}x2x{C}x{size}x{size}', threads=threads,
                forward_s=round(fwd, 3), fwd_bwd_s=round(fb, 3), peak_rss_gb=round(rss_gb, 2),
                import_rss_gb=round(base_gb, 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--iters', type=int, default=2)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--_child', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        sys.path.insert(0, ROOT)
        res = run_one(args._child, args.size, args.batch, args.iters, args.threads)
        print('RESULT ' + json.dumps(res), flush=True)
        return 0
    results = []
    for name in args.models:
        cmd = [sys.executable, osp.abspath(__file__), '--_child', name, '--size', str(args.size), '--batch',
               str(args.batch), '--iters', str(args.iters), '--threads', str(args.threads)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONWARNINGS='ignore')
        t = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
        if proc.returncode or not line:
            print(f'{name}: failed\n{proc.stderr[-3000:]}', file=sys.stderr)
            continue
        res = json.loads(line[-1][7:])
        res['wall_s'] = round(time.time() - t, 1)
        results.append(res)
        print(json.dumps(res), flush=True)
    head = '| model | params | input | threads | forward s/it | fwd+bwd s/it | peak RSS GB (after imports) |'
    print('\n' + head + '\n' + '|---' * 7 + '|')
    for r in results:
        print(f"| {r['model']} | {r['params']:,} | {r['input']} | {r['threads']} | {r['forward_s']} | "
              f"{r['fwd_bwd_s']} | {r['peak_rss_gb']} ({r['import_rss_gb']}) |")
        ref = REFERENCE.get(r['model'])
        if ref:
            print(f"| {r['model']} (official code, METHODS.md 8) | {ref['params']:,} | 4x256x256 pairs | 1 | "
                  f"{ref['forward_s']} | {ref['fwd_bwd_s']} | ~{ref['peak_rss_gb']} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0 if len(results) == len(args.models) else 1


if __name__ == '__main__':
    sys.exit(main())
