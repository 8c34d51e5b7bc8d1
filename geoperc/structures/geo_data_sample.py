"""The one data sample every geoperc task uses.

Geo information travels as *metainfo*, never as tensors (ARCHITECTURE.md). The keys below are what
``geoperc.io`` writes and reads; models only ever see pixels.

Fields (all optional, by task; the ``pred_*`` fields a model fills are those of its ``output_kind``,
``geoperc/models/base.py``):

* ``gt_sem_seg`` / ``pred_sem_seg`` (:class:`PixelData`, ``data`` of shape (1, H, W), long): class or
  change maps, e.g. 0 = unchanged, 1 = changed, ``ignore_index`` (255) = not scored.
* ``pred_probs`` (:class:`PixelData`, (K, H, W) float): per-class *probabilities* (after softmax /
  sigmoid, summing to 1 over K); K >= 2 (a binary change model reports [1 - p, p]). Tiled inference
  blends these and takes the argmax after blending. (Called ``seg_logits`` before 0.2.)
* ``pred_depth`` / ``gt_depth`` (:class:`PixelData`, (1, H, W) float): regression outputs and references
  (360 depth in metres; invalid reference pixels are 0 or non-finite, see the depth family's docs).
* ``gt_instances`` / ``pred_instances`` (:class:`InstanceData`): ``bboxes`` (N, 5) rotated boxes
  ``(cx, cy, w, h, angle)`` in tile pixels, angle in radians, ``le90`` convention; ``labels`` (N,) long;
  ``scores`` (N,) (predictions only). Kept consistent with any padding / resizing by the preprocessor.
* ``gt_occ`` / ``pred_occ`` (occupancy): voxel class labels, a :class:`BaseDataElement`-like holder of an
  (X, Y, Z) long grid (255 = not predicted / not scored), never padded or resized by the preprocessor.
  Untyped here: the occupancy family documents its holder.
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


def _typed_field(name: str, dtype: type, doc: str) -> property:
    """A typed data field stored as ``_<name>`` (how mmengine's samples declare theirs): setting it to
    anything but a ``dtype`` raises ``AssertionError``."""
    private = '_' + name

    def fget(self):
        return getattr(self, private)

    def fset(self, value):
        assert isinstance(value, dtype), f'{name} must be {dtype.__name__}, got {type(value).__name__}'
        self.set_field(value, private, dtype=dtype)

    def fdel(self):
        delattr(self, private)

    return property(fget, fset, fdel, doc)


class GeoDataSample(BaseDataElement):
    """Data sample for every geoperc task; see the module docstring for the fields."""

    gt_sem_seg = _typed_field('gt_sem_seg', PixelData, '(1, H, W) long reference classes.')
    pred_sem_seg = _typed_field('pred_sem_seg', PixelData, '(1, H, W) long predicted classes.')
    pred_probs = _typed_field('pred_probs', PixelData, '(K, H, W) float class probabilities, K >= 2.')
    pred_depth = _typed_field('pred_depth', PixelData, '(1, H, W) float predicted depth / regression.')
    gt_depth = _typed_field('gt_depth', PixelData, '(1, H, W) float reference depth / regression.')
    valid_mask = _typed_field('valid_mask', PixelData, '(1, H, W) bool: data on every date.')
    gt_instances = _typed_field('gt_instances', InstanceData, 'reference rotated boxes and labels.')
    pred_instances = _typed_field('pred_instances', InstanceData, 'predicted rotated boxes, scores, labels.')
