# VPOcc (Kim et al., IROS 2025) as configs/models/vpocc.yaml of the official code: ResNet-50 + MaskDINO-style
# pixel decoder (strides 4, 8, 16 projected to 128), 256 x 256 x 32 scene at 0.2 m, project_scale 2,
# downsample_z 2 (128 x 128 x 8 queries), VPZoomer alpha 0.2, 3 x (VPCA | deformable attention), SVF, 3D UNet,
# 20 classes, CE (1/log(freq) weights) + sem_scal + geo_scal. Images normalised with ImageNet statistics.
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.occupancy import VPOcc, VPOccImageEncoder

data_preprocessor = dict(type=GeoDataPreprocessor, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         pad_size_divisor=1)
model = dict(
    type=VPOcc,
    encoder=dict(type=VPOccImageEncoder, depth=50, hidden_dims=256, num_encoder_layers=6, frozen_bn=True,
                 pretrained=None),  # a local maskdino_r50_50e_300q_panoptic_pq53.0.pth to start from COCO
    embed_dims=128, num_classes=20, scene_size=(256, 256, 32), view_scales=(4, 8, 16), project_scale=2,
    downsample_z=2, voxel_size=0.2, voxel_origin=(0.0, -25.6, -2.0), alpha=0.2, num_layers=3, num_heads=8,
    num_points=9, class_weights='semantic_kitti', data_preprocessor=data_preprocessor)
