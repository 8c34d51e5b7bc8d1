# ARS-DETR R50 (E6D6) on DIOR-R, official trainval -> test at 800 x 800: the recipe of
# _base_ars_detr_r50_b2_36e.py (MutDet's fine-tuning schedule, Step3_Finetuning/ars_detr_DIOR_MutDet.py) on
# _base_/datasets/dior_r.py (its data_root is the one setting).
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.dior_r import *  # noqa: F401,F403
    from ._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403

model.num_classes = 20  # noqa: F405
auto_scale_lr = dict(enable=False, base_batch_size=2)
