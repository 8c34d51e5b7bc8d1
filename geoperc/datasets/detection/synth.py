"""Generated oriented-object data in the real on-disk formats (DOTA layout, GeoTIFF scenes), for tests,
the demo and the tiny configs; nothing is downloaded.

:func:`make_dota_synth` writes ``root/<split>/images/*.png`` + ``root/<split>/labelTxt/*.txt`` (DOTA v1
format: ``imagesource`` / ``gsd`` header, ``x1 y1 ... x4 y4 class difficult``); :func:`make_synth_scene`
writes one georeferenced GeoTIFF (UTM 32N, 0.5 m pixels) with its objects as a DOTA ``labelTxt`` in
scene pixels and as map-coordinate polygons (for scene evaluation).

Objects are filled rotated rectangles drawn with OpenCV on a textured background, one colour and
aspect-ratio range per class, so that class, size and angle are all learnable from pixels:
``SYNTH_CLASSES = ('vehicle', 'ship', 'court')`` (elongated red 3:1 bars, long blue 5:1 hulls, green
squares-ish 1.5:1 courts).
"""
import math
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

from geoperc.ops.rotated import rbox_to_corners

__all__ = ['SYNTH_CLASSES', 'draw_synth_image', 'make_dota_synth', 'make_synth_scene']

SYNTH_CLASSES = ('vehicle', 'ship', 'court')
# colour (R, G, B), (long side range px at 1x), aspect ratio range
_STYLE = {0: ((220, 40, 40), (14, 26), (2.5, 3.5)),
          1: ((40, 70, 230), (24, 40), (4.0, 6.0)),
          2: ((40, 200, 60), (18, 30), (1.2, 1.8))}


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    import cv2
    base = rng.integers(90, 140, size=3)
    noise = rng.normal(0, 12, size=(h // 8 + 1, w // 8 + 1, 3))
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    img = base[None, None] + noise + rng.normal(0, 4, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_synth_image(rng: np.random.Generator, h: int, w: int, n_objects: Tuple[int, int] = (3, 8),
                     scale: float = 1.0, margin: int = 4) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``(h, w, 3)`` uint8 RGB image with non-overlapping rotated rectangles.

    Returns:
        ``(image, boxes (N, 5) le90 pixels, labels (N,))``.
    """
    import cv2
    import shapely
    img = _background(rng, h, w)
    boxes, labels, placed = [], [], []
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    for _ in range(n * 20):
        if len(boxes) >= n:
            break
        c = int(rng.integers(0, len(SYNTH_CLASSES)))
        colour, (lo, hi), (alo, ahi) = _STYLE[c]
        long_side = rng.uniform(lo, hi) * scale
        short = long_side / rng.uniform(alo, ahi)
        ang = rng.uniform(-math.pi / 2, math.pi / 2)
        r = long_side / 2 + margin
        if w <= 2 * r or h <= 2 * r:
            continue
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        box = np.array([cx, cy, long_side, short, ang])
        poly = shapely.Polygon(rbox_to_corners(box[None])[0]).buffer(margin)
        if any(poly.intersects(p) for p in placed):
            continue
        placed.append(poly)
        pts = np.round((rbox_to_corners(box[None])[0] - 0.5) * 16).astype(np.int32)  # OpenCV: pixel centres at integers
        shade = np.clip(np.array(colour) + rng.integers(-20, 21, 3), 0, 255)
        cv2.fillPoly(img, [pts], tuple(int(v) for v in shade), lineType=cv2.LINE_AA, shift=4)
        boxes.append(box)
        labels.append(c)
    return img, np.array(boxes, np.float64).reshape(-1, 5), np.array(labels, np.int64)


def _write_label(path: str, boxes: np.ndarray, labels: np.ndarray, gsd: Optional[float] = None) -> None:
    lines = ['imagesource:geoperc-synth', f'gsd:{gsd if gsd is not None else "null"}']
    for q, lab in zip(rbox_to_corners(boxes).reshape(-1, 8), labels):
        lines.append(' '.join(f'{v:.1f}' for v in q) + f' {SYNTH_CLASSES[int(lab)]} 0')
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, path)


def make_dota_synth(root: str, splits: Tuple[Tuple[str, int], ...] = (('train', 64), ('val', 16)),
                    size: int = 128, seed: int = 0, n_objects: Tuple[int, int] = (3, 8)) -> str:
    """DOTA-layout folders ``root/<split>/{images,labelTxt}``; returns ``root``."""
    import cv2
    rng = np.random.default_rng(seed)
    for split, n in splits:
        img_dir, ann_dir = osp.join(root, split, 'images'), osp.join(root, split, 'labelTxt')
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(n):
            img, boxes, labels = draw_synth_image(rng, size, size, n_objects)
            stem = f'S{i:04d}'
            tmp = osp.join(img_dir, stem + '.tmp.png')
            cv2.imwrite(tmp, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            os.replace(tmp, osp.join(img_dir, stem + '.png'))
            _write_label(osp.join(ann_dir, stem + '.txt'), boxes, labels)
    return root


def make_synth_scene(path: str, size: Tuple[int, int] = (512, 640), seed: int = 1, density: float = 1.0,
                     origin: Tuple[float, float] = (500000.0, 5400000.0), pixel: float = 0.5,
                     epsg: int = 32632) -> dict:
    """A georeferenced 3-band GeoTIFF scene of objects, written tile by tile.

    Returns:
        ``dict(path, label_txt (DOTA labelTxt of the scene in pixels), boxes, labels, polygons_map
        (N, 4, 2) map coordinates, crs)``.
    """
    import rasterio
    from rasterio.transform import from_origin
    rng = np.random.default_rng(seed)
    H, W = size
    transform = from_origin(origin[0], origin[1], pixel, pixel)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tile = 128
    all_boxes, all_labels = [], []
    tmp = path + '.tmp.tif'
    with rasterio.open(tmp, 'w', driver='GTiff', height=H, width=W, count=3, dtype='uint8',
                       crs=f'EPSG:{epsg}', transform=transform, tiled=True, blockxsize=128, blockysize=128) as dst:
        for y in range(0, H, tile):
            for x in range(0, W, tile):
                h, w = min(tile, H - y), min(tile, W - x)
                k = max(1, int(round(4 * density * h * w / tile ** 2)))
                img, boxes, labels = draw_synth_image(rng, h, w, (k - 1, k + 1), margin=6)
                if len(boxes):
                    boxes[:, 0] += x
                    boxes[:, 1] += y
                all_boxes.append(boxes)
                all_labels.append(labels)
                dst.write(img.transpose(2, 0, 1), window=rasterio.windows.Window(x, y, w, h))
    os.replace(tmp, path)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 5))
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0, np.int64)
    label_txt = osp.splitext(path)[0] + '.txt'
    _write_label(label_txt, boxes, labels, gsd=pixel)
    c = rbox_to_corners(boxes)
    a = transform
    poly_map = np.stack([a.c + a.a * c[..., 0] + a.b * c[..., 1], a.f + a.d * c[..., 0] + a.e * c[..., 1]], -1)
    return dict(path=path, label_txt=label_txt, boxes=boxes, labels=labels, polygons_map=poly_map,
                crs=f'EPSG:{epsg}')
