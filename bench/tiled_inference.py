"""Benchmark of streaming tiled inference against the model's own forward time and plain streaming.

    python bench/tiled_inference.py                  # 4096^2 and 16384^2 (the issue-14 setting)
    python bench/tiled_inference.py --quick          # 4096^2 only
    python bench/tiled_inference.py --quick --threads 1 2 --repeat 3

The setting (issue 14): a 3-band uint8 tiled GeoTIFF (256^2 internal blocks, deflate, nodata 0), tile
256, overlap 64 (stride 192), batch 16, an 8-wide 4-layer 3x3 CNN (3->8->8->8->2, ReLU) with softmax,
uint8 labels out, torch threads 2 (``--threads``). Every mode runs in a fresh subprocess (so peak RSS is
that run's own), with the same network and weights:

* ``forward``: the model alone -- ``softmax(model(x))`` on every batch of windows, each batch read and
  normalised into memory first, untimed, one forward at a time with ``--threads`` intra-op threads (the
  denominator of every ratio);
* ``forward2`` (``--modes ... forward2``): the model alone, the other way to use the cores -- ``--threads``
  Python threads each running whole batches with one intra-op thread, as tiled inference's model
  workers do (the floor for the streaming run; on 2 cores ~0.8x ``forward``);
* ``plain``: plain windowed streaming -- a rasterio read per window, the model's preprocessor and
  forward, the centre crop (stride^2) of each window's labels written into a tiled GeoTIFF; no blending,
  no resume, no nodata handling beyond the preprocessor's;
* ``stream``: :func:`geoperc.inference.infer_geotiff` end to end (labels, Hann blending, nodata, resume
  files, threads).

``--repeat N`` interleaves N runs of every mode and reports the fastest (least disturbed by other load on
a shared machine) with its ratio to forward-only, and the largest peak RSS (``getrusage``). With two sizes
it prints the streaming RSS growth (goal < 200 MB). Goal at 16384^2: stream <= 1.10x forward-only and
below plain streaming. ``--profile`` runs ``stream`` once more under cProfile and prints where the main
thread's time went (the helper threads' CPU seconds are in the stats line).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MODEL_DESC = 'CNN 3->8->8->8->2 (four 3x3 conv, ReLU) + softmax'


def make_raster(path: str, size: int, block: int = 256):
    """A tiled 3-band uint8 GeoTIFF of ``size``^2 pixels (nodata 0), generated and written block by block."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    prof = dict(driver='GTiff', width=size, height=size, count=3, dtype='uint8', crs='EPSG:32632',
                transform=from_origin(500000, 5000000, 0.5, 0.5), tiled=True, blockxsize=block,
                blockysize=block, compress='deflate', zlevel=1, nodata=0, BIGTIFF='IF_SAFER')
    yy, xx = np.mgrid[0:block, 0:block].astype(np.float32)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 12, (3, block, block)).astype(np.float32)
    with rasterio.open(path, 'w', **prof) as dst:
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                base = 60 * np.sin((xx[:h, :w] + c) / 53.0) + 50 * np.cos((yy[:h, :w] + r) / 71.0) + 128
                arr = np.stack([base * g for g in (1.0, 0.8, 0.6)]) + np.roll(noise, (r + c) % block, 2)[:, :h, :w]
                dst.write(np.clip(arr, 1, 255).astype(np.uint8), window=Window(c, r, w, h))


def build_model():
    """The issue's CNN; also builds on code without ``head_kernel`` (for before/after runs)."""
    import torch
    import torch.nn as nn
    from geoperc.models.data_preprocessors.geo_preprocessor import GeoDataPreprocessor
    from geoperc.testing.models import TinyConvSegModel
    torch.manual_seed(0)
    pre = GeoDataPreprocessor(mean=[128.0] * 3, std=[64.0] * 3)
    try:
        m = TinyConvSegModel(in_channels=3, num_classes=2, width=8, depth=3, head_kernel=3, data_preprocessor=pre)
    except TypeError:
        m = TinyConvSegModel(in_channels=3, num_classes=2, width=8, depth=3, data_preprocessor=pre)
        m.net[-1] = nn.Conv2d(8, 2, 3, padding=1)
    return m.eval()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _windows(shape, a):
    from geoperc.io.tiling import TileGrid
    return TileGrid(shape, a.tile, a.overlap, block=(256, 256))


# -- workers (one per subprocess) --------------------------------------------------------------------
def worker_stream(a):
    from geoperc.inference import infer_geotiff
    model = build_model()
    t, c = time.perf_counter(), time.process_time()
    res = infer_geotiff(model, [a.input], a.output, tile=a.tile, overlap=a.overlap, batch_size=a.batch_size,
                        output='labels', progress=False)
    st = res['stats']
    return dict(seconds=time.perf_counter() - t, tiles=st['tiles_run'], cpu_s=time.process_time() - c,
                **{k: round(v, 2) for k, v in st.items() if k.startswith('cpu_') or k == 'model_wait_s'})


