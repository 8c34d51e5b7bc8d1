# Fine-tuning after MutDet pre-training (step 4), as the official Step3_Finetuning/ars_detr_DIOR_MutDet.py:
# ARS-DETR R50 E6D6, 20 DIOR-R classes, trainval -> test at 800 x 800, the ARS-DETR schedule of
# configs/detection/ars_detr/ars_detr_r50_b2_36e_dior.py, starting from the E2D2 pre-training checkpoint.
# LoadMutDetPretrainedHook loads it before the first iteration and logs one list of what was loaded,
# re-mapped (the encoder-proposal branches), re-initialised (classification head, denoising label
# embedding), new (layers 2-5) and dropped (enhancement module, embedding heads).
# Published (MutDet README figure, ARS-DETR R50): AP50 / AP75 70.7 / 51.2 (no pre-training 65.7 / 45.7).
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.dior_r import *  # noqa: F401,F403
    from ..ars_detr._base_ars_detr_r50_b2_36e import *  # noqa: F401,F403

from mmengine.hooks import DistSamplerSeedHook

from geoperc.models.detection.convert_mutdet import LoadMutDetPretrainedHook

model.num_classes = 20  # noqa: F405
auto_scale_lr = dict(enable=False, base_batch_size=2)
default_hooks.setdefault('sampler_seed', dict(type=DistSamplerSeedHook))  # noqa: F405

# the pre-training checkpoint: configs/detection/mutdet/mutdet_ars_detr_r50_e2d2_b2_36e_dota_pretrain.py's
# last epoch, or an official one converted with tools/convert_checkpoint.py mutdet
mutdet_checkpoint = 'work_dirs/mutdet_ars_detr_r50_e2d2_b2_36e_dota_pretrain/epoch_36.pth'
custom_hooks = custom_hooks + [dict(type=LoadMutDetPretrainedHook, checkpoint=mutdet_checkpoint)]  # noqa: F405
