"""Streaming tiled inference over GeoTIFFs larger than memory, keyed off the model's ``output_kind``.

``raster(s) -> TileGrid windows -> batches -> model -> merger -> writer``, in a pipeline of threads so
that reading, blending and writing hide behind the model's compute:

* a **reader** thread reads the windows of the next batches into one array per batch (boundless,
  nodata-aware, the later dates warped to the first date's grid when needed) and builds the model
  input (:meth:`Merger.model_input`);
* the **main** thread (and ``model_workers - 1`` more) runs the model (:meth:`Merger.predict`): dense
  kinds call ``model.predict_dense`` on the preprocessed batch -- one preprocessing, one forward, no labels and no
  data samples per window; box detectors go through ``model.test_step`` with per-window metainfo;
* a **merge** thread adds every tile to the merger of the kind (:mod:`.merge`: blended block rows for
  dense kinds, shifted boxes per window row for rotated boxes);
* a **write** thread persists every finished unit to ``<out>.partial/`` and, on rank 0, streams it
  into a tiled, compressed GeoTIFF next to the output, renamed over it when complete.

The model contract (``geoperc/models/base.py``) says everything tiled inference needs: ``output_kind``
picks the merger (``dense_probs``, ``dense_regression``, ``rotated_boxes``; ``voxel_labels`` is refused),
``in_channels`` is checked against the raster's band count, ``num_dates`` against the number of inputs,
``size_divisor`` against the tile size. Inputs reach the model in the file's dtype (uint16/uint32
widened to int32/int64): ``(B, C, h, w)`` for one date and ``(B, T, C, h, w)`` for T dates.

Resume. Finished units (block rows or window rows) are saved in ``<out>.partial/`` with a manifest
fingerprinting inputs, settings and model weights. With ``resume=True`` only the windows that touch
unfinished units run, in the same fixed batches as before, so the result is bitwise identical to an
uninterrupted run (same hardware, torch threads and batch size). A run that fails or is interrupted
before finishing any unit leaves no partial folder.

Scale-out. Under ``torchrun`` (MMEngine dist), rank r produces a contiguous range of units into the
shared partial folder; rank 0 writes the one output file.

Memory stays bounded by a few block rows of the output width (see :mod:`.merge`), the prefetch queues
and GDAL's block cache, which is capped for the run.

Threads. ``num_threads`` CPU threads (default torch's setting) are shared by ``model_workers`` model
threads (default 2 on CPU, 1 on GPU), each running whole batches with ``num_threads // model_workers``
torch intra-op threads (torch's setting is restored afterwards). On a small CPU two independent
single-threaded forwards beat one forward split over two threads -- no barrier in every layer -- and the
helper threads (GDAL decoding and numpy, which release the GIL) interleave with them without stalling a
parallel region. Results reach the merger in batch order and each batch is computed by one worker, so the
output does not depend on the number of workers. The helpers' and extra workers' CPU seconds are in the
returned stats.
"""
import json
import math
import os
import queue
import shutil
import threading
import time
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from rasterio.windows import Window

from geoperc.errors import InferenceError, RasterError, RasterReadError
from geoperc.io.raster import DateStack, torch_safe_dtype
from geoperc.io.tiling import TileGrid
from .export import check_writable
from .merge import BLEND_MODES, Merger, MergeSettings, TileBatch, atomic_save, merger_class
from .model import build_model, model_fingerprint

__all__ = ['TiledInferencer', 'infer_geotiff', 'build_model', 'InferenceError', 'check_georeferencing']

