# The OmniFusion (ResNet-34) training recipe shared by the dataset leaves of this folder (a base: not a
# runnable config). Official: AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.01, batch 8;
# CosineAnnealingWarmRestarts stepped per epoch (eta_min 1e-6) = cosine restarts of these periods (epochs):
# the 2-pass schedule of train_erp_depth_iterative.py (T0 2, Tmult 2, 80 epochs; the last period is cut by
# max_epochs, as in the official run); validation every 2 epochs. The leaf sets the dataset, patch size and
# passes (the one-pass leaf also its own periods and epochs).
from mmengine.config import read_base
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import CosineRestartLR
from mmengine.runner import EpochBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.omnifusion_r34 import *  # noqa: F401,F403

max_epochs = 80
optim_wrapper = dict(type=OptimWrapper,
                     optimizer=dict(type=AdamW, lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01))
periods = [2, 4, 8, 16, 32, 64]
param_scheduler = [dict(type=CosineRestartLR, periods=periods, restart_weights=[1.0] * len(periods),
                        eta_min=1e-6, by_epoch=True, convert_to_iter_based=False)]
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=max_epochs, val_interval=2)  # official: val every 2 epochs
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks['checkpoint'].update(by_epoch=True, interval=1, max_keep_ckpts=3)
default_hooks['logger'].update(interval=20)
log_processor.update(by_epoch=True)
