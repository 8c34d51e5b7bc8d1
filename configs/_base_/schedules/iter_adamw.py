# Iteration-based AdamW schedule (LENet's official recipe, scaled by max_iters in the leaf config):
# LinearLR warm-up from 1e-6x over 1500 iterations, then PolyLR (power 1) towards 0 at 2 x max_iters.
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.engine.loops import ReproducibleIterBasedTrainLoop

max_iters = 40000
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=AdamW, lr=3e-4, betas=(0.9, 0.999), weight_decay=0.01),
)
param_scheduler = [
    dict(type=LinearLR, start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type=PolyLR, power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=2 * max_iters),
]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters, val_interval=1000)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
