# LENet (SwinV2-B) on LEVIR-CD: the official recipe (dyzy41/lenet, configs/lenet/lenet_levir.py) as it is in
# _base_lenet_swinv2b_iter.py: 2 GPUs x 16 (the dataset base's batch), 256 px crops, lr 3e-4, 40000 it.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.levircd import *  # noqa: F401,F403
    from ._base_lenet_swinv2b_iter import *  # noqa: F401,F403

model['data_preprocessor'].update(data_preprocessor)  # band statistics of the dataset
