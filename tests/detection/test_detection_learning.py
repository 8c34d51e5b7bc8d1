"""The tiny rotated DETR learns generated rotated rectangles through the MMEngine runner, and the data
tools around it work end to end."""
import os
import os.path as osp
import re

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs', 'detection', 'ars_detr', 'ars_detr_tiny_1xb4_2k_synth.py')


def test_dior_subset_is_reproducible(tmp_path):
    import importlib.util
    path = osp.join(ROOT, 'data_prep', 'dior_r', 'make_subset.py')
    spec = importlib.util.spec_from_file_location('make_subset', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sets = tmp_path / 'ImageSets' / 'Main'
    sets.mkdir(parents=True)
    (sets / 'trainval.txt').write_text('\n'.join(f'{i:05d}' for i in range(1, 11726)) + '\n')
    assert mod.main([str(tmp_path), '--fraction', '0.1', '--seed', '0']) == 0
    ids = (sets / 'trainval_10pct_seed0.txt').read_text().split()
    assert len(ids) == 1172 and ids == sorted(ids) and len(set(ids)) == 1172
    assert ids == mod.subset_ids([f'{i:05d}' for i in range(1, 11726)], 0.1, 0)
    assert ids != mod.subset_ids([f'{i:05d}' for i in range(1, 11726)], 0.1, 1)


@pytest.mark.slow
def test_tiny_detector_learns_rotated_rectangles(tmp_path):
    import torch
    torch.set_num_threads(1)
    from geoperc.datasets.detection.synth import make_dota_synth
    from geoperc.runner import train
    make_dota_synth(str(tmp_path / 'data'), splits=(('train', 64), ('val', 16)), size=128, seed=0)
    iters = 400
    runner = train(TINY, work_dir=str(tmp_path / 'wd'),
                   cfg_options={'data_root': str(tmp_path / 'data'), 'train_cfg.max_iters': iters,
                                'train_cfg.val_interval': iters + 1, 'param_scheduler.1.milestones': [320],
                                'default_hooks.checkpoint.interval': iters})
    metrics = runner.val_loop.run()
    log = open(osp.join(runner.log_dir, f'{osp.basename(runner.log_dir)}.log')).read()
    losses = [float(v) for v in re.findall(r'\] +base_lr.*? loss: ([0-9.]+)', log)]
    assert losses[-1] < 0.6 * losses[0], losses
    assert metrics['rotated/AP50'] >= 50.0, metrics
