# The tiny rotated DETR of the tests and CPU demos (ARS-DETR design, geoperc/models/detection/rotated_detr.py):
# two-stage, refinement, denoising, CSL, rotated deformable attention on a ResNet-18 of base width 16
# (stages 32 / 64 / 128 channels), width 64, 4 heads, 1 encoder + 2 decoder layers, 50 queries, 20 denoising
# queries, 3 classes. Shared by configs/detection/ars_detr/ars_detr_tiny_1xb4_2k_synth.py and the tiny MutDet
# pre-training (configs/detection/mutdet/mutdet_tiny_1xb2_synth_pretrain.py).
from mmdet.models.necks import ChannelMapper

from geoperc.models.backbones import GeoResNet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.detection import RotatedDETR

width = 64
model = dict(
    type=RotatedDETR,
    num_classes=3,
    in_channels=3,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[120.0] * 3, std=[60.0] * 3, pad_size_divisor=32),
    backbone=dict(type=GeoResNet, depth=18, base_channels=16, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch'),
    neck=dict(type=ChannelMapper, in_channels=[32, 64, 128], kernel_size=1, out_channels=width, act_cfg=None,
              norm_cfg=dict(type='GN', num_groups=32), num_outs=4),
    embed_dims=width, num_feature_levels=4, num_queries=50, num_encoder_layers=1, num_decoder_layers=2,
    num_heads=4, num_points=4, feedforward_channels=128, dropout=0.0, rotate_deform_attn=True,
    dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=0.4, angle_noise_scale=0.02, num_dn_queries=20),
    head_cfg=dict(max_per_img=50, enc_loss_on='all'),
)
