# Stanford2D3D panoramas in the release layout (area_*/pano/{rgb,depth}), fold 1 as UniFuse / OmniFusion:
# train on areas 1, 2, 3, 4, 6, test on area 5 (5a + 5b). Depth in the release's own units (1/512 m,
# 65535 = missing; OmniFusion's loader uses 128/65535, 0.2% larger, irrelevant under median scaling).
# OmniFusion's loader conventions: cv2 BGR image, resized to 512x1024 (INTER_AREA), valid depth
# 0.3 < d <= 8 m, augmentation = random horizontal flip + yaw roll in quarter turns (train script:
# rotate=True, flip=True), val/test batch 2 (the batch is the median-scaling group of the metric).
from mmengine.config import read_base

from geoperc.datasets.depth import Stanford2D3DDataset

with read_base():
    from .pano_split_list import *  # noqa: F401,F403

data_root = 'data/Stanford2D3D'
dataset_type = Stanford2D3DDataset
train_dataloader.dataset = dict(  # noqa: F405
    type=dataset_type, data_root=data_root, split='train', channel_order='bgr', pipeline=train_pipeline,  # noqa: F405
    **depth_range)  # noqa: F405
val_dataloader.dataset = dict(  # noqa: F405
    type=dataset_type, data_root=data_root, split='test', channel_order='bgr', pipeline=test_pipeline,  # noqa: F405
    test_mode=True, **depth_range)  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
