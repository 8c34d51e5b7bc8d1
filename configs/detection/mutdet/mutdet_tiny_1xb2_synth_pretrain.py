# Tiny MutDet pre-training for tests and the CPU demo (geoperc demo --task mutdet): the whole MutDet
# model (mutual enhancement, enhanced branch, siamese head, alignment on matched / denoising queries and
# proposals) on a ResNet-18 of base width 16, width 64, E2D2,
# 50 queries, 20 denoising queries, enhancement depth 2 / 4 heads / MLP 128, 16 pseudo-classes and
# 64-d object embeddings. data_root: a chain folder (step1/, step2/) that the demo writes.
# One departure from the official recipe: the official pre-training freezes an *ImageNet* ResNet-50; the
# demo has no weights, and a frozen random backbone gives the transformer features that fine-tuning then
# changes, so here the backbone trains with the rest (freeze_backbone=False, as the tiny fine-tuning).
from mmdet.models.backbones import ResNet
from mmengine.config import read_base

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.rotated_detr_tiny import *  # noqa: F401,F403
    from ._base_pretrain_no_eval import *  # noqa: F401,F403

from mmengine.dataset import InfiniteSampler
from mmengine.optim import LinearLR, OptimWrapper
from torch.optim import AdamW

from geoperc.datasets.transforms import LoadRotatedAnnotations, LoadRotatedImage, RRandomFlip
from geoperc.engine.loops import ReproducibleIterBasedTrainLoop
from geoperc.models.detection.mutdet import MutDet
from geoperc.models.detection.mutdet_data import LoadObjectEmbeddings, MutDetPretrainDataset, PackMutDetInputs

data_root = 'demo_output/mutdet/chain'
num_pseudo_classes = 16
# the tiny rotated DETR (_base_/models/rotated_detr_tiny.py) with E2D2, an mmdet ResNet-18 and ImageNet statistics
model.update(  # noqa: F405
    type=MutDet, num_classes=num_pseudo_classes, num_encoder_layers=2,
    obj_embed_dims=64, enhance_depth=2, enhance_heads=4, enhance_mlp_dim=128, enc_embed_hidden=128,
    freeze_backbone=False, allow_random_backbone=True)
model['data_preprocessor'].update(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])  # noqa: F405
model['backbone'].update(type=ResNet, init_cfg=None)  # noqa: F405
train_pipeline = [dict(type=LoadRotatedImage), dict(type=LoadRotatedAnnotations),
                  dict(type=LoadObjectEmbeddings),
                  dict(type=RRandomFlip, prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
                  dict(type=PackMutDetInputs)]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type=InfiniteSampler, shuffle=True),
                        dataset=dict(type=MutDetPretrainDataset, data_root=data_root,
                                     num_pseudo_classes=num_pseudo_classes, pipeline=train_pipeline))

max_iters = 200
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=1e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=35, norm_type=2),
                     paramwise_cfg=dict(custom_keys={'sampling_offsets': dict(lr_mult=0.1)}))
param_scheduler = [dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=20)]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters)
default_hooks['logger'].update(interval=10)  # noqa: F405
default_hooks['checkpoint'].update(interval=max_iters, max_keep_ckpts=1)  # noqa: F405
