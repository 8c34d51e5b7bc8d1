# OmniFusion, 2 passes, 18 x 256-px patches, Matterport3D 512x1024 (valid depth up to 10 m): the recipe of
# _base_omnifusion_r34_1xb8_80e.py on _base_/datasets/matterport3d.py.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.matterport3d import *  # noqa: F401,F403
    from ._base_omnifusion_r34_1xb8_80e import *  # noqa: F401,F403

model.update(patch_size=256, iters=2)
