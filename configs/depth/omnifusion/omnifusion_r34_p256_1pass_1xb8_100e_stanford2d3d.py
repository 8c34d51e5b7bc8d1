# OmniFusion, one pass (train_erp_depth.py schedule: T0 5, Tmult 2, 100 epochs), Stanford2D3D 512x1024. The
# official single-pass network (spherical_model.py) feeds a 5-channel geometry input (a leftover); this is the
# iterative network run once. The recipe of _base_omnifusion_r34_1xb8_80e.py with these periods and epochs.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.stanford2d3d import *  # noqa: F401,F403
    from ._base_omnifusion_r34_1xb8_80e import *  # noqa: F401,F403

model.update(patch_size=256, iters=1)
max_epochs = 100
periods = [5, 10, 20, 40, 80]  # the last one is cut by max_epochs, as in the official run
param_scheduler[0].update(periods=periods, restart_weights=[1.0] * len(periods))
train_cfg.update(max_epochs=max_epochs)
# mlp_points2 (the refinement embedding) is not used with one pass
find_unused_parameters = True
