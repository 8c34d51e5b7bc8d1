"""MutDet step 1: class-agnostic pseudo-boxes from masks, written as DOTA ``labelTxt`` patches.

MutDet (Huang et al., "MutDet: Mutually Optimizing Pre-training for Remote Sensing Object Detection",
ECCV 2024) pre-trains a rotated DETR on pseudo-boxes. The official pipeline (see
the project's design notes on MutDet) splits DOTA-v1.0 train into 800 x 800 patches with gap
200, runs SAM ViT-H's automatic mask generator on each patch, and turns every mask into a rotated box:
masks sorted by area (largest first) -> the external contour with the most points
(``cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE)``) -> ``cv2.minAreaRect`` -> 4 corners clipped at 0,
written with one decimal as ``x1 y1 ... x4 y4 SAMObject 0``.

Here the mask source is pluggable (:class:`MaskGenerator`):

* :class:`ClassicalMaskGenerator` (the default, no weights): a documented classical over-segmentation,
  mean-shift filtering (Comaniciu & Meer 2002, ``cv2.pyrMeanShiftFiltering``) -> colour-gradient
  magnitude -> flat regions as markers -> marker-controlled watershed (Meyer 1992, ``cv2.watershed``) ->
  one mask per region, kept when its area is in ``[min_area, max_area_frac * patch area]`` (drops the
  background and the speckle), it fills its rotated box enough, and its mean colour differs from a band
  around it (``min_contrast``: a region that looks like its surroundings is texture, not an object). It is a weight-free stand-in, not SAM: on real imagery it finds roofs,
  vehicles, fields and shadows as colour-homogeneous regions rather than SAM's objects.
* :class:`SamMaskGenerator`: SAM's ``SamAutomaticMaskGenerator`` at its default settings (the official
  choice), from the optional ``segment-anything`` package (``pip install geoperc[sam]``) and a *local*
  checkpoint file (``sam_vit_h_4b8939.pth``); both are checked when the generator is built, with an
  error naming what is missing.

Patches are the DOTA splitter's (:mod:`geoperc.datasets.detection.split`, mmrotate ``img_split``
semantics: ``patch`` 800, ``gap`` 200 -> stride 600, the last window of each axis moved back to end at
the image edge, windows mostly outside the image dropped, images smaller than a patch padded with
``pad_value``) and named as there, ``<stem>__<patch>__<x>___<y>``. Inputs are images (PNG / JPEG / TIFF)
or GeoTIFF scenes of any size: every patch is a windowed read (rasterio), so a large orthomosaic never
sits in memory. Non-``uint8`` bands are stretched per patch (2nd-98th percentile) to ``uint8`` for the
mask generator and the saved patch; the first three bands are used (one band is repeated).

Output (``out_dir``), the DOTA layout :class:`geoperc.datasets.detection.DOTADataset` reads with
``metainfo=dict(classes=('object',))``::

    images/<patch>.png
    labelTxt/<patch>.txt      x1 y1 x2 y2 x3 y3 x4 y4 object 0   (one line per mask, largest first)
    pseudo_boxes.json         generator settings and patch list (the run's fingerprint)

The run is idempotent and resumable: a patch is done when its ``labelTxt`` exists (each file is written
to a temporary name and renamed), finished patches are skipped, and a second run with other settings
into the same folder is refused unless ``overwrite``. Patches run in parallel processes (``workers``)
with a progress bar.
"""
import json
import os
import os.path as osp
import warnings
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from geoperc.errors import DatasetError, SettingsError
from geoperc.io.atomic import atomic_call

__all__ = ['MaskGenerator', 'ClassicalMaskGenerator', 'SamMaskGenerator', 'build_mask_generator',
           'mask_to_poly', 'masks_to_polys', 'sliding_windows', 'list_inputs', 'generate_pseudo_boxes',
           'format_dota_line', 'IMAGE_SUFFIXES']

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')
MANIFEST = 'pseudo_boxes.json'


