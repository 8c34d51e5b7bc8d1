"""Train / test entry points on MMEngine's ``Runner`` (mmdet-style, thin). ``tools/train.py``,
``tools/test.py`` and the ``geoperc train|test`` console command all call these."""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction


def _common(p: argparse.ArgumentParser):
    p.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config>)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override config settings, key=value (e.g. train_cfg.max_iters=10)')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='job launcher: pytorch under torchrun, slurm under srun')
    p.add_argument('--trust-checkpoint', action='store_true',
                   help='allow loading checkpoints that are full pickles (only for files you trust)')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def _load_cfg(args) -> Config:
    from geoperc.engine.checkpoint import install_safe_loader, trust_checkpoints
    if not osp.isfile(args.config):
        raise SystemExit(f'error: {args.config}: config file not found')
    install_safe_loader()
    if args.trust_checkpoint:
        trust_checkpoints(True)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher != 'none':
        _cpu_distributed(cfg, args.launcher)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def _cpu_distributed(cfg: Config, launcher: str):
    """Multi-process training without GPUs (CI, CPU clusters): MMEngine 0.10 always calls
    ``torch.cuda.set_device`` and wraps DDP with ``device_ids=[LOCAL_RANK]``; on CPU we initialise a gloo
    process group ourselves (MMEngine then skips its own init) and wrap with ``device_ids=None``."""
    import torch
    if torch.cuda.is_available():
        return
    import torch.distributed as dist
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if launcher == 'pytorch' and not dist.is_initialized():
        print('geoperc: no GPU here, training on CPU processes with the gloo backend', file=sys.stderr)
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))


def _build_runner(cfg: Config):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def train(argv=None):
    p = argparse.ArgumentParser(prog='geoperc train', description='Train a model from a config.')
    p.add_argument('config', help='path to a pure-Python config')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from CKPT, or from the latest checkpoint in the work dir if no path')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU only)')
    _common(p)
    args = p.parse_args(argv)
    cfg = _load_cfg(args)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('error: --amp needs a GPU (MMEngine AmpOptimWrapper); none is available')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    runner = _build_runner(cfg)
    runner.train()
    _finish_distributed()
    return runner


def _finish_distributed():
    """Tear the process group down before exit (gloo aborts at interpreter exit otherwise)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def test(argv=None):
    p = argparse.ArgumentParser(prog='geoperc test', description='Evaluate a checkpoint on a config\'s test set.')
    p.add_argument('config', help='path to a pure-Python config')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out', help='dump the raw predictions to this .pkl file')
    _common(p)
    args = p.parse_args(argv)
    cfg = _load_cfg(args)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: {args.checkpoint}: checkpoint file not found')
    cfg.load_from = args.checkpoint
    runner = _build_runner(cfg)
    if args.out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    _finish_distributed()
    return metrics


if __name__ == '__main__':  # pragma: no cover
    train(sys.argv[1:])
