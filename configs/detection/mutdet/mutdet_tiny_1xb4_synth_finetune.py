# Tiny fine-tuning after tiny MutDet pre-training (tests, geoperc demo --task mutdet): the tiny ARS-DETR of
# configs/detection/ars_detr/ars_detr_tiny_1xb4_2k_synth.py with 2 encoder and 3 decoder layers (so the
# pre-trained E2D2 weights meet a deeper detector, as E2D2 -> E6D6 in the full configs), started from the
# pre-training checkpoint by LoadMutDetPretrainedHook (classification head re-initialised, the report in
# the log). The pre-trained model must have the same widths: configs/detection/mutdet/
# mutdet_tiny_1xb2_synth_pretrain.py. data_root: the generated DOTA-layout task (train/, val/).
from mmengine.config import read_base

with read_base():
    from ..ars_detr.ars_detr_tiny_1xb4_2k_synth import *  # noqa: F401,F403

from mmengine.hooks import DistSamplerSeedHook

from geoperc.models.detection.convert_mutdet import LoadMutDetPretrainedHook

data_root = 'demo_output/mutdet/task'
train_dataloader['dataset']['data_root'] = data_root + '/train'  # noqa: F405
val_dataloader['dataset']['data_root'] = data_root + '/val'  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
model.update(num_encoder_layers=2, num_decoder_layers=3)  # noqa: F405
default_hooks.setdefault('sampler_seed', dict(type=DistSamplerSeedHook))  # noqa: F405
# the MutDet pre-training checkpoint (geoperc or official keys); None fine-tunes from scratch
mutdet_checkpoint = None
custom_hooks = custom_hooks + [dict(type=LoadMutDetPretrainedHook, checkpoint=mutdet_checkpoint)]  # noqa: F405
