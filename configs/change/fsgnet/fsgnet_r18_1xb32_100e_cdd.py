# FSG-Net (ResNet-18) on CDD: the recipe of _base_fsgnet_r18_1xb32_100e.py on _base_/datasets/cdd.py.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.cdd import *  # noqa: F401,F403
    from ._base_fsgnet_r18_1xb32_100e import *  # noqa: F401,F403

train_dataloader.update(batch_size=32)
model['data_preprocessor'].update(data_preprocessor)  # band statistics of the dataset
