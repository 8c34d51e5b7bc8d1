"""Streaming tiled inference over GeoTIFFs larger than memory.

``raster(s) -> TileGrid windows -> batches -> model.test_step -> merger -> writer``, in a pipeline of
threads so that reading, blending and writing hide behind the model's compute:

* a **reader** thread reads the windows of the next batches (boundless, nodata-aware, the later dates
  warped to the first date's grid when needed) and builds the model inputs;
* the **main** thread runs ``model.test_step`` (the model's own data preprocessor normalises);
* a **merge** thread blends dense tile scores into block rows (:class:`~.merge.DenseBlender`) or shifts
  rotated boxes into raster pixels;
* a **write** thread persists every finished block row to ``<out>.partial/`` and writes it into a
  tiled, compressed GeoTIFF next to the output, renamed over it when complete.

Model contract. The model is called as ``model.test_step(dict(inputs=[...], data_samples=[...]))``, one
entry per window. Inputs are tensors in the file's dtype (uint16/uint32 widened to int32/int64):
``(C, h, w)`` for a single input raster (one date: detection, segmentation) and ``(T, C, h, w)`` for T
dates (change detection). Each :class:`GeoDataSample` carries metainfo ``crs`` (WKT), ``transform`` (the
window's affine), ``window`` (col_off, row_off, width, height), ``ori_shape`` (part of the window inside
the raster), ``nodata``, ``img_path`` (list, one per date), ``band_count``, and a ``valid_mask``.
The model returns, per sample, ``seg_logits`` (K, h, w) class probabilities -> dense output; or
``pred_depth`` (1, h, w) -> a float regression raster; or ``pred_instances`` (``bboxes`` (N, 5) le90 in
window pixels, ``scores``, ``labels``) -> a GeoPackage of rotated-box polygons.

Resume. Finished block rows (dense) or window rows (objects) are saved in ``<out>.partial/`` with a
manifest fingerprinting inputs, settings and model weights. With ``resume=True`` only the windows that
touch unfinished rows run, in the same fixed batches as before, so the result is bitwise identical to an
uninterrupted run (same hardware, torch threads and batch size).

Scale-out. Under ``torchrun`` (MMEngine dist), rank r produces a contiguous range of block rows (or
window rows) into the shared partial folder; rank 0 writes the one output file.

Memory stays bounded by a few block rows of the output width (see :mod:`.merge`), the prefetch queues
and GDAL's block cache, which is capped for the run.
"""
import json
import math
import os
import queue
import shutil
import threading
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from geoperc.io.raster import DateStack, RasterError, torch_safe_dtype, window_bounds_in, window_transform
from geoperc.io.tiling import TileGrid
from .export import GeoTiffWriter, check_writable, write_boxes_gpkg
from .merge import BLEND_MODES, DenseBlender, merge_boxes, scores_to_output, shift_boxes
from .model import InferenceError, _expected_bands, _model_fingerprint, build_model  # noqa: F401 (re-exported)

__all__ = ['TiledInferencer', 'infer_geotiff', 'build_model', 'InferenceError']

_MANIFEST_VERSION = 1


# -- pipeline plumbing ------------------------------------------------------------------------------
class _Stop(Exception):
    pass


class _Pipe:
    """Bounded queues between threads; any thread's exception stops all and is re-raised in the main."""

    def __init__(self):
        self.stop = threading.Event()
        self.errors: List[BaseException] = []
        self.cpu: Dict[str, float] = {}  # CPU seconds per thread name (profiling the overlap)
        self.model_wait = 0.0

    def fail(self, e: BaseException):
        self.errors.append(e)
        self.stop.set()

    def put(self, q: queue.Queue, item):
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def get(self, q: queue.Queue):
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _Stop

    def thread(self, fn, *args, name=None) -> threading.Thread:
        def body():
            t0 = time.thread_time()
            try:
                fn(*args)
            except _Stop:
                pass
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                self.fail(e)
            finally:
                self.cpu[name] = time.thread_time() - t0
        t = threading.Thread(target=body, name=name, daemon=True)
        t.start()
        return t


