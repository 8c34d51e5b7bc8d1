# The generated change scene of the tiny configs and CPU tests: the 4-band GeoTIFF pair written by
#   python -c "from geoperc.testing import make_change_scene; make_change_scene('data/synth_change')"
# (date1.tif, date2.tif, label.tif holding 0 / 1 / 255), 64 px windows, half-overlapping for training;
# infinite shuffling sampler (iteration-based training), one process, no workers. Evaluators and the
# one-setting data_root: the common change base (change_folder.py).
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler, InfiniteSampler, pseudo_collate

from geoperc.datasets.change import GeoTIFFChangeDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDateRandomFlip,
                                         MultiDateRandomRotate90, PackChangeInputs)

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/synth_change'
data_preprocessor = dict(mean=[128.0] * 4, std=[64.0] * 4)  # the generator's 4 bands around 128
scene = [dict(a='date1.tif', b='date2.tif', label='label.tif')]
tile = 64
train_pipeline = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None),
                  dict(type=MultiDateRandomFlip, prob=0.5), dict(type=MultiDateRandomRotate90, prob=0.5),
                  dict(type=PackChangeInputs)]
test_pipeline = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None),
                 dict(type=PackChangeInputs)]
train_dataloader = dict(batch_size=8, num_workers=0, sampler=dict(type=InfiniteSampler, shuffle=True),
                        collate_fn=dict(type=pseudo_collate),
                        dataset=dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=scene, tile=tile,
                                     overlap=tile // 2, pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=False),
                      collate_fn=dict(type=pseudo_collate),
                      dataset=dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=scene, tile=tile,
                                   overlap=0, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
