# Rotated deformable DETR in the ARS-DETR design (geoperc/models/detection/rotated_detr.py), R50, the
# settings of MutDet's fine-tuning config (Step3_Finetuning/base_ars_detr.py): two-stage, box refinement,
# 300 queries, 100 denoising queries (noise 0.5 / 0.4 / 0.02), 180-bin CSL angles (le90, aspect-ratio
# window), rotated deformable attention in the decoder, focal 2 / L1 2 / GIoU 5 / angle 2 losses and costs.
from mmdet.models.losses import CrossEntropyLoss, FocalLoss, GIoULoss, L1Loss
from mmdet.models.necks import ChannelMapper

from geoperc.models.backbones import GeoResNet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.detection import RotatedDETR

model = dict(
    type=RotatedDETR,
    num_classes=15,
    in_channels=3,
    # ImageNet mean / std in R, G, B order (geoperc reads images as RGB)
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           pad_size_divisor=32),
    backbone=dict(type=GeoResNet, depth=50, num_stages=4, out_indices=(1, 2, 3), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                  # a *local* torchvision ResNet-50 checkpoint (e.g. pretrained/resnet50-0676ba61.pth, the
                  # official init); None = random init; nothing is downloaded
                  pretrained=None),
    neck=dict(type=ChannelMapper, in_channels=[512, 1024, 2048], kernel_size=1, out_channels=256, act_cfg=None,
              norm_cfg=dict(type='GN', num_groups=32), num_outs=4),
    embed_dims=256,
    num_feature_levels=4,
    num_queries=300,
    num_encoder_layers=6,
    num_decoder_layers=6,
    num_heads=8,
    num_points=4,
    feedforward_channels=1024,
    dropout=0.1,
    rotate_deform_attn=True,
    dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=0.4, angle_noise_scale=0.02, num_dn_queries=100),
    head_cfg=dict(
        angle_coder=dict(omega=1, window='aspect_ratio', radius=6, normalize=True),
        loss_cls=dict(type=FocalLoss, use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type=L1Loss, loss_weight=2.0),
        loss_iou=dict(type=GIoULoss, loss_weight=5.0),
        loss_angle=dict(type=CrossEntropyLoss, use_sigmoid=True, loss_weight=2.0),
        assigner=dict(cls_weight=2.0, l1_weight=2.0, iou_weight=5.0, angle_weight=2.0, aspect_ratio_weighting=True),
        aspect_ratio_weighting=True,
        enc_loss_on='all',
        max_per_img=100,
    ),
)
