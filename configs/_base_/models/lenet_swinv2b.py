# LENet with the SwinV2-B window-8 encoder, as the official code builds it (dyzy41/lenet, LENet4).
# 168,063,726 parameters. Inputs (B, 2, C, H, W), H and W divisible by 32 (padded by the preprocessor).
# Band statistics belong to the data: every leaf applies its dataset base's `data_preprocessor`
# (mean / std per band; the official 6-channel mean/std is ImageNet's RGB twice) with
# model['data_preprocessor'].update(data_preprocessor).
from geoperc.models.backbones import TimmSwinV2
from geoperc.models.change import LENet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.losses import CrossEntropyLoss

# SyncBN as the official configs; MMEngine's runner reverts it to BN when not distributed.
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    type=LENet,
    data_preprocessor=dict(type=GeoDataPreprocessor, pad_size_divisor=32),
    in_channels=3,
    num_classes=2,
    backbone=dict(type=TimmSwinV2, model_name='swinv2_base_window8_256', drop_path_rate=0.1),
    # local ImageNet-1k weights, e.g. 'pretrained/swinv2_base_window8_256.ms_in1k/pytorch_model.bin'
    # (the official code loads that file); None = random init. Nothing is downloaded.
    pretrained=None,
    channels=256,
    decoder_heads=(4, 8, 16, 32),  # 1/4, 1/8, 1/16, 1/32
    decoder_window=8,
    exchange_levels=(0, 2),
    head_channels=256,
    dropout_ratio=0.1,
    main_in_index=2,
    aux_in_index=(0, 1),
    loss=dict(type=CrossEntropyLoss, loss_weight=1.0),
    loss_aux=[dict(type=CrossEntropyLoss, loss_weight=0.3), dict(type=CrossEntropyLoss, loss_weight=0.3)],
    norm_cfg=norm_cfg,
    img_size=256,
)

# The tiny variant (a 4-stage SwinV2 of width 16 with one block per stage, decoder width 32: 1.66 M
# parameters at 4 bands): what configs/change/lenet/lenet_tiny_1xb8_2k_synth.py trains and what the
# contract test (tests/foundation/test_configs.py) builds every LENet config as.
tiny_model = dict(channels=32, decoder_heads=(1, 2, 4, 8), head_channels=32, img_size=64)
tiny_backbone = dict(model_name='swinv2_tiny_window8_256', embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8),
                     drop_path_rate=0.0)
contract_tiny = dict(tiny_model, backbone=tiny_backbone)
