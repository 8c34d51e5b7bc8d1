# FSG-Net with a ResNet-18 encoder (geoperc GeoResNet = mmdet's ResNet on the backbone interface). STSAM
# follows the official stsam.py; DAWIM, LGFU and the wiring are designed from the paper (see
# geoperc/models/change/fsgnet.py and configs/change/fsgnet/README.md). 12,647,978 parameters.
# Band statistics belong to the data: every leaf applies its dataset base's `data_preprocessor`
# (mean / std per band) with model['data_preprocessor'].update(data_preprocessor).
from geoperc.models.backbones import GeoResNet
from geoperc.models.change import FSGNet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.losses import BCEDiceLoss

norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN by the runner when not distributed

model = dict(
    type=FSGNet,
    data_preprocessor=dict(type=GeoDataPreprocessor, pad_size_divisor=32),
    in_channels=3,
    num_classes=2,
    backbone=dict(type=GeoResNet, depth=18, norm_cfg=norm_cfg),
    # local torchvision/mmdet ResNet weights (e.g. 'pretrained/resnet18-f37072fd.pth'), loaded by the
    # backbone's init_weights with the first conv adapted to in_channels; None = random init.
    pretrained=None,
    channels=64,
    dawim_levels=(0, 1, 2, 3),
    stsam_levels=(3,),
    loss=dict(type=BCEDiceLoss, bce_weight=1.0, dice_weight=1.0),
    norm_cfg=norm_cfg,
)

# The tiny variant (ResNet-18 of base width 16, decoder width 32: 1.07 M parameters at 4 bands): what
# configs/change/fsgnet/fsgnet_tiny_1xb8_2k_synth.py trains and what the contract test
# (tests/foundation/test_configs.py) builds every FSG-Net config as.
tiny_model = dict(channels=32)
tiny_backbone = dict(base_channels=16)
contract_tiny = dict(tiny_model, backbone=tiny_backbone)
