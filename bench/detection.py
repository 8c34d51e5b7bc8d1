#!/usr/bin/env python
"""Oriented detection: the rotated DETR (ARS-DETR design) against mmdet's DINO R-50, and the splitter.

Each model runs in its own subprocess (peak RSS is that model's alone), on random ``(B, 3, S, S)``
inputs (default 1024², batch 1) with a few generated objects, on the CPU unless ``--device cuda``:

* ``params``: parameters of the model;
* ``forward``: ``eval()`` + ``no_grad`` prediction, median over ``--iters`` after a warm-up;
* ``fwd+bwd``: ``train()`` loss + backward, median over ``--iters`` after a warm-up;
* ``peak``: peak RSS of the subprocess (CPU) or ``torch.cuda.max_memory_allocated`` (GPU).

Models: ``e2d2`` / ``e6d6`` (``configs/detection/ars_detr/ars_detr_r50_b2_36e_dota.py`` with 2/2 or 6/6
layers) and ``dino`` (mmdet 3.2's ``dino-4scale_r50_8xb2-12e_coco.py``, 80 classes: the peer reference;
``ours / dino`` ratios are printed). ``--msda`` times the deformable-attention sampling, compiled op vs
the pure-PyTorch path (the op needs CUDA; on CPU only the PyTorch path is timed). ``--split`` times the
splitter on a generated GeoTIFF of ``--split-size``² (patches 1024 / gap 200) and reports its peak RSS.

Usage::

    python bench/detection.py --size 512 --iters 1                 # quick, CPU
    python bench/detection.py --device cuda --msda --split --json out.json
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
OURS = 'configs/detection/ars_detr/ars_detr_r50_b2_36e_dota.py'


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _build(name: str):
    from mmengine.config import Config
    if name == 'dino':
        import mmdet
        from mmdet.registry import MODELS as MMDET_MODELS
        from mmdet.utils import register_all_modules
        register_all_modules()
        cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'dino',
                                       'dino-4scale_r50_8xb2-12e_coco.py'))
        cfg.model.backbone.init_cfg = None
        return MMDET_MODELS.build(cfg.model)
    from geoperc.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, OURS))
    n = 2 if name == 'e2d2' else 6
    cfg.model.update(num_encoder_layers=n, num_decoder_layers=n)
    return MODELS.build(cfg.model)


def _batch(name: str, size: int, batch: int, device: str):
    import torch
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8) for _ in range(batch)]
    samples = []
    for _ in range(batch):
        n = 20
        ctr = torch.rand(n, 2, generator=g) * size * 0.8 + size * 0.1
        wh = torch.rand(n, 2, generator=g) * size * 0.05 + 8
        ang = (torch.rand(n, 1, generator=g) - 0.5) * 3.1
        labels = torch.randint(0, 15, (n,), generator=g)
        if name == 'dino':
            from mmdet.structures import DetDataSample
            s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.),
                                            batch_input_shape=(size, size)))
            s.gt_instances = InstanceData(bboxes=torch.cat([ctr - wh / 2, ctr + wh / 2], 1), labels=labels)
        else:
            from geoperc.structures import GeoDataSample
            s = GeoDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
            s.gt_instances = InstanceData(bboxes=torch.cat([ctr, wh.max(1, keepdim=True).values,
                                                            wh.min(1, keepdim=True).values, ang], 1), labels=labels)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def run_model(name: str, size: int, batch: int, iters: int, device: str) -> dict:
    import torch
    rss0 = _rss_gb()
    model = _build(name).to(device)
    params = sum(p.numel() for p in model.parameters())
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    model.eval()
    fwd = []
    for i in range(iters + 1):
        data = model.data_preprocessor(_batch(name, size, batch, device), False)
        sync()
        t = time.perf_counter()
        with torch.no_grad():
            model(**data, mode='predict')
        sync()
        if i:
            fwd.append(time.perf_counter() - t)
    model.train()
    bwd = []
    for i in range(iters + 1):
        data = model.data_preprocessor(_batch(name, size, batch, device), True)
        sync()
        t = time.perf_counter()
        losses = model(**data, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k and torch.is_tensor(v)).backward()
        sync()
        if i:
            bwd.append(time.perf_counter() - t)
        model.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated() / 1024 ** 3 if device.startswith('cuda') else _rss_gb()
    return dict(model=name, params=params, forward_s=_median(fwd), fwd_bwd_s=_median(bwd), peak_gb=peak,
                import_rss_gb=rss0, size=size, batch=batch, device=device)


def run_msda(device: str, iters: int = 5) -> dict:
    import torch

    from geoperc.models.detection import msda_sample
    shapes = torch.tensor([[128, 128], [64, 64], [32, 32], [16, 16]], device=device)
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    S = int(shapes.prod(1).sum())
    value = torch.randn(1, S, 8, 32, device=device)
    loc = torch.rand(1, S, 8, 4, 4, 2, device=device)  # encoder-like: every token a query
    w = torch.rand(1, S, 8, 4, 4, device=device).softmax(-1)
    out = {}
    for use_op in ([True, False] if device.startswith('cuda') else [False]):
        ts = []
        for i in range(iters + 1):
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            t = time.perf_counter()
            msda_sample(value, shapes, starts, loc, w, use_op=use_op)
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            if i:
                ts.append(time.perf_counter() - t)
        out['op_s' if use_op else 'pytorch_s'] = _median(ts)
    if 'op_s' in out:
        out['pytorch_over_op'] = out['pytorch_s'] / out['op_s']
    return out


def run_split(size: int, nproc: int) -> dict:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from geoperc.datasets.detection.split import split_dataset
    with tempfile.TemporaryDirectory() as d:
        src = osp.join(d, 'in')
        os.makedirs(src)
        path = osp.join(src, 'big.tif')
        block = 1024
        with rasterio.open(path, 'w', driver='GTiff', width=size, height=size, count=3, dtype='uint8',
                           crs='EPSG:32632', transform=from_origin(5e5, 5.4e6, 0.1, 0.1), tiled=True,
                           blockxsize=256, blockysize=256) as dst:
            rng = np.random.default_rng(0)
            for y in range(0, size, block):
                for x in range(0, size, block):
                    h, w = min(block, size - y), min(block, size - x)
                    dst.write(rng.integers(0, 255, (3, h, w), dtype=np.uint8),
                              window=rasterio.windows.Window(x, y, w, h))
        rss0 = _rss_gb()
        t = time.perf_counter()
        stats = split_dataset(src, osp.join(d, 'out'), sizes=[1024], gaps=[200], nproc=nproc, progress=False)
        dt = time.perf_counter() - t
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    return dict(raster=f'{size}x{size}x3 uint8', patches=stats['written'], seconds=dt,
                patches_per_s=stats['written'] / dt, megapixels_per_s=size * size / 1e6 / dt,
                peak_rss_gb=_rss_gb(), worker_peak_rss_gb=workers, rss_before_gb=rss0, nproc=nproc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='bench/detection.py', description=__doc__.split('\n')[0])
    p.add_argument('--models', nargs='+', default=['e2d2', 'e6d6', 'dino'])
    p.add_argument('--size', type=int, default=1024)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--iters', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--msda', action='store_true')
    p.add_argument('--split', action='store_true')
    p.add_argument('--split-size', type=int, default=8192)
    p.add_argument('--nproc', type=int, default=2)
    p.add_argument('--json', default=None)
    p.add_argument('--_child', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    sys.path.insert(0, ROOT)
    if a._child:
        kind, _, arg = a._child.partition(':')
        res = run_model(arg, a.size, a.batch, a.iters, a.device) if kind == 'model' else \
            run_split(a.split_size, a.nproc) if kind == 'split' else run_msda(a.device)
        print('RESULT ' + json.dumps(res))
        return 0
    results = []
    jobs = [f'model:{m}' for m in a.models] + (['msda:'] if a.msda else []) + (['split:'] if a.split else [])
    for job in jobs:
        cmd = [sys.executable, osp.abspath(__file__), '--_child', job, '--size', str(a.size), '--batch', str(a.batch),
               '--iters', str(a.iters), '--device', a.device, '--threads', str(a.threads),
               '--split-size', str(a.split_size), '--nproc', str(a.nproc)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in r.stdout.splitlines() if ln.startswith('RESULT ')]
        if r.returncode or not line:
            print(f'{job}: failed\n{r.stderr[-2000:]}')
            continue
        res = json.loads(line[-1][7:])
        results.append(dict(job=job, **res))
        print(job, json.dumps(res))
    models = {r['model']: r for r in results if r['job'].startswith('model:')}
    if 'dino' in models:
        for m in ('e2d2', 'e6d6'):
            if m in models:
                print(f'{m} / dino: params {models[m]["params"] / models["dino"]["params"]:.2f}, forward '
                      f'{models[m]["forward_s"] / models["dino"]["forward_s"]:.2f}, fwd+bwd '
                      f'{models[m]["fwd_bwd_s"] / models["dino"]["fwd_bwd_s"]:.2f}, peak '
                      f'{models[m]["peak_gb"] / models["dino"]["peak_gb"]:.2f}')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
