# LEVIR-CD in its release layout: {train,val,test}/{A,B,label}/*.png, 1024 px, labels 0/255
# (data_prep/levircd/README.md), on the common folder base (change_folder.py: LENet's augmentation, whole
# images for val/test). To evaluate the data_prep/levircd/crop.py 256 px crops, point
# test_dataloader.dataset.data_root at the crop folder. The official runs used 16 per GPU on 2 GPUs.
from mmengine.config import read_base

from geoperc.datasets.change import LEVIRCDDataset

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/LEVIR-CD'
classes = ('unchanged', 'building change')
for _loader in (train_dataloader, val_dataloader, test_dataloader):
    _loader['dataset'].update(type=LEVIRCDDataset, data_root=data_root, metainfo=dict(classes=classes))
