# MutDet fine-tuning on DOTA v1.0 (trainval patches 1024 / gap 200 -> test, DOTA-server Task 1 files):
# ARS-DETR R50 E6D6, 15 classes, the schedule of configs/detection/ars_detr/ars_detr_r50_b2_36e_dota.py,
# from the E2D2 pre-training checkpoint (see mutdet_ars_detr_r50_b2_36e_dior.py for what is loaded).
# Published (MutDet README figure): AP50 / AP75 74.5 / 51.6 (no pre-training 72.9 / 49.6).
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.dota import *  # noqa: F401,F403
    from ..ars_detr._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403

from mmengine.hooks import DistSamplerSeedHook

from geoperc.models.detection.convert_mutdet import LoadMutDetPretrainedHook

model.num_classes = 15  # noqa: F405
model.head_cfg.max_per_img = 300  # noqa: F405  (dense small vehicles per 1024 patch)
train_cfg.update(val_interval=12)  # noqa: F405
default_hooks.setdefault('sampler_seed', dict(type=DistSamplerSeedHook))  # noqa: F405

mutdet_checkpoint = 'work_dirs/mutdet_ars_detr_r50_e2d2_b2_36e_dota_pretrain/epoch_36.pth'
custom_hooks = custom_hooks + [dict(type=LoadMutDetPretrainedHook, checkpoint=mutdet_checkpoint)]  # noqa: F405
