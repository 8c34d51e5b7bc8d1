# MutDet pre-training (step 3) as the official MutDet_DOTA_Pretrain.py: ARS-DETR R50 with 2 encoder and
# 2 decoder layers (E2D2), 256 pseudo-classes, mutual enhancement (depth 3, 8 heads, MLP 2048), the
# enhanced branch + the auxiliary siamese head, InfoNCE alignment (tau 0.2, weight 2 tau); frozen
# backbone; DOTA-v1.0 train patches (800, gap 200) resized to 1024, flips h / v / diagonal 0.25 each;
# AdamW 1e-4, wd 1e-5, lr x0.1 for backbone / sampling offsets / reference points, grad-clip 35, linear
# warm-up 500 iterations from 1/3, 36 epochs, lr x0.1 at 32, batch 2 per GPU (the ARS-DETR recipe of
# ../ars_detr/_base_ars_detr_r50_b2_36e.py), no evaluation (_base_pretrain_no_eval.py), a checkpoint per epoch.
#
# data_root (the one setting) is the chain folder of steps 1-2 (configs/detection/mutdet/README.md):
#   python data_prep/mutdet/pseudo_boxes.py data/DOTA/train/images --out data/mutdet_dota/step1 --workers 2
#   python data_prep/mutdet/embeddings.py data/mutdet_dota/step1 --out data/mutdet_dota/step2 \
#       --weights pretrained/resnet50-0676ba61.pth
# The frozen backbone must be ImageNet ResNet-50 (official): set model.pretrained to a local torchvision
# checkpoint, e.g. --cfg-options model.backbone.pretrained=pretrained/resnet50-0676ba61.pth (MutDet warns loudly
# when a frozen backbone is left random).
from mmengine.config import read_base

with read_base():
    from ..ars_detr._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403
    from ._base_pretrain_no_eval import *  # noqa: F401,F403

from mmengine.dataset import DefaultSampler
from mmengine.runner import EpochBasedTrainLoop

from geoperc.datasets.transforms import LoadRotatedAnnotations, LoadRotatedImage, RRandomFlip, RResize
from geoperc.models.detection.mutdet import MutDet
from geoperc.models.detection.mutdet_data import LoadObjectEmbeddings, MutDetPretrainDataset, PackMutDetInputs

data_root = 'data/mutdet_dota'
model.update(  # noqa: F405
    type=MutDet, num_classes=256, num_encoder_layers=2, num_decoder_layers=2, obj_embed_dims=256,
    enhance_depth=3, enhance_heads=8, enhance_mlp_dim=2048, enc_embed_hidden=1024, tau=0.2, score_mode='logit',
    mask_invalid_proposals=True, dn_align='first_group', freeze_backbone=True, pretrained=None)
model['backbone'].update(frozen_stages=4)  # noqa: F405

train_pipeline = [
    dict(type=LoadRotatedImage),
    dict(type=LoadRotatedAnnotations),
    dict(type=LoadObjectEmbeddings, max_objects=1000),
    dict(type=RResize, scale=(1024, 1024), keep_ratio=True),
    dict(type=RRandomFlip, prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type=PackMutDetInputs),
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True, sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=MutDetPretrainDataset, data_root=data_root, num_pseudo_classes=256, pipeline=train_pipeline))
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=max_epochs)  # noqa: F405  (no validation)
default_hooks['logger'].update(log_metric_by_epoch=False)  # noqa: F405
default_hooks['checkpoint'].update(interval=1)  # noqa: F405
auto_scale_lr = dict(enable=False, base_batch_size=2)
