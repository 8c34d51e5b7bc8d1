# ARS-DETR R50 (E6D6) on DOTA v1.0, trainval patches (1024, gap 200) -> test patches merged per image and
# written as DOTA-server Task 1 files: the recipe of _base_ars_detr_r50_b2_36e.py (as the DIOR-R config,
# validation every 12 epochs) on _base_/datasets/dota.py (its data_root, the split folders made by
# data_prep/dota/split.py, is the one setting).
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.dota import *  # noqa: F401,F403
    from ._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403

model.num_classes = 15  # noqa: F405
model.head_cfg.max_per_img = 300  # noqa: F405  (dense small vehicles per 1024 patch)
train_cfg.update(val_interval=12)  # noqa: F405
