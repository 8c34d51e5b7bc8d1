"""The one data sample every geoperc task uses.

Geo information travels as *metainfo*, never as tensors (ARCHITECTURE.md). The keys below are what
``geoperc.io`` writes and reads; models only ever see pixels.

Fields (all optional, by task):

* ``gt_sem_seg`` / ``pred_sem_seg`` (:class:`PixelData`, ``data`` of shape (1, H, W), long): class or
  change maps, e.g. 0 = unchanged, 1 = changed, ``ignore_index`` (255) = not scored.
* ``seg_logits`` (:class:`PixelData`, (K, H, W) float): per-class *probabilities* after softmax /
  sigmoid; K >= 2 for classification (a binary change model reports [1 - p, p]). Tiled inference blends
  these and takes the argmax after blending.
* ``pred_depth`` / ``gt_depth`` (:class:`PixelData`, (1, H, W) float): regression outputs (360 depth).
* ``gt_instances`` / ``pred_instances`` (:class:`InstanceData`): ``bboxes`` (N, 5) rotated boxes
  ``(cx, cy, w, h, angle)`` in tile pixels, angle in radians, ``le90`` convention; ``labels`` (N,);
  ``scores`` (N,).
* ``gt_occ`` / ``pred_occ`` (:class:`BaseDataElement` holding (X, Y, Z) voxel labels) for occupancy.
* ``valid_mask`` (:class:`PixelData`, (1, H, W) bool): pixels with data on every date (nodata -> False).
"""
from mmengine.structures import BaseDataElement, InstanceData, PixelData

# metainfo keys with a geo meaning, written by geoperc.io and the datasets
GEO_META_KEYS = (
    'img_path',      # str or list of str (one per date)
    'crs',           # WKT string of the raster CRS (None for plain images)
    'transform',     # 6-tuple affine (a, b, c, d, e, f) of the *window* in map coordinates
    'window',        # (col_off, row_off, width, height) in the source raster
    'nodata',        # nodata value of the source, or None
    'ori_shape',     # (H, W) before padding / resizing
    'img_shape',     # (H, W) the model sees
    'pad_shape',     # (H, W) after padding
    'padding',       # (top, bottom, left, right) added by the preprocessor
    'band_count',    # input bands per date
)


class GeoDataSample(BaseDataElement):
    """Data sample for every geoperc task; see the module docstring for the fields."""

    def _pixel(self, name, value, dtype=None):
        assert isinstance(value, PixelData), f'{name} must be PixelData, got {type(value)}'
        self.set_field(value, '_' + name, dtype=PixelData)

    @property
    def gt_sem_seg(self) -> PixelData:
        return self._gt_sem_seg

    @gt_sem_seg.setter
    def gt_sem_seg(self, value: PixelData):
        self._pixel('gt_sem_seg', value)

    @gt_sem_seg.deleter
    def gt_sem_seg(self):
        del self._gt_sem_seg

    @property
    def pred_sem_seg(self) -> PixelData:
        return self._pred_sem_seg

    @pred_sem_seg.setter
    def pred_sem_seg(self, value: PixelData):
        self._pixel('pred_sem_seg', value)

    @pred_sem_seg.deleter
    def pred_sem_seg(self):
        del self._pred_sem_seg

    @property
    def seg_logits(self) -> PixelData:
        return self._seg_logits

    @seg_logits.setter
    def seg_logits(self, value: PixelData):
        self._pixel('seg_logits', value)

    @seg_logits.deleter
    def seg_logits(self):
        del self._seg_logits

    @property
    def valid_mask(self) -> PixelData:
        return self._valid_mask

    @valid_mask.setter
    def valid_mask(self, value: PixelData):
        self._pixel('valid_mask', value)

    @valid_mask.deleter
    def valid_mask(self):
        del self._valid_mask

    @property
    def gt_instances(self) -> InstanceData:
        return self._gt_instances

    @gt_instances.setter
    def gt_instances(self, value: InstanceData):
        self.set_field(value, '_gt_instances', dtype=InstanceData)

    @gt_instances.deleter
    def gt_instances(self):
        del self._gt_instances

    @property
    def pred_instances(self) -> InstanceData:
        return self._pred_instances

    @pred_instances.setter
    def pred_instances(self, value: InstanceData):
        self.set_field(value, '_pred_instances', dtype=InstanceData)

    @pred_instances.deleter
    def pred_instances(self):
        del self._pred_instances