def _forward_batches(a, model, fn, limit=None):
    """Read + normalise every batch of windows (the first ``limit``; untimed), calling ``fn(x)`` on each."""
    import rasterio
    import torch
    with rasterio.open(a.input) as src:
        grid = _windows(src.shape, a)
        wins = list(grid)
        pre = model.data_preprocessor
        for b0 in range(0, len(wins), a.batch_size)[:limit]:
            ws = wins[b0:b0 + a.batch_size]
            x = np.stack([src.read(window=w, boundless=True, fill_value=0) for w in ws])
            with torch.no_grad():
                fn(pre(dict(inputs=torch.from_numpy(x)), False)['inputs'])
    return len(wins)


def worker_forward(a):
    """The model alone on in-memory batches (read + normalised untimed), one forward at a time with
    ``--threads`` intra-op threads."""
    import torch
    model = build_model()
    acc = dict(total=0.0, cpu=0.0)

    def fn(x):
        t, c = time.perf_counter(), time.process_time()
        with torch.no_grad():
            model(x, mode='tensor').softmax(1).numpy()
        acc['total'] += time.perf_counter() - t
        acc['cpu'] += time.process_time() - c
    n = _forward_batches(a, model, fn)
    return dict(seconds=acc['total'], tiles=n, cpu_s=acc['cpu'])


