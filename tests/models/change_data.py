"""Generated bi-temporal batches and a small training / evaluation loop for change-model tests."""
import time

import numpy as np
import torch
from mmengine.structures import PixelData

from geoperc.evaluation.functional import binary_metrics_from_confusion, confusion_matrix
from geoperc.structures import GeoDataSample
from geoperc.testing import synth_change_pair


def make_pairs(n, seed, size=64, bands=4, **kw):
    """``n`` generated pairs: list of ((2, C, H, W) uint8 tensor, (H, W) uint8 label)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, b, lab, _ = synth_change_pair(rng, size, size, bands, **kw)
        out.append((torch.from_numpy(np.stack([a, b])), torch.from_numpy(lab)))
    return out


def to_batch(pairs, rng=None):
    """Pairs -> ``dict(inputs=[...], data_samples=[...])`` as a dataloader gives them; with ``rng``, the
    same random flip / transpose for both dates and the label."""
    inputs, samples = [], []
    for img, lab in pairs:
        if rng is not None:
            if rng.random() < 0.5:
                img, lab = img.flip(-1), lab.flip(-1)
            if rng.random() < 0.5:
                img, lab = img.flip(-2), lab.flip(-2)
            if rng.random() < 0.5:
                img, lab = img.transpose(-1, -2), lab.transpose(-1, -2)
        h, w = lab.shape
        s = GeoDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=lab[None].long().contiguous())
        inputs.append(img.contiguous())
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def change_f1(model, pairs, batch=8):
    """Change-class F1 (and the other scores) of ``model`` on ``pairs``, one accumulated confusion matrix."""
    model.eval()
    cm = np.zeros((2, 2), np.int64)
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            for s in model.test_step(to_batch(pairs[i:i + batch])):
                cm += confusion_matrix(s.pred_sem_seg.data.numpy(), s.gt_sem_seg.data.numpy(), 2)
    model.train()
    return binary_metrics_from_confusion(cm)


def train(model, pairs, steps, batch=8, lr=2e-3, weight_decay=1e-4, warmup=20, seed=0, budget_s=None):
    """Plain loop over ``model.train_step`` with AdamW, linear warm-up then linear decay to 10 %."""
    from mmengine.optim import OptimWrapper
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim.optimizer, lambda i: min(1.0, (i + 1) / warmup) * max(0.1, 1 - i / steps))
    model.train()
    t0 = time.time()
    log = {}
    for step in range(steps):
        idx = rng.choice(len(pairs), size=batch, replace=False)
        log = model.train_step(to_batch([pairs[i] for i in idx], rng), optim)
        sched.step()
        if budget_s is not None and time.time() - t0 > budget_s:
            break
    return {k: float(v) for k, v in log.items()}, step + 1, time.time() - t0
