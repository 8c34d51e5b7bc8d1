# Tiny FSG-Net for tests and CPU demos: the same architecture on a ResNet-18 of base width 16 (channels
# 16-128), decoder width 32 (the model base's tiny_model / tiny_backbone, 1.07 M parameters); 64 px tiles of the generated 4-band scene
# (_base_/datasets/synth_change.py; make it with
#   python -c "from geoperc.testing import make_change_scene; make_change_scene('data/synth_change')"),
# the tiny schedule of ../_base_tiny_1xb8_2k.py.
# tests/models/test_learning.py trains this model to change-F1 >= 0.9 on generated pairs.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.synth_change import *  # noqa: F401,F403
    from ..._base_.models.fsgnet_r18 import *  # noqa: F401,F403
    from .._base_tiny_1xb8_2k import *  # noqa: F401,F403

norm_cfg = dict(type='BN', requires_grad=True)
model.update(tiny_model, in_channels=len(data_preprocessor['mean']), norm_cfg=norm_cfg)
model['backbone'].update(tiny_backbone, norm_cfg=norm_cfg)
model['data_preprocessor'].update(data_preprocessor)  # band statistics of the dataset