def worker_forward2(a):
    """The model alone, the other way to use the cores: ``--threads`` model threads, each running whole
    batches with one intra-op thread. The first 32 batches are preloaded (untimed) and cycled through
    as many forwards as the scene has batches (a convolution's time does not depend on the pixels)."""
    import threading

    import torch
    model = build_model()
    xs = []
    n = _forward_batches(a, model, xs.append, limit=32)
    xs = [xs[i % len(xs)] for i in range(-(-n // a.batch_size))]
    k = max(1, a.threads[0])
    torch.set_num_threads(1)

    def run(part):
        with torch.no_grad():
            for x in part:
                model(x, mode='tensor').softmax(1).numpy()
    ts = [threading.Thread(target=run, args=(xs[i::k],)) for i in range(k)]
    t, c = time.perf_counter(), time.process_time()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return dict(seconds=time.perf_counter() - t, tiles=n, cpu_s=time.process_time() - c)


def worker_plain(a):
    """Plain windowed streaming: read a window, preprocess, forward, write its centre crop."""
    import rasterio
    import torch
    from rasterio.windows import Window
    model = build_model()
    t, c = time.perf_counter(), time.process_time()
    with rasterio.open(a.input) as src:
        H, W = src.shape
        grid = _windows(src.shape, a)
        wins = list(grid)
        half = grid.overlap[0] // 2
        prof = dict(src.profile, count=1, dtype='uint8', nodata=255, compress='deflate', tiled=True,
                    blockxsize=256, blockysize=256)
        with rasterio.open(a.output, 'w', **prof) as dst:
            for b0 in range(0, len(wins), a.batch_size):
                ws = wins[b0:b0 + a.batch_size]
                x = np.stack([src.read(window=w, boundless=True, fill_value=0) for w in ws])
                with torch.no_grad():
                    x = model.data_preprocessor(dict(inputs=torch.from_numpy(x)), False)['inputs']
                    lab = model(x, mode='tensor').softmax(1).argmax(1).to(torch.uint8).numpy()
                for w, l in zip(ws, lab):
                    r0 = 0 if w.row_off == 0 else half
                    c0 = 0 if w.col_off == 0 else half
                    r1 = min(grid.tile[0] - half, H - w.row_off) if w.row_off + grid.tile[0] < H else H - w.row_off
                    c1 = min(grid.tile[1] - half, W - w.col_off) if w.col_off + grid.tile[1] < W else W - w.col_off
                    dst.write(l[r0:r1, c0:c1][None], window=Window(w.col_off + c0, w.row_off + r0, c1 - c0, r1 - r0))
    return dict(seconds=time.perf_counter() - t, tiles=len(wins), cpu_s=time.process_time() - c)


def worker_profile(a):
    import cProfile
    import io
    import pstats
    prof = cProfile.Profile()
    prof.enable()
    res = worker_stream(a)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats('tottime').print_stats(18)
    res['profile'] = s.getvalue()
    return res


WORKERS = dict(stream=worker_stream, forward=worker_forward, forward2=worker_forward2, plain=worker_plain,
               profile=worker_profile)


def run_worker(kind: str, inp: str, out: str, args, threads: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', kind, '--input', inp, '--output', out,
           '--tile', str(args.tile), '--overlap', str(args.overlap), '--batch-size', str(args.batch_size),
           '--threads', str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f'{kind} worker failed:\n{p.stderr[-3000:]}')
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='4096^2 only')
    p.add_argument('--sizes', type=int, nargs='+', default=None)
    p.add_argument('--tile', type=int, default=256)
    p.add_argument('--overlap', type=int, default=64)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--threads', type=int, nargs='+', default=[2], help='torch threads (several: one run each)')
    p.add_argument('--repeat', type=int, default=1,
                   help='interleaved runs per mode; the fastest is reported (least disturbed by other load)')
    p.add_argument('--modes', nargs='+', default=['forward', 'plain', 'stream'],
                   choices=['forward', 'forward2', 'plain', 'stream'])
    p.add_argument('--profile', action='store_true', help='profile one more stream run (cProfile, main thread)')
    p.add_argument('--workdir', default=None, help='where the rasters go (default: a temporary folder)')
    p.add_argument('--json', default=None, help='also write the results to this JSON file')
    p.add_argument('--worker', choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument('--input', help=argparse.SUPPRESS)
    p.add_argument('--output', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        import torch
        torch.set_num_threads(a.threads[0])
        res = WORKERS[a.worker](a)
        res['peak_rss_mb'] = peak_rss_mb()
        print(json.dumps(res))
        return 0
    sizes = a.sizes or ([4096] if a.quick else [4096, 16384])
    print(f'tile {a.tile}, overlap {a.overlap}, batch {a.batch_size}, torch threads {a.threads}, cpus '
          f'{os.cpu_count()}, best of {a.repeat}; model {MODEL_DESC}; code {ROOT}', flush=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        for size in sizes:
            inp = os.path.join(tmp, f'scene_{size}.tif')
            t = time.perf_counter()
            make_raster(inp, size)
            print(f'{size}^2: generated {os.path.getsize(inp) / 2**20:.0f} MB in {time.perf_counter() - t:.0f} s',
                  flush=True)
            for threads in a.threads:
                r = dict(size=size, threads=threads)
                runs = {}
                for rep in range(a.repeat):  # interleaved: a noisy shared machine hits every mode alike
                    for kind in a.modes:
                        out = os.path.join(tmp, f'{kind}_{size}.tif')
                        res = run_worker(kind, inp, out, a, threads)
                        runs.setdefault(kind, []).append(res)
                        print(f'  threads {threads} {kind:8s} {res["seconds"]:8.2f} s  CPU {res["cpu_s"]:7.1f} s  '
                              f'peak RSS {res["peak_rss_mb"]:7.0f} MB  ({res["tiles"]} windows)', flush=True)
                        for f in (out, out + '.partial'):
                            if os.path.isfile(f):
                                os.remove(f)
                for kind, rs in runs.items():
                    best = min(rs, key=lambda x: x['seconds'])
                    r[kind] = dict(best, all_seconds=[round(x['seconds'], 2) for x in rs],
                                   peak_rss_mb=max(x['peak_rss_mb'] for x in rs))
                if 'forward' in r:
                    cpu_f = min(x['cpu_s'] for x in runs['forward'])
                    for kind in a.modes:
                        r[kind]['ratio'] = r[kind]['seconds'] / r['forward']['seconds']
                        r[kind]['cpu_ratio'] = min(x['cpu_s'] for x in runs[kind]) / cpu_f
                    print(f'  threads {threads}: x forward-only, wall (best of {a.repeat}): ' + ', '.join(
                        f'{k} {r[k]["ratio"]:.3f}' for k in a.modes) + '; CPU seconds (least): ' + ', '.join(
                        f'{k} {r[k]["cpu_ratio"]:.3f}' for k in a.modes), flush=True)
                if 'stream' in r and 'cpu_read_s' in r['stream']:
                    s_ = r['stream']
                    print(f'  stream helper threads, CPU s: read {s_["cpu_read_s"]}, merge {s_["cpu_merge_s"]}, '
                          f'write {s_["cpu_write_s"]}; model waited {s_["model_wait_s"]} s for input', flush=True)
                if a.profile:
                    res = run_worker('profile', inp, os.path.join(tmp, 'prof.tif'), a, threads)
                    print(res['profile'], flush=True)
                rows.append(r)
            os.remove(inp)
    print('\nsummary (best of each mode; x = seconds / forward-only seconds, wall and CPU of the timed part)')
    print(f'{"size":>7} {"thr":>4} ' + ' '.join(f'{m + " s":>10} {m + " x":>9} {"cpu x":>6} {m + " MB":>10}'
                                                for m in a.modes))
    for r in rows:
        cells = []
        for m in a.modes:
            cells.append(f'{r[m]["seconds"]:10.2f} {r[m].get("ratio", float("nan")):9.3f} '
                         f'{r[m].get("cpu_ratio", float("nan")):6.3f} {r[m]["peak_rss_mb"]:10.0f}')
        print(f'{r["size"]:>7} {r["threads"]:>4} ' + ' '.join(cells))
    if 'stream' in a.modes and len(sizes) > 1:
        for threads in a.threads:
            rs = [r for r in rows if r['threads'] == threads]
            g = rs[-1]['stream']['peak_rss_mb'] - rs[0]['stream']['peak_rss_mb']
            print(f'stream peak RSS growth {rs[0]["size"]}^2 -> {rs[-1]["size"]}^2 (threads {threads}): {g:+.0f} MB')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