_END = object()


def _dist_info():
    from mmengine.dist import get_dist_info
    return get_dist_info()


def _barrier():
    from mmengine.dist import barrier, is_distributed
    if is_distributed():
        barrier()


def _split(n: int, parts: int, index: int) -> range:
    """The ``index``-th of ``parts`` contiguous, near-equal ranges of ``range(n)``."""
    lo = n * index // parts
    hi = n * (index + 1) // parts
    return range(lo, hi)


def _atomic_save(path: str, save_fn):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        save_fn(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- the inferencer ---------------------------------------------------------------------------------
class TiledInferencer:
    """Tiled, streaming, resumable inference of a model over one scene (one raster per date).

    Args:
        model: a geoperc model (``test_step`` contract in the module docstring), in eval mode.
        tile: window size in pixels. overlap: pixels shared by neighbouring windows.
        batch_size: windows per ``test_step``.
        output: dense output, ``'labels'`` (uint8 argmax, nodata 255) or ``'probs'`` (float32 per-class
            probabilities, nodata NaN). Regression models (``pred_depth``) always write float32.
        blend: window weight for overlaps, ``'hann'``, ``'linear'`` or ``'none'`` (plain mean).
        block: output block size; dense results are finalised and written one block row at a time.
        compress: GeoTIFF compression. cog: write a Cloud Optimized GeoTIFF.
        nms_iou: IoU threshold of the rotated NMS that merges boxes across seams.
        progress: show a tqdm bar (tiles/s, ETA) on rank 0.
        prefetch: batches read ahead of the model.
        gdal_cache_mb: GDAL's block cache during the run in MB (None: the input block rows one window row
            spans, see :meth:`_cache_mb`).
    """

    def __init__(self, model, tile: int = 512, overlap: int = 64, batch_size: int = 4, output: str = 'labels',
                 blend: str = 'hann', block: int = 256, compress: str = 'deflate', cog: bool = False,
                 nms_iou: float = 0.1, progress: bool = True, prefetch: int = 2,
                 gdal_cache_mb: Optional[int] = None):
        if output not in ('labels', 'probs'):
            raise InferenceError(f"output must be 'labels' or 'probs', got {output!r}")
        if blend not in BLEND_MODES:
            raise InferenceError(f'blend must be one of {BLEND_MODES}, got {blend!r}')
        if batch_size < 1:
            raise InferenceError(f'batch_size must be >= 1, got {batch_size}')
        if block % 16:
            raise InferenceError(f'block must be a multiple of 16 (GeoTIFF tiles), got {block}')
        self.model = model
        self.tile, self.overlap, self.batch_size = int(tile), int(overlap), int(batch_size)
        self.output, self.blend, self.block = output, blend, int(block)
        self.compress, self.cog, self.nms_iou = compress, cog, float(nms_iou)
        self.progress, self.prefetch, self.gdal_cache_mb = progress, max(1, int(prefetch)), gdal_cache_mb

    # -- setup ------------------------------------------------------------------------------------
    def _check_inputs(self, stack: DateStack):
        n = _expected_bands(self.model)
        C = stack.info.count
        if n is not None and n != C:
            raise RasterError(f'{stack.paths[0]}: has {C} bands per date but the model expects {n} '
                              f'(its data_preprocessor has {n} mean/std values)')

    def _manifest(self, stack: DateStack, grid: TileGrid, out: str) -> dict:
        files = []
        for p in stack.paths:
            st = os.stat(p)
            files.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
        return dict(version=_MANIFEST_VERSION, out=os.path.abspath(out), inputs=files,
                    shape=list(grid.shape), tile=list(grid.tile), stride=list(grid.stride), block=self.block,
                    blend=self.blend, output=self.output, batch_size=self.batch_size,
                    model=_model_fingerprint(self.model))

    def _prepare_partial(self, partial: str, manifest: dict, resume: bool, rank: int) -> bool:
        """Create/validate ``partial``; returns whether earlier results are reused."""
        mpath = os.path.join(partial, 'manifest.json')
        reuse = False
        if rank == 0:
            if resume and os.path.isfile(mpath):
                with open(mpath) as f:
                    old = json.load(f)
                if old != manifest:
                    diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
                    raise InferenceError(f'{partial}: partial results were made with different {diff}; '
                                         'rerun without --resume to start over')
                reuse = True
            else:
                if os.path.exists(partial):
                    shutil.rmtree(partial)
                os.makedirs(os.path.join(partial, 'rows'))
                _atomic_save(mpath, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
        _barrier()
        return reuse or (resume and os.path.isfile(mpath))

    def _sample(self, stack: DateStack, window, valid: np.ndarray):
        from mmengine.structures import PixelData

        from geoperc.structures.geo_data_sample import GeoDataSample
        inner = window_bounds_in(window, stack.info.shape)
        meta = dict(crs=self._crs_wkt, transform=tuple(window_transform(stack.info.transform, window))[:6],
                    window=(int(window.col_off), int(window.row_off), int(window.width), int(window.height)),
                    ori_shape=(int(inner.height), int(inner.width)) if inner is not None else (0, 0),
                    nodata=stack.info.nodata, img_path=list(stack.paths), band_count=stack.info.count)
        s = GeoDataSample(metainfo=meta)
        s.valid_mask = PixelData(data=torch.from_numpy(valid)[None])
        return s

    def _read_batch(self, stack: DateStack, grid: TileGrid, tiles: Sequence[int]):
        inputs, samples, windows, valids = [], [], [], []
        dt = torch_safe_dtype(stack.dtype)
        for t in tiles:
            w = grid.window(t)
            px, valid = stack.read(w)  # (T, C, h, w), (h, w)
            px = px.astype(dt, copy=False)
            inputs.append(torch.from_numpy(px[0] if stack.num_dates == 1 else px))
            samples.append(self._sample(stack, w, valid))
            windows.append(w)
            valids.append(valid)
        return dict(tiles=list(tiles), windows=windows, valids=valids,
                    data=dict(inputs=inputs, data_samples=samples))

    @torch.no_grad()
    def _predict(self, data: dict):
        return self.model.test_step(data)

    def _probe(self, stack: DateStack, grid: TileGrid) -> dict:
        """Run the first window alone to learn the output kind and channel count, before writing."""
        b = self._read_batch(stack, grid, [0])
        s = self._predict(b['data'])[0]
        th, tw = grid.tile
        if 'seg_logits' in s or 'pred_depth' in s:
            field = 'seg_logits' if 'seg_logits' in s else 'pred_depth'
            d = getattr(s, field).data
            if tuple(d.shape[-2:]) != (th, tw):
                raise InferenceError(f'model returned {field} of size {tuple(d.shape[-2:])} for a {th}x{tw} '
                                     'window; dense outputs must cover the input window')
            K = int(d.shape[0])
            output = self.output if field == 'seg_logits' else 'probs'
            if output == 'labels' and K > 255:
                raise InferenceError(f'{K} classes do not fit uint8 labels; use output=probs')
            return dict(mode='dense', field=field, channels=K, output=output)
        if 'pred_instances' in s:
            return dict(mode='objects')
        raise InferenceError('the model returned neither seg_logits, pred_depth nor pred_instances')

    # -- run --------------------------------------------------------------------------------------
    def run(self, inputs: Sequence[str], out: str, resume: bool = False,
            vector_out: Optional[str] = None) -> Dict:
        """Infer over the scene ``inputs`` (one raster per date) and write ``out``; see :func:`infer_geotiff`."""
        import rasterio
        inputs = [os.fspath(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
        out = os.path.abspath(os.fspath(out))
        for p in inputs:
            if os.path.exists(p) and os.path.exists(out) and os.path.samefile(p, out):
                raise InferenceError(f'{out}: the output path is an input')
        check_writable(out)
        with DateStack(inputs) as stack:
            self._check_inputs(stack)
            grid = TileGrid(stack.info.shape, self.tile, self.overlap, block=stack.info.block_shape)
            self._crs_wkt = stack.info.crs.to_wkt()
            with rasterio.Env(GDAL_CACHEMAX=self._cache_mb(stack)):
                probe = self._probe(stack, grid)
                if probe['mode'] == 'objects':
                    vec = vector_out or (out if out.lower().endswith('.gpkg') else os.path.splitext(out)[0] + '.gpkg')
                    check_writable(vec)
                    return self._run(stack, grid, out, vec, probe, resume)
                return self._run(stack, grid, out, None, probe, resume)

    def _cache_mb(self, stack: DateStack) -> int:
        """GDAL block cache for the run: the input block rows one window row spans, on every date.

        Windows advance in row-major order, so a block row shared by two window rows stays cached from
        one to the next and every input block is decoded once; a larger cache would only grow memory.
        """
        if self.gdal_cache_mb:
            return int(self.gdal_cache_mb)
        bh = (stack.info.block_shape or (1, 1))[0]
        rows = (math.ceil(self.tile / bh) + 1) * bh
        nbytes = rows * stack.info.shape[1] * stack.info.count * stack.num_dates * np.dtype(stack.dtype).itemsize
        return int(min(2048, 16 + 1.25 * nbytes / 2 ** 20))

    def _run(self, stack, grid, out, vec, probe, resume):
        rank, world = _dist_info()
        partial = (vec or out) + '.partial'
        manifest = self._manifest(stack, grid, vec or out)
        manifest.update({k: v for k, v in probe.items()})
        reuse = self._prepare_partial(partial, manifest, resume, rank)
        n_cols = len(grid.col_offsets)
        pipe = _Pipe()
        stats = dict(tiles_total=len(grid), grid=repr(grid), mode=probe['mode'])
        writer = None
        if probe['mode'] == 'dense':
            num_rows = math.ceil(grid.shape[0] / self.block)
            row_file = lambda b: os.path.join(partial, 'rows', f'r{b:06d}.npy')  # noqa: E731
            mine = [b for b in _split(num_rows, world, rank) if not (reuse and os.path.isfile(row_file(b)))]
            blender = DenseBlender(grid, probe['channels'], self.block, self.blend, rows=mine)
            needed = blender.tiles_needed()
            stats['rows_total'], stats['rows_resumed'] = num_rows, (num_rows - len(mine)) if world == 1 else None
            if rank == 0:
                dtype, nodata = ('uint8', 255) if probe['output'] == 'labels' else ('float32', float('nan'))
                count = 1 if probe['output'] == 'labels' else probe['channels']
                writer = GeoTiffWriter(out, stack.info, count, dtype, nodata, block=self.block,
                                       compress=self.compress, cog=self.cog)
        else:
            row_file = lambda i: os.path.join(partial, 'rows', f't{i:06d}.npz')  # noqa: E731
            mine = [i for i in _split(len(grid.row_offsets), world, rank)
                    if not (reuse and os.path.isfile(row_file(i)))]
            needed = [i * n_cols + j for i in mine for j in range(n_cols)]
            stats['rows_total'] = len(grid.row_offsets)
            stats['rows_resumed'] = (len(grid.row_offsets) - len(mine)) if world == 1 else None
        batches = sorted({t // self.batch_size for t in needed})
        tiles_run = [t for b in batches for t in range(b * self.batch_size, min((b + 1) * self.batch_size, len(grid)))]
        stats['tiles_run'] = len(tiles_run)
        if rank == 0:
            from mmengine.logging import print_log
            resumed = f", {stats['rows_resumed']} of {stats['rows_total']} rows resumed" if reuse else ''
            print_log(f'{vec or out}: {grid}, {len(tiles_run)} of {len(grid)} windows to run on rank 0 of '
                      f'{world}{resumed}', logger='current')
        try:
            t0 = time.perf_counter()
            self._pipeline(pipe, stack, grid, batches, tiles_run, probe, row_file, writer,
                           blender if probe['mode'] == 'dense' else None, set(needed), n_cols)
            stats['pipeline_s'] = time.perf_counter() - t0
            stats.update({f'cpu_{k}_s': v for k, v in pipe.cpu.items()}, model_wait_s=pipe.model_wait)
            _barrier()
            if rank == 0:
                if probe['mode'] == 'dense':
                    self._flush_files(writer, row_file, num_rows)
                    path = writer.commit()
                    result = dict(raster=path)
                else:
                    result = dict(vector=self._write_objects(stack, grid, vec, row_file))
                shutil.rmtree(partial, ignore_errors=True)
            else:
                result = dict(raster=out) if probe['mode'] == 'dense' else dict(vector=vec)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        result['stats'] = stats
        return result

    # -- the threads ------------------------------------------------------------------------------
    def _pipeline(self, pipe, stack, grid, batches, tiles_run, probe, row_file, writer, blender, needed, n_cols):
        from tqdm import tqdm
        rank, _ = _dist_info()
        q_in: queue.Queue = queue.Queue(self.prefetch)
        q_out: queue.Queue = queue.Queue(2)
        q_rows: queue.Queue = queue.Queue(2)
        bs, n = self.batch_size, len(grid)
        bar = tqdm(total=len(tiles_run), unit='tile', desc=os.path.basename(writer.path if writer else 'infer'),
                   disable=not self.progress or rank != 0, dynamic_ncols=True, smoothing=0.1)
        self._next_row = 0

        def reader():
            for b in batches:
                pipe.put(q_in, self._read_batch(stack, grid, range(b * bs, min((b + 1) * bs, n))))
            pipe.put(q_in, _END)

        def merger():
            boxes_row: Dict[int, list] = {}
            while True:
                item = pipe.get(q_out)
                if item is _END:
                    break
                for t, w, res, valid in zip(item['tiles'], item['windows'], item['results'], item['valids']):
                    if probe['mode'] == 'dense':
                        scores, mvalid = res
                        for b, arr in blender.add(w, scores, valid & mvalid):
                            pipe.put(q_rows, (b, scores_to_output(arr, probe['output'])))
                    elif t in needed:
                        i = t // n_cols
                        bx, sc, lb, mvalid = res
                        boxes_row.setdefault(i, []).append(shift_boxes(w, grid.shape, bx, sc, lb, valid & mvalid))
                        if len(boxes_row[i]) == n_cols:
                            parts = boxes_row.pop(i)
                            arrs = {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate(('boxes', 'scores', 'labels'))}
                            pipe.put(q_rows, (i, arrs))
                    bar.update(1)
            pipe.put(q_rows, _END)

        def write():
            while True:
                item = pipe.get(q_rows)
                if item is _END:
                    break
                b, arr = item
                if isinstance(arr, dict):
                    _atomic_save(row_file(b), lambda f: np.savez(f, **arr))
                    continue
                _atomic_save(row_file(b), lambda f: np.save(f, arr))
                if writer is not None:
                    self._flush_files(writer, row_file, b)
                    writer.write(arr, row_off=b * self.block)
                    self._next_row = b + 1

        threads = [pipe.thread(reader, name='read'), pipe.thread(merger, name='merge'),
                   pipe.thread(write, name='write')]
        try:
            wait = 0.0
            while True:
                t0 = time.perf_counter()
                item = pipe.get(q_in)
                wait += time.perf_counter() - t0
                if item is _END:
                    break
                results = []
                for s in self._predict(item.pop('data')):
                    if probe['mode'] == 'dense':
                        d = getattr(s, probe['field']).data.float().cpu().numpy()
                        mv = s.valid_mask.data.cpu().numpy().reshape(d.shape[-2:]).astype(bool) \
                            if 'valid_mask' in s else np.ones(d.shape[-2:], bool)
                        results.append((d, mv))
                    else:
                        inst = s.pred_instances
                        mv = s.valid_mask.data.cpu().numpy()[0].astype(bool) if 'valid_mask' in s else None
                        results.append((inst.bboxes.detach().float().cpu().numpy().reshape(-1, 5),
                                        inst.scores.detach().float().cpu().numpy(),
                                        inst.labels.detach().cpu().numpy(),
                                        mv if mv is not None else np.ones(grid.tile, bool)))
                item['results'] = results
                pipe.put(q_out, item)
            pipe.put(q_out, _END)
            pipe.model_wait = wait  # wall seconds the model sat idle waiting for reads
            for t in threads:
                while t.is_alive() and not pipe.stop.is_set():
                    t.join(0.1)
        except _Stop:
            pass
        except BaseException as e:
            pipe.fail(e)
        finally:
            if pipe.errors:
                pipe.stop.set()
            for t in threads:
                t.join()
            bar.close()
        if pipe.errors:
            raise pipe.errors[0]

    def _flush_files(self, writer, row_file, upto: int):
        """Write rows ``[next, upto)`` from the partial folder (rows resumed or made by other ranks)."""
        while self._next_row < upto:
            b = self._next_row
            path = row_file(b)
            if not os.path.isfile(path):
                raise RuntimeError(f'{path}: block row {b} is missing from the partial results')
            writer.write(np.load(path), row_off=b * self.block)
            self._next_row = b + 1

    def _write_objects(self, stack, grid, vec, row_file) -> str:
        parts = []
        for i in range(len(grid.row_offsets)):
            path = row_file(i)
            if not os.path.isfile(path):
                raise RuntimeError(f'{path}: window row {i} is missing from the partial results')
            with np.load(path) as z:
                parts.append((z['boxes'], z['scores'], z['labels']))
        boxes = np.concatenate([p[0] for p in parts]).reshape(-1, 5)
        scores = np.concatenate([p[1] for p in parts])
        labels = np.concatenate([p[2] for p in parts]).astype(np.int64)
        boxes, scores, labels = merge_boxes(boxes, scores, labels, self.nms_iou)
        meta = getattr(self.model, 'dataset_meta', None) or {}
        names = meta.get('classes') if isinstance(meta, dict) else None
        return write_boxes_gpkg(vec, boxes, scores, labels, stack.info, class_names=names)


def infer_geotiff(model, inputs: Sequence[str], out: str, tile: int = 512, overlap: int = 64,
                  batch_size: int = 4, output: str = 'labels', cog: bool = False, resume: bool = False,
                  blend: str = 'hann', progress: bool = True, vector_out: Optional[str] = None,
                  **kwargs) -> Dict:
    """Run ``model`` over a scene larger than memory and write a georeferenced result.

    Args:
        model: a geoperc model in eval mode (see the module docstring for the ``test_step`` contract).
        inputs: one raster path per date (one for detection/segmentation, two for change detection);
            later dates are warped to the first date's grid when needed.
        out: output GeoTIFF path (dense models). Object models write a GeoPackage at ``vector_out``, or
            ``out`` with a ``.gpkg`` suffix.
        tile, overlap, batch_size: windowing and batching.
        output: ``'labels'`` (uint8, nodata 255) or ``'probs'`` (float32, nodata NaN).
        cog: write a Cloud Optimized GeoTIFF.
        resume: continue from the finished rows in ``<out>.partial/``.
        blend: ``'hann'``, ``'linear'`` or ``'none'``.
        progress: tqdm bar with tiles/s and ETA.
        **kwargs: further :class:`TiledInferencer` arguments (``block``, ``compress``, ``nms_iou``, ...).

    Returns:
        ``{'raster': path}`` or ``{'vector': path}``, and ``'stats'``: a dict of run statistics
        (``tiles_total``, ``tiles_run``, ``rows_total``, ``rows_resumed``, ``mode``, ``grid``, and timings:
        ``pipeline_s`` wall seconds, ``cpu_{read,merge,write}_s`` CPU seconds of the helper threads,
        ``model_wait_s`` wall seconds the model waited for reads).

    Raises:
        RasterError: an input is missing, not a raster, has no CRS, has the wrong band count, or dates do
            not overlap. OSError: the output cannot be written. InferenceError: bad settings.
    """
    inf = TiledInferencer(model, tile=tile, overlap=overlap, batch_size=batch_size, output=output, blend=blend,
                          cog=cog, progress=progress, **kwargs)
    return inf.run(inputs, out, resume=resume, vector_out=vector_out)
