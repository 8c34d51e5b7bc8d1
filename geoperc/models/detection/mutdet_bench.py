"""Benchmark of the MutDet pre-training step and of the data preparation (for ``bench/detection.py``).

* :func:`bench_pretrain_step`: the official pre-training model (E2D2 ARS-DETR R50, frozen backbone,
  mutual enhancement depth 3, both branches) at ``size``² with ``num_objects`` pseudo-boxes per image:
  parameters, forward (loss) and forward + backward time per iteration, peak memory (CUDA: allocator
  peak; CPU: the process's peak RSS).
* :func:`bench_data_prep`: step 1 (classical masks) and step 2 (ResNet-50 embeddings) throughput in
  patches per second on generated 800² patches, with the peak RSS.

    python -m geoperc.models.detection.mutdet_bench --size 1024 --objects 100 --repeats 2
"""
import argparse
import json
import os
import os.path as osp
import resource
import tempfile
import time

import numpy as np
import torch

__all__ = ['bench_pretrain_step', 'bench_data_prep']


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _batch(size: int, n: int, batch: int, dim: int = 256, seed: int = 0):
    from mmengine.structures import InstanceData

    from geoperc.structures import GeoDataSample
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 255, (batch, 3, size, size), generator=g).float()
    samples = []
    for _ in range(batch):
        s = GeoDataSample(metainfo=dict(img_shape=(size, size)))
        b = torch.rand(n, 5, generator=g) * torch.tensor([size, size, 60, 20, 3.0]) + torch.tensor([0, 0, 8, 4, -1.5])
        s.gt_instances = InstanceData(bboxes=b, labels=torch.randint(0, 256, (n,), generator=g),
                                      embeds=torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=-1))
        samples.append(s)
    return x, samples


def bench_pretrain_step(size: int = 1024, num_objects: int = 100, batch: int = 1, repeats: int = 2,
                        device: str = 'cpu') -> dict:
    """Time and memory of one MutDet pre-training iteration (see the module docstring)."""
    from mmengine.config import Config

    from geoperc.registry import MODELS
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(root, 'configs', 'detection', 'mutdet',
                                   'mutdet_ars_detr_r50_e2d2_b2_36e_dota_pretrain.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.train()
    x, samples = _batch(size, num_objects, batch)
    x = model.data_preprocessor(dict(inputs=list(x), data_samples=samples), True)
    inputs, samples = x['inputs'].to(device), x['data_samples']
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fwd, fb = [], []
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.no_grad():
            model.loss(inputs, samples)
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        losses = model.loss(inputs, samples)
        sum(v for k, v in losses.items() if k.startswith('loss_')).backward()
        fb.append(time.perf_counter() - t)
        model.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith('cuda') else _rss_mb()
    return dict(size=size, objects_per_image=num_objects, batch=batch, params=params, trainable=trainable,
                forward_s=min(fwd), forward_backward_s=min(fb), peak_mb=peak, device=device,
                threads=torch.get_num_threads())


def bench_data_prep(n_patches: int = 4, patch: int = 800, objects: int = 40, embed_weights=None) -> dict:
    """Step 1 and step 2 throughput (patches / s) on generated patches, and the peak RSS."""
    import cv2

    from geoperc.models.detection.mutdet_data import synth_object_image
    from geoperc.models.detection.mutdet_embed import ObjectEmbedder, build_embeddings
    from geoperc.models.detection.mutdet_pseudo import generate_pseudo_boxes
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'src')
        os.makedirs(src)
        for i in range(n_patches):
            img, _, _ = synth_object_image(rng, (patch, patch), n_objects=objects)
            cv2.imwrite(osp.join(src, f'p{i}.png'), img[..., ::-1])
        t = time.perf_counter()
        r1 = generate_pseudo_boxes([src], osp.join(tmp, 'step1'), patch=patch, gap=200, progress=False)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        r2 = build_embeddings(osp.join(tmp, 'step1'), osp.join(tmp, 'step2'), ObjectEmbedder(embed_weights),
                              progress=False)
        t2 = time.perf_counter() - t
    return dict(patches=r1['patches'], boxes=r1['boxes'], pseudo_boxes_patches_per_s=r1['patches'] / t1,
                embeddings_patches_per_s=r2['patches'] / t2, embeddings_objects_per_s=r2['objects'] / t2,
                peak_rss_mb=_rss_mb(), threads=torch.get_num_threads())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='python -m geoperc.models.detection.mutdet_bench')
    p.add_argument('--size', type=int, default=1024)
    p.add_argument('--objects', type=int, default=100)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--skip-step', action='store_true', help='only the data preparation')
    p.add_argument('--skip-prep', action='store_true', help='only the pre-training step')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = {}
    if not a.skip_step:
        out['pretrain_step'] = bench_pretrain_step(a.size, a.objects, a.batch, a.repeats, a.device)
    if not a.skip_prep:
        out['data_prep'] = bench_data_prep()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
