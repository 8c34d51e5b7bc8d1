# FSG-Net with a ResNet-18 (mmdet) encoder. STSAM follows the official stsam.py; DAWIM, LGFU and the
# wiring are designed from the paper (see geoperc/models/change/fsgnet.py and configs/change/fsgnet/).
from mmdet.models.backbones import ResNet

from geoperc.models.change import FSGNet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.losses import BCEDiceLoss

norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN by the runner when not distributed

model = dict(
    type=FSGNet,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], pad_size_divisor=32),
    backbone=dict(type=ResNet, depth=18, out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg, norm_eval=False,
                  style='pytorch', init_cfg=None),
    in_channels=3,
    # local torchvision/mmdet ResNet weights (e.g. 'pretrained/resnet18-f37072fd.pth'), loaded in
    # init_weights with the first conv adapted to in_channels; None = random init.
    backbone_pretrained=None,
    channels=64,
    dawim_levels=(0, 1, 2, 3),
    stsam_levels=(3,),
    loss=dict(type=BCEDiceLoss, bce_weight=1.0, dice_weight=1.0),
    norm_cfg=norm_cfg,
)