# --------------------------------------------------------------------------------------------------
# mask -> rotated box
# --------------------------------------------------------------------------------------------------
def mask_to_poly(mask: np.ndarray) -> Optional[np.ndarray]:
    """One binary mask -> the 4 corners ``(8,)`` of the minimum-area rectangle of its largest external
    contour (the contour with the most points, as the official step 1.3), or None for an empty mask."""
    import cv2
    m = np.ascontiguousarray(mask.astype(np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    biggest = max(contours, key=len)
    rect = cv2.minAreaRect(biggest)
    return cv2.boxPoints(rect).reshape(-1).astype(np.float64)


def masks_to_polys(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Masks (any order) -> ``(N, 8)`` corner polygons, largest mask first, clipped at 0."""
    areas = [int(np.count_nonzero(m)) for m in masks]
    order = sorted(range(len(masks)), key=lambda i: -areas[i])  # stable: ties keep their order
    polys = [p for p in (mask_to_poly(masks[i]) for i in order) if p is not None]
    if not polys:
        return np.zeros((0, 8), np.float64)
    return np.clip(np.stack(polys), 0, None)


def format_dota_line(poly: Sequence[float], label: str, difficulty: int = 0) -> str:
    """``x1 y1 ... x4 y4 label difficulty`` with one decimal (the official step 1.3 format)."""
    return ' '.join(f'{float(v):.1f}' for v in poly) + f' {label} {int(difficulty)}'


# --------------------------------------------------------------------------------------------------
# mask generators
# --------------------------------------------------------------------------------------------------
class MaskGenerator:
    """``generator(img)`` with ``img`` ``(H, W, 3)`` uint8 RGB -> list of ``(H, W)`` bool masks.

    ``settings()`` returns the JSON-able settings that make a run's fingerprint."""

    name = 'base'

    def __call__(self, img: np.ndarray) -> List[np.ndarray]:
        raise NotImplementedError

    def settings(self) -> dict:
        return dict(method=self.name)


@dataclass
class ClassicalMaskGenerator(MaskGenerator):
    """Weight-free masks: mean-shift filtering + marker-controlled watershed (see the module docstring).

    Args:
        spatial_radius: mean-shift spatial window radius (pixels), ``sp`` of ``pyrMeanShiftFiltering``.
        color_radius: mean-shift colour window radius, ``sr``; larger merges more.
        flat_thr: a pixel is a watershed marker when its colour gradient (max over Lab channels of the
            morphological gradient, 3 x 3) is at most this.
        min_area: smallest mask kept (pixels).
        max_area_frac: largest mask kept, as a fraction of the patch (drops the background).
        min_fill: smallest ``mask area / min-area-rectangle area`` kept (0 keeps every shape).
        min_contrast: smallest distance (CIE Lab, 0-255 scaled by OpenCV) between the region's mean
            colour and the mean colour of a ``ring``-pixel band around it: a region that looks like its
            surroundings is texture, not an object (0 keeps every region).
        ring: width of that band (pixels).
    """
    spatial_radius: int = 8
    color_radius: int = 16
    flat_thr: int = 6
    min_area: int = 24
    max_area_frac: float = 0.2
    min_fill: float = 0.3
    min_contrast: float = 30.0
    ring: int = 3
    name: str = field(default='classical', init=False)

    def __call__(self, img: np.ndarray) -> List[np.ndarray]:
        import cv2
        img = np.ascontiguousarray(img[..., :3].astype(np.uint8))
        H, W = img.shape[:2]
        bgr = img[..., ::-1].copy()
        smooth = cv2.pyrMeanShiftFiltering(bgr, self.spatial_radius, self.color_radius) \
            if self.spatial_radius > 0 else bgr
        lab = cv2.cvtColor(smooth, cv2.COLOR_BGR2LAB)
        labf = lab.astype(np.float32)
        kernel = np.ones((3, 3), np.uint8)
        grad = np.max(np.stack([cv2.morphologyEx(lab[..., c], cv2.MORPH_GRADIENT, kernel) for c in range(3)]),
                      axis=0)
        flat = (grad <= self.flat_thr).astype(np.uint8)
        n, markers = cv2.connectedComponents(flat, connectivity=4)
        markers = markers.astype(np.int32)  # 0 = unknown (to flood), 1..n-1 = seeds
        cv2.watershed(smooth, markers)       # boundaries become -1
        labels = markers.reshape(-1)
        counts = np.bincount(np.clip(labels, 0, None), minlength=n)
        max_area = self.max_area_frac * H * W
        masks = []
        for lab_id in np.flatnonzero((counts >= self.min_area) & (counts <= max_area)):
            if lab_id == 0:
                continue
            m = markers == lab_id
            if self.min_fill > 0:
                pts = cv2.findNonZero(m.astype(np.uint8))
                (_, _), (w, h), _ = cv2.minAreaRect(pts)
                if counts[lab_id] < self.min_fill * max((w + 1) * (h + 1), 1):
                    continue
            if self.min_contrast > 0:
                band = cv2.dilate(m.astype(np.uint8), kernel, iterations=self.ring).astype(bool) & ~m
                if band.any() and np.linalg.norm(labf[m].mean(0) - labf[band].mean(0)) < self.min_contrast:
                    continue
            masks.append(m)
        return masks

    def settings(self) -> dict:
        d = asdict(self)
        d['method'] = d.pop('name')
        return d


class SamMaskGenerator(MaskGenerator):
    """SAM automatic masks (the official pseudo-box source).

    Args:
        checkpoint: local SAM checkpoint file (e.g. ``sam_vit_h_4b8939.pth``, the official choice).
        model_type: ``'vit_h'`` / ``'vit_l'`` / ``'vit_b'``, matching the checkpoint.
        device: torch device for SAM.
        **amg_kwargs: ``SamAutomaticMaskGenerator`` settings (default: its defaults, as the official code).

    Raises:
        SettingsError: ``segment-anything`` is not installed, or ``checkpoint`` is not a file.
    """

    name = 'sam'

    def __init__(self, checkpoint: str, model_type: str = 'vit_h', device: str = 'cpu', **amg_kwargs):
        try:
            import segment_anything  # noqa: F401
        except ImportError as e:
            raise SettingsError('the SAM mask generator needs the optional package segment-anything '
                                '(pip install "geoperc[sam]" or pip install segment-anything); the default '
                                'method "classical" needs no extra package') from e
        if not checkpoint or not osp.isfile(checkpoint):
            raise SettingsError(f'{checkpoint}: SAM checkpoint file not found (give a local file, e.g. '
                                'sam_vit_h_4b8939.pth; nothing is downloaded)')
        self.checkpoint, self.model_type, self.device = checkpoint, model_type, device
        self.amg_kwargs = dict(amg_kwargs)
        self._amg = None

    def _build(self):
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
        if self.model_type not in sam_model_registry:
            raise SettingsError(f'SAM model_type {self.model_type!r} unknown; choose from '
                                f'{sorted(sam_model_registry)}')
        sam = sam_model_registry[self.model_type](checkpoint=self.checkpoint)
        sam.to(self.device)
        self._amg = SamAutomaticMaskGenerator(sam, **self.amg_kwargs)

    def __call__(self, img: np.ndarray) -> List[np.ndarray]:
        if self._amg is None:
            self._build()
        anns = self._amg.generate(np.ascontiguousarray(img[..., :3].astype(np.uint8)))
        return [a['segmentation'].astype(bool) for a in anns]

    def settings(self) -> dict:
        return dict(method=self.name, checkpoint=osp.abspath(self.checkpoint), model_type=self.model_type,
                    **self.amg_kwargs)

    def __getstate__(self):  # worker processes rebuild SAM themselves
        d = dict(self.__dict__)
        d['_amg'] = None
        return d


def build_mask_generator(method: str = 'classical', **kwargs) -> MaskGenerator:
    """``'classical'`` (default, no weights) or ``'sam'`` (``checkpoint=`` a local file)."""
    if method == 'classical':
        return ClassicalMaskGenerator(**kwargs)
    if method == 'sam':
        return SamMaskGenerator(**kwargs)
    raise SettingsError(f'unknown mask generator {method!r}; choose "classical" or "sam"')


# --------------------------------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------------------------------
def sliding_windows(height: int, width: int, patch: int = 800, gap: int = 200,
                    img_rate_thr: float = 0.6) -> List[Tuple[int, int, int, int]]:
    """mmrotate ``img_split`` windows ``(x0, y0, x1, y1)``: the DOTA splitter's
    (:func:`geoperc.datasets.detection.split.sliding_windows`) for one size / gap."""
    from geoperc.datasets.detection.split import sliding_windows as _split_windows
    if not 0 <= gap < patch:
        raise SettingsError(f'gap must be in [0, patch), got patch={patch}, gap={gap}')
    wins = _split_windows(int(width), int(height), [int(patch)], [int(gap)], img_rate_thr=img_rate_thr)
    return [tuple(int(v) for v in w) for w in wins]


def list_inputs(inputs: Iterable[str]) -> List[str]:
    """Image / GeoTIFF files from files and folders (a folder: its image files, sorted)."""
    out = []
    for p in inputs:
        if osp.isdir(p):
            out += [osp.join(p, f) for f in sorted(os.listdir(p))
                    if osp.splitext(f)[1].lower() in IMAGE_SUFFIXES and not f.startswith('.')]
        elif osp.isfile(p):
            out.append(p)
        else:
            raise DatasetError(f'{p}: input not found')
    if not out:
        raise DatasetError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {list(inputs)}')
    stems = [osp.splitext(osp.basename(p))[0] for p in out]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DatasetError(f'input images share names {dup[:5]}: patch names would collide')
    return out


def _open(path: str):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as e:
        raise DatasetError(f'{path}: not an image GDAL can read ({str(e).splitlines()[0]})') from e


def _to_uint8(arr: np.ndarray, valid: Optional[np.ndarray]) -> np.ndarray:
    """``(C, h, w)`` -> uint8; other dtypes are stretched (2nd-98th percentile of the valid pixels)."""
    if arr.dtype == np.uint8:
        return arr
    a = arr.astype(np.float32)
    vals = a[:, valid] if valid is not None else a.reshape(a.shape[0], -1)
    out = np.zeros(a.shape, np.uint8)
    for c in range(a.shape[0]):
        v = vals[c]
        if v.size == 0:
            continue
        lo, hi = np.percentile(v, (2, 98))
        out[c] = np.clip((a[c] - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return out


def read_patch(src, window: Tuple[int, int, int, int], pad_value: Sequence[int] = (104, 116, 124)) -> np.ndarray:
    """``(patch, patch, 3)`` uint8 RGB of ``window`` (x0, y0, x1, y1); outside / nodata is ``pad_value``."""
    from rasterio.windows import Window

    from geoperc.io.raster import read_window
    x0, y0, x1, y1 = window
    win = Window(x0, y0, x1 - x0, y1 - y0)
    bands = list(range(1, min(src.count, 3) + 1))
    arr = read_window(src, win, boundless=True, fill=0, indexes=bands)
    inside = np.zeros(arr.shape[1:], bool)
    inside[:max(0, min(y1, src.height) - y0), :max(0, min(x1, src.width) - x0)] = True
    if src.nodata is not None:
        inside &= ~np.all(arr == src.nodata, axis=0)
    arr = _to_uint8(arr, inside)
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    rgb = np.ascontiguousarray(arr[:3].transpose(1, 2, 0))
    rgb[~inside] = np.asarray(pad_value, np.uint8)
    return rgb


# one generator and open files per worker process
_WORKER: Dict[str, object] = {}


def _init_worker(generator: MaskGenerator, threads: Optional[int] = 1):
    """Per process: the generator, an empty file cache and (worker processes only) one thread each."""
    if threads:
        import cv2
        cv2.setNumThreads(threads)
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    _WORKER['gen'] = generator
    _WORKER['files'] = {}


def _run_patch(job) -> Tuple[str, int]:
    import cv2
    path, window, patch_id, out_dir, label, pad_value = job
    files = _WORKER.setdefault('files', {})
    if path not in files:
        files[path] = _open(path)
    img = read_patch(files[path], window, pad_value)
    img_path = osp.join(out_dir, 'images', patch_id + '.png')
    if not osp.exists(img_path):
        def _save(tmp):
            ok, buf = cv2.imencode('.png', img[..., ::-1])
            if not ok:
                raise OSError(f'could not encode patch {patch_id}')
            with open(tmp, 'wb') as f:
                f.write(buf.tobytes())
        atomic_call(img_path, _save)
    polys = masks_to_polys(_WORKER['gen'](img))

    def _txt(tmp):
        with open(tmp, 'w') as f:
            f.writelines(format_dota_line(p, label) + '\n' for p in polys)
    atomic_call(osp.join(out_dir, 'labelTxt', patch_id + '.txt'), _txt)
    return patch_id, len(polys)


def generate_pseudo_boxes(inputs: Sequence[str], out_dir: str, generator: Optional[MaskGenerator] = None,
                          patch: int = 800, gap: int = 200, label: str = 'object', workers: int = 0,
                          overwrite: bool = False, pad_value: Sequence[int] = (104, 116, 124),
                          progress: bool = True) -> dict:
    """Run step 1 over images / GeoTIFF scenes (see the module docstring).

    Args:
        inputs: image files and / or folders of images.
        out_dir: output folder (``images/``, ``labelTxt/``, ``pseudo_boxes.json``).
        generator: mask generator (default :class:`ClassicalMaskGenerator`).
        patch, gap: patch size and overlap (official: 800, 200).
        label: class name written (official: ``SAMObject``; geoperc writes ``object``).
        workers: worker processes (0: in this process).
        overwrite: redo every patch (also allowed when the settings changed).
        pad_value: RGB fill outside the image (mmrotate ``img_split``'s default).
        progress: show a progress bar.

    Returns:
        Summary dict: ``patches`` (all), ``done`` (run now), ``skipped`` (already there), ``boxes``
        (written now), ``out_dir``, ``manifest``.

    Raises:
        DatasetError: an input is missing or unreadable.
        SettingsError: ``out_dir`` holds a run with other settings (pass ``overwrite``).
    """
    from tqdm import tqdm

    from geoperc.datasets.detection.split import patch_id
    generator = generator or ClassicalMaskGenerator()
    files = list_inputs(inputs)
    for sub in ('images', 'labelTxt'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    settings = dict(generator=generator.settings(), patch=int(patch), gap=int(gap), label=label,
                    pad_value=[int(v) for v in pad_value])
    man_path = osp.join(out_dir, MANIFEST)
    if osp.exists(man_path):
        with open(man_path) as f:
            old = json.load(f)
        if old.get('settings') != settings and not overwrite:
            raise SettingsError(f'{man_path}: this folder holds pseudo-boxes made with other settings '
                                f'({old.get("settings")}); use another --out or --overwrite')
    jobs, patches = [], {}
    for path in files:
        stem = osp.splitext(osp.basename(path))[0]
        with _open(path) as src:
            H, W = src.height, src.width
        for win in sliding_windows(H, W, patch, gap):
            pid = patch_id(stem, patch, win[0], win[1])
            patches[pid] = dict(source=osp.abspath(path), window=list(win))
            done = osp.exists(osp.join(out_dir, 'labelTxt', pid + '.txt'))
            if overwrite and done:
                for sub, ext in (('labelTxt', '.txt'), ('images', '.png')):
                    p = osp.join(out_dir, sub, pid + ext)
                    if osp.exists(p):
                        os.unlink(p)
                done = False
            if not done:
                jobs.append((path, win, pid, out_dir, label, tuple(pad_value)))

    def _manifest(tmp):
        with open(tmp, 'w') as f:
            json.dump(dict(settings=settings, patches=patches), f, indent=1)
    atomic_call(man_path, _manifest)  # before the work: an interrupted run resumes under it

    boxes = 0
    bar = tqdm(total=len(jobs), desc='pseudo-boxes', unit='patch', disable=not progress or not jobs)
    if workers and workers > 0 and len(jobs) > 1:
        import multiprocessing as mp
        # spawn, never fork: a child forked from a process whose OpenMP / GDAL threads already ran can hang
        # in its first threaded call (seen here: torch.set_num_threads in _init_worker, inside the test suite)
        ctx = mp.get_context('spawn')
        with ctx.Pool(workers, initializer=_init_worker, initargs=(generator,)) as pool:
            for _, n in pool.imap_unordered(_run_patch, jobs, chunksize=1):
                boxes += n
                bar.update(1)
    else:
        _init_worker(generator, threads=None)  # this process keeps its thread settings
        try:
            for job in jobs:
                boxes += _run_patch(job)[1]
                bar.update(1)
        finally:
            for src in _WORKER.get('files', {}).values():
                src.close()
            _WORKER.clear()
    bar.close()
    return dict(patches=len(patches), done=len(jobs), skipped=len(patches) - len(jobs), boxes=boxes,
                out_dir=osp.abspath(out_dir), manifest=man_path)
