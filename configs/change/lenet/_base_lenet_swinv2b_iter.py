# The LENet (SwinV2-B) training recipe shared by the dataset leaves of this folder (a base: not a
# runnable config): the official one (dyzy41/lenet, configs/lenet/*.py) = _base_/schedules/iter_adamw.py
# (AdamW (0.9, 0.999) lr 3e-4 wd 0.01, LinearLR warm-up from 1e-6x over 1500 it, PolyLR to 0 at
# 2 x max_iters, 40000 it, validation every 1000) plus no weight decay on position embeddings,
# position-bias MLPs, logit scales and LayerNorms ('norm' in the name), best checkpoint by change IoU.
# Leaves set what differs per dataset (batch, lr, iterations) and the band statistics.
from mmengine.config import read_base

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.lenet_swinv2b import *  # noqa: F401,F403
    from ..._base_.schedules.iter_adamw import *  # noqa: F401,F403

optim_wrapper.update(paramwise_cfg=dict(bypass_duplicate=True, custom_keys={
    'absolute_pos_embed': dict(decay_mult=0.0),
    'relative_position_bias_table': dict(decay_mult=0.0),
    'cpb_mlp': dict(decay_mult=0.0),
    'logit_scale': dict(decay_mult=0.0),
    'norm': dict(decay_mult=0.0),
}))
default_hooks['checkpoint'].update(interval=train_cfg['val_interval'], save_best='change/change_iou',
                                   rule='greater')
