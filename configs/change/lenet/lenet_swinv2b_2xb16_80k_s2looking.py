# LENet (SwinV2-B) on S2Looking: the official recipe (dyzy41/lenet, configs/lenet/lenet_s2looking.py): 2 GPUs x 16,
# 256 px crops, AdamW lr 3e-4 wd 0.01, LinearLR warm-up 1500 it, PolyLR to 0 at 2 x max_iters, 80000 it.
# S2Looking batch size: not given in METHODS.md (LEVIR-CD 16, CLCD 12 are); 16 assumed.
from mmengine.config import read_base
from mmengine.hooks import CheckpointHook
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.engine.loops import ReproducibleIterBasedTrainLoop

with read_base():
    from ..._base_.datasets.s2looking import *
    from ..._base_.default_runtime import *
    from ..._base_.models.lenet_swinv2b import *

train_dataloader.update(batch_size=16)

max_iters = 80000
# no weight decay on position embeddings / position-bias MLPs and on LayerNorms ('norm' in the name)
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=AdamW, lr=3e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(bypass_duplicate=True, custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.0),
        'relative_position_bias_table': dict(decay_mult=0.0),
        'cpb_mlp': dict(decay_mult=0.0),
        'logit_scale': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
    }))
param_scheduler = [
    dict(type=LinearLR, start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type=PolyLR, power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=2 * max_iters),
]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters, val_interval=2000)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
# best checkpoint by change-class IoU, as the official configs
default_hooks.update(checkpoint=dict(type=CheckpointHook, by_epoch=False, interval=2000, max_keep_ckpts=3,
                                     save_best='change/change_iou', rule='greater'))
