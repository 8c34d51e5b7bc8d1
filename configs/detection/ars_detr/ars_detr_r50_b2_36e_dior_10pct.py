# ARS-DETR R50 as ars_detr_r50_b2_36e_dior.py on a 10% subset of DIOR-R trainval (MutDet's limited-data
# setting; the authors' list is not published). The subset is every image id of trainval shuffled with
# numpy's default_rng(0), first 10% (1,172 of 11,725), written by:
#   python data_prep/dior_r/make_subset.py data/DIOR-R --fraction 0.1 --seed 0
# -> data/DIOR-R/ImageSets/Main/trainval_10pct_seed0.txt. Test is the full official test split.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.dior_r import *  # noqa: F401,F403
    from ._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403

model.num_classes = 20  # noqa: F405
auto_scale_lr = dict(enable=False, base_batch_size=2)
train_dataloader.dataset.split = None  # noqa: F405
train_dataloader.dataset.ann_file = data_root + '/ImageSets/Main/trainval_10pct_seed0.txt'  # noqa: F405
