# CDD (Real/subset) in its release layout: {train,val,test}/{A,B,OUT}/*.jpg, 256 px, JPEG masks near
# 0/255 -> LoadChangeLabel(threshold=128) (data_prep/cdd/README.md). data_root may be the archive's top
# folder, Real or Real/subset. Common folder base (change_folder.py); the 256 px crop is a no-op here.
from mmengine.config import read_base

from geoperc.datasets.change import CDDDataset

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/ChangeDetectionDataset/Real/subset'
classes = ('unchanged', 'changed')  # seasonal changes of objects (cars, buildings, roads) ignored
for _loader in (train_dataloader, val_dataloader, test_dataloader):
    _loader['dataset'].update(type=CDDDataset, data_root=data_root, metainfo=dict(classes=classes))
    _loader['dataset']['pipeline'][1].update(threshold=128)  # LoadChangeLabel: JPEG masks
