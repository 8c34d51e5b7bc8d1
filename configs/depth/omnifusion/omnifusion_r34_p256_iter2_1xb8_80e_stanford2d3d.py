# OmniFusion, 2 passes (train_erp_depth_iterative.py: T0 2, Tmult 2, 80 epochs), 18 x 256-px patches,
# Stanford2D3D 512x1024: the recipe of _base_omnifusion_r34_1xb8_80e.py on _base_/datasets/stanford2d3d.py.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.stanford2d3d import *  # noqa: F401,F403
    from ._base_omnifusion_r34_1xb8_80e import *  # noqa: F401,F403

model.update(patch_size=256, iters=2)
