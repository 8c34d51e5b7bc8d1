"""``infer_geotiff`` command line: ``CONFIG CHECKPOINT INPUT [INPUT2 ...] --out OUT [options]``.

Thin on purpose: argument parsing, the distributed launcher, and turning user errors (a missing or bad
input, an unwritable output, a config or checkpoint problem) into one line ``error: <file>: <problem>``
on stderr and exit code 2, with no output file. Exposed as ``tools/infer_geotiff.py`` and ``geoperc infer``.
"""
import argparse
import os
import pickle
import sys
from typing import List, Optional

__all__ = ['main', 'build_parser']

EXIT_USER_ERROR = 2


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
    p.add_argument('--compress', default='deflate', help='GeoTIFF compression (deflate, zstd, lzw)')
    p.add_argument('--cog', action='store_true', help='write a Cloud Optimized GeoTIFF')
    p.add_argument('--resume', action='store_true', help='continue an interrupted run from OUT.partial/')
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
    if launcher == 'none':
        return
    if device.startswith('cuda') and torch.cuda.is_available():
        from mmengine.dist import init_dist
        init_dist(launcher, backend='nccl')
        return
    if launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher} on CPU is not supported; use torchrun with --launcher pytorch')
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def main(argv: Optional[List[str]] = None, prog: Optional[str] = 'geoperc infer') -> int:
    """Parse ``argv``, run tiled inference; returns the exit code (0 ok, 2 user error)."""
    args = build_parser(prog).parse_args(argv)
    from geoperc.engine.checkpoint import trust_checkpoints
    from geoperc.inference.export import check_writable
    from geoperc.io.raster import RasterError, open_raster
    from geoperc.inference.tiled import InferenceError, build_model, infer_geotiff
    import torch
    if args.trust_checkpoint:
        trust_checkpoints(True)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    try:
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
                               block=args.block, compress=args.compress)
    except (RasterError, InferenceError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError, pickle.UnpicklingError, ValueError, OSError) as e:
        if os.environ.get('GEOPERC_DEBUG'):
            raise
        print(f'error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR
    from mmengine.dist import get_rank
    if get_rank() == 0:
        path = result.get('raster') or result.get('vector')
        print(f'wrote {path} ({result["stats"]["tiles_run"]}/{result["stats"]["tiles_total"]} windows run)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
