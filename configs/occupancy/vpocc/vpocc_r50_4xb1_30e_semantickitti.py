# VPOcc on SemanticKITTI, the official recipe (configs/config.yaml + schedules/adamw_lr2e-4_30e.yaml +
# models/vpocc.yaml of vision3d-lab/VPOcc): _base_vpocc_r50_4xb1_30e.py on _base_/datasets/semantickitti.py.
# Validation each epoch on sequence 08.
# Reference (official README): val IoU 44.98 / mIoU 16.36, test 44.58 / 16.15.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.semantickitti import *  # noqa: F401,F403
    from ._base_vpocc_r50_4xb1_30e import *  # noqa: F401,F403

auto_scale_lr = dict(enable=False, base_batch_size=4)