_MANIFEST_VERSION = 2


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
        self.units_done = 0
        self.lock = threading.Lock()

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
    return range(n * index // parts, n * (index + 1) // parts)


@contextmanager
def _torch_threads(n: Optional[int]):
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def check_georeferencing(path: str):
    """Refuse rasters tiled inference cannot place on the map, with the command that fixes them.

    * only ground control points (no geotransform): ``gdalwarp`` resamples them onto a grid;
    * a CRS but no geotransform (GDAL's identity default): the output would be in pixel coordinates
      labelled with the CRS.

    Raises:
        RasterError: naming the file and the fix. (Missing files, non-rasters and rasters without any
        georeferencing are reported by :class:`~geoperc.io.raster.DateStack`.)
    """
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    if not os.path.isfile(path):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                gcps, gcp_crs = src.gcps
                transform, crs = src.transform, src.crs
    except RasterioIOError:
        return  # DateStack reports it
    identity = transform.is_identity or tuple(transform)[:6] == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    if gcps and identity:
        raise RasterError(f'{path}: the raster is georeferenced by {len(gcps)} ground control points only, with '
                          'no geotransform; warp it onto a grid first: gdalwarp -r bilinear '
                          f'{path} {os.path.splitext(path)[0]}_warped.tif')
    if crs is not None and identity:
        raise RasterError(f'{path}: the raster has a CRS but no geotransform (pixel coordinates only), so '
                          'outputs cannot be placed on the map; set it, e.g. gdal_edit.py -a_ullr ULX ULY LRX LRY '
                          f'{path}, or warp a GCP-referenced original with gdalwarp')


def _read_failure(stack: DateStack, window, err: BaseException) -> RasterReadError:
    """A read that failed mid-file -> an error naming the file (found by re-reading each date) and window."""
    import rasterio
    from geoperc.io.raster import window_bounds_in
    inner = window_bounds_in(window, stack.info.shape)
    culprit = stack.paths[0]
    for p in stack.paths:
        try:
            with rasterio.open(p) as src:
                if inner is not None and src.transform == stack.info.transform and src.shape == stack.info.shape:
                    src.read(window=inner)
                else:
                    src.read(1, window=((src.height - 1, src.height), (0, src.width)))
        except Exception:  # noqa: BLE001
            culprit = p
            break
    msg = ' '.join(str(err).split())[:200]
    return RasterReadError(f'{culprit}: reading the window at column {int(window.col_off)}, row '
                           f'{int(window.row_off)} ({int(window.width)} x {int(window.height)} px) failed; the file '
                           f'looks truncated or corrupt ({msg})')


# -- the inferencer ---------------------------------------------------------------------------------
class TiledInferencer:
    """Tiled, streaming, resumable inference of a model over one scene (one raster per date).

    Args:
        model: a geoperc model on the contract of ``geoperc/models/base.py``, in eval mode.
        tile: window size in pixels (a multiple of ``model.size_divisor``). overlap: pixels shared by
            neighbouring windows.
        batch_size: windows per forward pass.
        output: ``dense_probs`` output, ``'labels'`` (uint8 argmax, nodata 255) or ``'probs'`` (float32
            per-class probabilities, nodata NaN). ``dense_regression`` models always write float32 values.
        blend: window weight for overlaps, ``'hann'``, ``'linear'`` or ``'none'`` (plain mean).
        block: output block size; dense results are finalised and written one block row at a time.
        compress: GeoTIFF codec, validated for the output dtype before any work (lossy codecs refused).
        cog: write a Cloud Optimized GeoTIFF.
        nms_iou: IoU threshold of the rotated NMS that merges boxes across seams.
        progress: show a tqdm bar (tiles/s, ETA) on rank 0.
        prefetch: batches read ahead of the model.
        gdal_cache_mb: GDAL's block cache during the run in MB (None: the input block rows one window row
            spans, see :meth:`_cache_mb`).
        num_threads: CPU threads for the model during the run (None: torch's current setting); see
            ``model_workers``.
        model_workers: batches run concurrently by this many model threads, each with ``num_threads //
            model_workers`` torch intra-op threads (None: 2 on CPU when there are at least 2 threads, 1 on
            GPU). On CPU two independent single-threaded forwards keep both cores busier than one forward
            split across two threads (no barrier in every layer) and let the helper threads interleave
            without stalling a parallel region; results still reach the merger in batch order, and every
            batch is computed by one worker, so the output does not depend on the number of workers.
        bands: 1-based band numbers to read on every date (default: :class:`DateStack`'s, every band but
            a mask alpha band).
    """

    def __init__(self, model, tile: int = 512, overlap: int = 64, batch_size: int = 4, output: str = 'labels',
                 blend: str = 'hann', block: int = 256, compress: str = 'deflate', cog: bool = False,
                 nms_iou: float = 0.1, progress: bool = True, prefetch: int = 2,
                 gdal_cache_mb: Optional[int] = None, num_threads: Optional[int] = None,
                 bands: Optional[Sequence[int]] = None, model_workers: Optional[int] = None):
        if output not in ('labels', 'probs'):
            raise InferenceError(f"output must be 'labels' or 'probs', got {output!r}")
        if blend not in BLEND_MODES:
            raise InferenceError(f'blend must be one of {BLEND_MODES}, got {blend!r}')
        if batch_size < 1:
            raise InferenceError(f'batch_size must be >= 1, got {batch_size}')
        if block % 16 or block < 16:
            raise InferenceError(f'block must be a positive multiple of 16 (GeoTIFF tiles), got {block}')
        if int(tile) < 1:
            raise InferenceError(f'tile size must be positive, got {tile}')
        if not 0 <= int(overlap) < int(tile):
            raise InferenceError(f'overlap must be in [0, tile), got overlap={overlap} for tile={tile}')
        self.model = model
        self.merger_cls = merger_class(model)
        self.tile, self.overlap, self.batch_size = int(tile), int(overlap), int(batch_size)
        self.output, self.blend, self.block = output, blend, int(block)
        self.compress, self.cog, self.nms_iou = compress, cog, float(nms_iou)
        self.progress, self.prefetch, self.gdal_cache_mb = progress, max(1, int(prefetch)), gdal_cache_mb
        self.num_threads = num_threads
        if model_workers is not None and int(model_workers) < 1:
            raise InferenceError(f'model_workers must be >= 1, got {model_workers}')
        self.model_workers = None if model_workers is None else int(model_workers)
        self.bands = None if bands is None else [int(b) for b in bands]
        div = int(getattr(model, 'size_divisor', 1) or 1)
        if self.tile % div:
            raise InferenceError(f'tile {self.tile} is not a multiple of the model\'s size_divisor {div}; use '
                                 f'--tile {max(div, self.tile // div * div)}')

    # -- setup steps ------------------------------------------------------------------------------
    def _check_inputs(self, stack: DateStack):
        n, C = self.model.in_channels, stack.info.count
        if n is not None and n and n != C:
            raise RasterError(f'{stack.paths[0]}: has {C} bands per date but the model expects {n} '
                              f'({type(self.model).__name__}.in_channels)')
        T = int(getattr(self.model, 'num_dates', 1))
        if T != stack.num_dates:
            raise InferenceError(f'{type(self.model).__name__} takes {T} date(s) (one raster per date), got '
                                 f'{stack.num_dates}: {", ".join(stack.paths)}')
        if np.dtype(stack.dtype) == np.float64:
            from mmengine.logging import print_log
            print_log(f'{stack.paths[0]}: float64 input; the model and the outputs work in float32',
                      logger='current')

    def _outputs(self, out: str, vector_out: Optional[str]) -> str:
        """The output path of the kind (GeoPackage for boxes), checked writable."""
        if self.merger_cls.kind == 'rotated_boxes':
            out = vector_out or (out if out.lower().endswith('.gpkg') else os.path.splitext(out)[0] + '.gpkg')
            out = os.path.abspath(out)
        check_writable(out)
        return out

    def _merger(self, stack: DateStack, grid: TileGrid, out: str, rank: int) -> Merger:
        meta = getattr(self.model, 'dataset_meta', None) or {}
        names = meta.get('classes') if isinstance(meta, dict) else None
        return self.merger_cls(MergeSettings(grid=grid, info=stack.info, out=out, partial=out + '.partial',
                                             output=self.output, blend=self.blend, block=self.block,
                                             compress=self.compress, cog=self.cog, nms_iou=self.nms_iou,
                                             class_names=names, writes=rank == 0))

    def _manifest(self, stack: DateStack, grid: TileGrid, merger: Merger) -> dict:
        files = []
        for p in stack.paths:
            st = os.stat(p)
            files.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
        return dict(version=_MANIFEST_VERSION, out=merger.s.out, inputs=files, shape=list(grid.shape),
                    tile=list(grid.tile), stride=list(grid.stride), batch_size=self.batch_size, bands=self.bands,
                    model=model_fingerprint(self.model), **merger.manifest())

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
                atomic_save(mpath, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
        _barrier()
        return reuse or (resume and os.path.isfile(mpath))

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
        out = self._outputs(out, vector_out)
        for p in inputs:
            check_georeferencing(p)
        rank, world = _dist_info()
        with DateStack(inputs, **({} if self.bands is None else dict(bands=self.bands))) as stack:
            self._check_inputs(stack)
            grid = TileGrid(stack.info.shape, self.tile, self.overlap, block=stack.info.block_shape)
            merger = self._merger(stack, grid, out, rank)  # validates the output settings
            threads = int(self.num_threads or torch.get_num_threads())
            workers = self._num_workers(threads)
            with rasterio.Env(GDAL_CACHEMAX=self._cache_mb(stack)), _torch_threads(max(1, threads // workers)):
                return self._run(stack, grid, merger, resume, rank, world, workers)

    def _num_workers(self, threads: int) -> int:
        """Model threads for the run: ``model_workers``, else 2 on CPU with >= 2 threads, else 1."""
        if self.model_workers is not None:
            return self.model_workers
        on_cpu = all(p.device.type == 'cpu' for p in self.model.parameters())  # True without parameters
        return 2 if on_cpu and threads >= 2 else 1

    def _plan(self, grid: TileGrid, merger: Merger, reuse: bool, rank: int, world: int, stats: dict):
        """Units this rank makes -> the fixed batches (the same as in an uninterrupted run) to run."""
        n_units = merger.num_units()
        mine = [u for u in _split(n_units, world, rank) if not (reuse and os.path.isfile(merger.unit_file(u)))]
        needed = merger.start(mine)
        bs = self.batch_size
        batches = sorted({t // bs for t in needed})
        tiles_run = sum(min((b + 1) * bs, len(grid)) - b * bs for b in batches)
        stats.update(rows_total=n_units, rows_resumed=(n_units - len(mine)) if world == 1 else None,
                     tiles_run=tiles_run)
        return batches, tiles_run

    def _run(self, stack, grid, merger: Merger, resume: bool, rank: int, world: int, workers: int = 1) -> Dict:
        partial = merger.s.partial
        reuse = self._prepare_partial(partial, self._manifest(stack, grid, merger), resume, rank)
        stats = dict(tiles_total=len(grid), grid=repr(grid), kind=merger.kind)
        batches, tiles_run = self._plan(grid, merger, reuse, rank, world, stats)
        if rank == 0:
            from mmengine.logging import print_log
            resumed = f", {stats['rows_resumed']} of {stats['rows_total']} {merger.unit_name}s resumed" \
                if reuse else ''
            print_log(f'{merger.s.out}: {grid}, {tiles_run} of {len(grid)} windows to run on rank 0 of '
                      f'{world}{resumed}', logger='current')
        pipe = _Pipe()
        try:
            t0 = time.perf_counter()
            self._pipeline(pipe, stack, grid, merger, batches, tiles_run, rank, workers)
            stats['pipeline_s'] = time.perf_counter() - t0
            stats.update({f'cpu_{k}_s': v for k, v in pipe.cpu.items()}, model_wait_s=pipe.model_wait)
            _barrier()
            result = merger.finish() if rank == 0 else (
                dict(vector=merger.s.out) if merger.kind == 'rotated_boxes' else dict(raster=merger.s.out))
            if rank == 0:
                shutil.rmtree(partial, ignore_errors=True)
        except BaseException:
            merger.abort()
            self._drop_empty_partial(partial, rank)
            raise
        result['stats'] = stats
        return result

    @staticmethod
    def _drop_empty_partial(partial: str, rank: int):
        """A run that never finished a unit (now or before) leaves nothing to resume: remove its folder."""
        rows = os.path.join(partial, 'rows')
        if rank == 0 and os.path.isdir(rows) and not any(n.endswith(('.npy', '.npz')) for n in os.listdir(rows)):
            shutil.rmtree(partial, ignore_errors=True)

    # -- the pipeline steps ------------------------------------------------------------------------
    def _read_batch(self, stack: DateStack, grid: TileGrid, tiles: Sequence[int]) -> TileBatch:
        """Read the windows ``tiles`` into one ``(B, T, C, th, tw)`` array (and their valid masks).

        Consecutive windows of one window row are read as one span (their union window): one GDAL call and
        one mask computation per span, and the columns neighbours share are decoded and copied once.
        """
        th, tw = grid.tile
        dt = torch_safe_dtype(stack.dtype)
        px = np.empty((len(tiles), stack.num_dates, stack.info.count, th, tw), dt)
        valid = np.empty((len(tiles), th, tw), bool)
        windows = [grid.window(t) for t in tiles]
        n_cols = len(grid.col_offsets)
        k = 0
        while k < len(tiles):
            e = k + 1
            while e < len(tiles) and tiles[e] == tiles[e - 1] + 1 and tiles[e] // n_cols == tiles[k] // n_cols:
                e += 1
            c0 = int(windows[k].col_off)
            span = Window(c0, windows[k].row_off, int(windows[e - 1].col_off) + tw - c0, th)
            try:
                a, v = stack.read(span)  # (T, C, th, span width), (th, span width)
            except RasterReadError:
                raise
            except (OSError, RuntimeError) as err:  # rasterio's RasterioIOError is an OSError
                raise _read_failure(stack, span, err) from err
            for m in range(k, e):
                c = int(windows[m].col_off) - c0
                px[m] = a[..., c:c + tw]
                valid[m] = v[:, c:c + tw]
            k = e
        return TileBatch(tiles=list(tiles), windows=windows, pixels=px, valid=valid,
                         meta=dict(crs=self._crs_wkt, img_path=list(stack.paths)))

    def _reader(self, pipe, q_in, stack, grid, merger, batches, workers: int = 1):
        bs, n = self.batch_size, len(grid)
        for seq, b in enumerate(batches):
            batch = self._read_batch(stack, grid, range(b * bs, min((b + 1) * bs, n)))
            pipe.put(q_in, (seq, batch, merger.model_input(batch)))
        for _ in range(workers):
            pipe.put(q_in, _END)

    @staticmethod
    def _merge(pipe, q_out, q_units, merger, bar, workers: int = 1):
        """Add the model's results to the merger in batch order (model workers may finish out of order,
        and the order of float sums must not depend on them)."""
        pending, nxt, ended = {}, 0, 0
        while ended < workers:
            item = pipe.get(q_out)
            if item is _END:
                ended += 1
                continue
            pending[item[0]] = item[1:]
            while nxt in pending:
                batch, results = pending.pop(nxt)
                nxt += 1
                for k, (t, w) in enumerate(zip(batch.tiles, batch.windows)):
                    for unit in merger.add(t, w, results[k], batch.valid[k]):
                        pipe.put(q_units, unit)
                    bar.update(1)
        pipe.put(q_units, _END)

    @staticmethod
    def _write(pipe, q_units, merger):
        while True:
            item = pipe.get(q_units)
            if item is _END:
                break
            merger.save(*item)
            pipe.units_done += 1

    def _model_loop(self, pipe, q_in, q_out, merger):
        """A model worker (the main thread, and ``model_workers - 1`` more): batches -> model -> merge
        queue; adds how long it waited for input to ``pipe.model_wait``."""
        wait = 0.0
        try:
            while True:
                t0 = time.perf_counter()
                item = pipe.get(q_in)
                wait += time.perf_counter() - t0
                if item is _END:
                    break
                seq, batch, data = item
                pipe.put(q_out, (seq, batch, merger.predict(self.model, data)))
            pipe.put(q_out, _END)
        finally:
            with pipe.lock:
                pipe.model_wait += wait

    def _pipeline(self, pipe, stack, grid, merger, batches, tiles_run, rank, workers: int = 1):
        from tqdm import tqdm
        self._crs_wkt = stack.info.crs.to_wkt()
        q_in = queue.Queue(self.prefetch + workers - 1)
        q_out: queue.Queue = queue.Queue(2 + workers - 1)
        q_units: queue.Queue = queue.Queue(2)
        bar = tqdm(total=tiles_run, unit='tile', desc=os.path.basename(merger.s.out),
                   disable=not self.progress or rank != 0, dynamic_ncols=True, smoothing=0.1)
        threads = [pipe.thread(self._reader, pipe, q_in, stack, grid, merger, batches, workers, name='read'),
                   pipe.thread(self._merge, pipe, q_out, q_units, merger, bar, workers, name='merge'),
                   pipe.thread(self._write, pipe, q_units, merger, name='write')]
        threads += [pipe.thread(self._model_loop, pipe, q_in, q_out, merger, name=f'model{k}')
                    for k in range(1, workers)]
        try:
            self._model_loop(pipe, q_in, q_out, merger)
            for t in threads:
                while t.is_alive() and not pipe.stop.is_set():
                    t.join(0.1)
        except _Stop:
            pass
        except BaseException as e:  # Ctrl-C and model errors stop the helpers too
            pipe.fail(e)
        finally:
            if pipe.errors:
                pipe.stop.set()
            for t in threads:
                t.join()
            bar.close()
        if pipe.errors:
            raise pipe.errors[0]


def infer_geotiff(model, inputs: Sequence[str], out: str, tile: int = 512, overlap: int = 64,
                  batch_size: int = 4, output: str = 'labels', cog: bool = False, resume: bool = False,
                  blend: str = 'hann', progress: bool = True, vector_out: Optional[str] = None,
                  **kwargs) -> Dict:
    """Run ``model`` over a scene larger than memory and write a georeferenced result.

    Args:
        model: a geoperc model in eval mode (``geoperc/models/base.py``): ``dense_probs``,
            ``dense_regression`` or ``rotated_boxes``.
        inputs: one raster path per date (``model.num_dates`` of them); later dates are warped to the
            first date's grid when needed.
        out: output GeoTIFF path (dense kinds). Box detectors write a GeoPackage at ``vector_out``, or
            ``out`` with a ``.gpkg`` suffix.
        tile, overlap, batch_size: windowing and batching.
        output: ``'labels'`` (uint8, nodata 255) or ``'probs'`` (float32, nodata NaN).
        cog: write a Cloud Optimized GeoTIFF.
        resume: continue from the finished rows in ``<out>.partial/``.
        blend: ``'hann'``, ``'linear'`` or ``'none'``.
        progress: tqdm bar with tiles/s and ETA.
        **kwargs: further :class:`TiledInferencer` arguments (``block``, ``compress``, ``nms_iou``,
            ``num_threads``, ...).

    Returns:
        ``{'raster': path}`` or ``{'vector': path}``, and ``'stats'``: a dict of run statistics
        (``tiles_total``, ``tiles_run``, ``rows_total``, ``rows_resumed``, ``kind``, ``grid``, and timings:
        ``pipeline_s`` wall seconds, ``cpu_{read,merge,write}_s`` CPU seconds of the helper threads,
        ``model_wait_s`` wall seconds the model waited for reads).

    Raises:
        RasterError: an input is missing, not a raster, has no CRS or geotransform, the wrong band count,
            or dates do not overlap; RasterReadError: a read failed mid-file. OutputPathError: the output
            cannot be written. InferenceError / SettingsError: the model cannot be tiled or bad settings
            (codec, tile size, number of dates). All are :class:`~geoperc.errors.GeoPercError`.
    """
    inf = TiledInferencer(model, tile=tile, overlap=overlap, batch_size=batch_size, output=output, blend=blend,
                          cog=cog, progress=progress, **kwargs)
    return inf.run(inputs, out, resume=resume, vector_out=vector_out)
