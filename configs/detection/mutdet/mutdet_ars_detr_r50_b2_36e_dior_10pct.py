# MutDet fine-tuning on the 10% subset of DIOR-R trainval (the paper's limited-data setting: +6.1 AP50 over
# DETReg; the absolute numbers and the authors' split list are not published). The subset is the one of
# configs/detection/ars_detr/ars_detr_r50_b2_36e_dior_10pct.py (numpy default_rng(0), first 10%):
#   python data_prep/dior_r/make_subset.py data/DIOR-R --fraction 0.1 --seed 0
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.dior_r import *  # noqa: F401,F403
    from ..ars_detr._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403

from mmengine.hooks import DistSamplerSeedHook

from geoperc.models.detection.convert_mutdet import LoadMutDetPretrainedHook

model.num_classes = 20  # noqa: F405
auto_scale_lr = dict(enable=False, base_batch_size=2)
default_hooks.setdefault('sampler_seed', dict(type=DistSamplerSeedHook))  # noqa: F405

train_dataloader.dataset.split = None  # noqa: F405
train_dataloader.dataset.ann_file = data_root + '/ImageSets/Main/trainval_10pct_seed0.txt'  # noqa: F405
mutdet_checkpoint = 'work_dirs/mutdet_ars_detr_r50_e2d2_b2_36e_dota_pretrain/epoch_36.pth'
custom_hooks = custom_hooks + [dict(type=LoadMutDetPretrainedHook, checkpoint=mutdet_checkpoint)]  # noqa: F405
