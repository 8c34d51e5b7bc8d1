"""``geoperc infer CONFIG CHECKPOINT INPUT [INPUT2 ...] --out OUT [options]``: tiled GeoTIFF inference.

Argument parsing and the distributed launcher; the work is :func:`geoperc.inference.infer_geotiff`.
Runs under :func:`geoperc.cli.common.run`: a user error (a missing or bad input, an unwritable output, a
bad codec, a config or checkpoint problem) ends with one line ``<prog>: error: <file>: <problem>`` and exit
2 with no output file; Ctrl-C ends with one line saying how to resume (``--resume``) and exit 130, the
finished rows kept in ``OUT.partial/``. Also ``tools/infer_geotiff.py``.
"""
import argparse
import sys
from typing import List, Optional

from geoperc.cli.common import run

__all__ = ['main', 'build_parser']


def build_parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(
        prog=prog, description='Tiled inference of a geoperc model over GeoTIFFs larger than memory; writes a '
        'georeferenced GeoTIFF (dense models) or GeoPackage (rotated-box detectors).')
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', help="checkpoint file, or 'none' to keep the config's initial weights")
    p.add_argument('inputs', nargs='+', metavar='INPUT',
                   help='input raster(s): one scene, or one per date (change detection: date 1, date 2)')
    p.add_argument('--out', required=True, help='output GeoTIFF (or .gpkg for detectors)')
    p.add_argument('--vector-out', default=None, help='GeoPackage path for detector outputs (default: OUT.gpkg)')
    p.add_argument('--tile', type=int, default=512, help='window size in pixels (default 512)')
    p.add_argument('--overlap', type=int, default=64, help='overlap of neighbouring windows (default 64)')
    p.add_argument('--batch-size', type=int, default=4, help='windows per forward pass (default 4)')
    p.add_argument('--output', choices=['labels', 'probs'], default='labels',
                   help='uint8 labels (nodata 255) or float32 class probabilities (nodata NaN)')
    p.add_argument('--blend', choices=['hann', 'linear', 'none'], default='hann', help='overlap blending window')
    p.add_argument('--block', type=int, default=256, help='output block size (default 256)')
    p.add_argument('--compress', default='deflate',
                   help='GeoTIFF codec (deflate, zstd, lzw, lzma, lerc, none; lossy jpeg/webp are refused)')
    p.add_argument('--cog', action='store_true', help='write a Cloud Optimized GeoTIFF')
    p.add_argument('--resume', action='store_true', help='continue an interrupted run from OUT.partial/')
    p.add_argument('--bands', type=int, nargs='+', default=None,
                   help='1-based band numbers to read on every date (default: all but a mask alpha band)')
    p.add_argument('--threads', type=int, default=None, help="torch threads for the run (default: torch's)")
    p.add_argument('--model-workers', type=int, default=None,
                   help='batches run at once by this many model threads sharing --threads (default: 2 on CPU '
                        'with >= 2 threads, 1 on GPU)')
    p.add_argument('--device', default=None, help='torch device (default: cuda if available, else cpu)')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--trust-checkpoint', action='store_true',
                   help='allow loading a checkpoint that is a full pickle (only for files you trust)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value')
    return p


def _init_dist(launcher: str, device: str):
    """MMEngine's launcher on GPUs; on CPU, the same env:// rendezvous with the gloo backend."""
    import torch

    from geoperc.errors import SettingsError
    if launcher == 'none':
        return
    if device.startswith('cuda') and torch.cuda.is_available():
        from mmengine.dist import init_dist
        init_dist(launcher, backend='nccl')
        return
    if launcher != 'pytorch':
        raise SettingsError(f'--launcher {launcher} on CPU is not supported; use torchrun with --launcher pytorch')
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def _infer(args) -> int:
    import torch
    from mmengine.dist import get_rank

    from geoperc.engine.checkpoint import trust_checkpoints
    from geoperc.inference import build_model, infer_geotiff
    from geoperc.inference.export import check_writable
    from geoperc.io.raster import open_raster
    if args.trust_checkpoint:
        trust_checkpoints(True)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    _init_dist(args.launcher, device)
    if device.startswith('cuda') and args.launcher != 'none':
        device = f'cuda:{torch.cuda.current_device()}'
    for path in args.inputs:  # fail fast on a bad input or output, before building the model
        open_raster(path).close()
    check_writable(args.out)
    ckpt = None if args.checkpoint.lower() in ('none', '-', '') else args.checkpoint
    model = build_model(args.config, ckpt, device=device, cfg_options=args.cfg_options)
    result = infer_geotiff(model, args.inputs, args.out, tile=args.tile, overlap=args.overlap,
                           batch_size=args.batch_size, output=args.output, cog=args.cog, resume=args.resume,
                           blend=args.blend, progress=not args.no_progress, vector_out=args.vector_out,
                           block=args.block, compress=args.compress, num_threads=args.threads,
                           model_workers=args.model_workers, bands=args.bands)
    if get_rank() == 0:
        path = result.get('raster') or result.get('vector')
        print(f'wrote {path} ({result["stats"]["tiles_run"]}/{result["stats"]["tiles_total"]} windows run)')
    return 0


def main(argv: Optional[List[str]] = None, prog: Optional[str] = 'geoperc infer') -> int:
    """Parse ``argv`` and run tiled inference; returns the exit code (0 ok, 2 user error, 130 Ctrl-C)."""
    args = build_parser(prog).parse_args(argv)
    hint = 'rerun the same command with --resume to continue from the rows finished so far'
    return run(lambda _: _infer(args), None, prog=prog, resume_hint=hint)


if __name__ == '__main__':
    sys.exit(main())
