# Tiny rotated DETR for tests and CPU demos: the same architecture (two-stage, refinement, denoising, CSL,
# rotated deformable attention) on a ResNet-18 of base width 16 (stages 32 / 64 / 128 channels), width 64,
# 4 heads, 1 encoder + 2 decoder layers, 50 queries, 20 denoising queries, 128 px images of rotated
# rectangles (3 classes): the model of _base_/models/rotated_detr_tiny.py. Make the data with:
#   python -c "from geoperc.datasets.detection.synth import make_dota_synth; make_dota_synth('data/synth_dota')"
from mmengine.config import read_base

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.rotated_detr_tiny import *  # noqa: F401,F403

from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.optim import LinearLR, MultiStepLR, OptimWrapper
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.datasets.detection import DOTADataset
from geoperc.datasets.transforms import (LoadRotatedAnnotations, LoadRotatedImage, PackRotatedDetInputs,
                                         RRandomFlip, RRandomRotate90)
from geoperc.engine.loops import ReproducibleIterBasedTrainLoop
from geoperc.evaluation.metrics import RotatedMAPMetric

data_root = 'data/synth_dota'
meta = dict(classes=('vehicle', 'ship', 'court'))  # geoperc.datasets.detection.synth.SYNTH_CLASSES
train_pipeline = [dict(type=LoadRotatedImage), dict(type=LoadRotatedAnnotations),
                  dict(type=RRandomFlip, prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
                  dict(type=RRandomRotate90, prob=0.5), dict(type=PackRotatedDetInputs)]
test_pipeline = [dict(type=LoadRotatedImage), dict(type=LoadRotatedAnnotations), dict(type=PackRotatedDetInputs)]
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type=InfiniteSampler, shuffle=True),
                        dataset=dict(type=DOTADataset, data_root=data_root + '/train', metainfo=meta,
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=False),
                      dataset=dict(type=DOTADataset, data_root=data_root + '/val', metainfo=meta, test_mode=True,
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type=RotatedMAPMetric, iou_thrs=[0.5, 0.75])
test_evaluator = val_evaluator

contract_input_size = (64, 64)
max_iters = 2000
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=1e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=35, norm_type=2),
                     paramwise_cfg=dict(custom_keys={'sampling_offsets': dict(lr_mult=0.1)}))
param_scheduler = [dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
                   dict(type=MultiStepLR, by_epoch=False, begin=0, end=max_iters, milestones=[int(max_iters * 0.8)],
                        gamma=0.1)]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters, val_interval=500)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks['logger'].update(interval=25)  # noqa: F405
default_hooks['checkpoint'].update(interval=500, max_keep_ckpts=1)  # noqa: F405
