"""GZ-CD, the Guangzhou season-varying change dataset (Peng et al., SemiCDNet, IEEE TGRS 2020):
19 Google Earth pairs of suburban Guangzhou, 0.55 m, RGB, 1006 x 1168 to 4936 x 5224 px.

Layouts (see ``data_prep/gzcd/README.md`` for what could and could not be verified):

* cropped split copies, as used by FSG-Net and most papers (256 x 256 patches)::

      GZ-CD/{train,val,test}/{A,B,label}/<name>.png      labels 0 / 255

  -> ``GZCDDataset(data_root=..., split='train')``;
* the original release (Baidu drive only), the 19 full scenes in three folders::

      GZ-CD/T1/<name>   GZ-CD/T2/<name>   GZ-CD/labels_change/<name>

  -> ``GZCDDataset(data_root=..., split='raw')`` (the same as ``data_prefix=dict(img_a='T1',
  img_b='T2', seg_map='labels_change')``),
  with a ``MultiDateRandomCrop`` in the pipeline (the scenes are large).
"""
from geoperc.registry import DATASETS
from .base import FolderChangeDataset


@DATASETS.register_module()
class GZCDDataset(FolderChangeDataset):
    """GZ-CD in the cropped split layout (default) or the raw ``T1/T2/labels_change`` layout."""
    FOLDERS = ('A', 'B', 'label')
    IMG_SUFFIX = ('.png', '.jpg', '.tif', '.tiff')
    SEG_SUFFIX = ('.png', '.jpg', '.tif', '.tiff')
    RAW_PREFIX = dict(img_a='T1', img_b='T2', seg_map='labels_change')

    def __init__(self, data_root: str = '', split=None, data_prefix=None, **kwargs):
        if split == 'raw' and data_prefix is None:
            data_prefix = dict(self.RAW_PREFIX)
        super().__init__(data_root=data_root, split=split, data_prefix=data_prefix, **kwargs)
