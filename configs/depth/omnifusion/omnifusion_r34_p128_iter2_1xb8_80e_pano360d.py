# OmniFusion, 2 passes, 18 x 128-px patches (the training scripts' default), 360D 256x512: the recipe of
# _base_omnifusion_r34_1xb8_80e.py on _base_/datasets/pano360d.py.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.pano360d import *  # noqa: F401,F403
    from ._base_omnifusion_r34_1xb8_80e import *  # noqa: F401,F403

model.update(patch_size=128, iters=2)
