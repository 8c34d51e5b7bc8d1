"""Every dataset config under configs/_base_/datasets builds its dataloaders and evaluator (classes, not
strings) and yields batches from a generated tiny copy of its layout."""
import glob
import os.path as osp

import pytest
import torch

from geoperc.testing import datasets as gen
from geoperc.testing import make_change_scene
from tests.conftest import ROOT

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '_base_', 'datasets', '*.py')))
S = {'train': 2, 'val': 2, 'test': 2}
WRITERS = {
    'levircd': lambda r: gen.write_levircd(r, S, size=96),
    'cdd': lambda r: gen.write_cdd(r, S, size=96),  # the archive's top folder
    'clcd': lambda r: gen.write_clcd(r, S, size=96),
    's2looking': lambda r: gen.write_s2looking(r, S, size=96, label='split'),
    'gzcd': lambda r: gen.write_gzcd(r, S, size=96),
}


def test_every_dataset_config_is_covered():
    names = {osp.splitext(osp.basename(p))[0] for p in CONFIGS}
    assert names >= {'levircd', 'cdd', 'clcd', 's2looking', 'gzcd', 'geotiff_pair'}
    assert names <= set(WRITERS) | {'geotiff_pair'}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_dataset_config_yields_batches(path, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from geoperc.registry import METRICS
    name = osp.splitext(osp.basename(path))[0]
    cfg = Config.fromfile(path)
    loaders = [cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader]
    for dl in loaders:
        assert isinstance(dl.dataset.type, type) and callable(dl.collate_fn['type'])
        assert all(isinstance(t['type'], type) for t in dl.dataset.pipeline)
    assert 'val' in str(cfg.val_dataloader.dataset.get('split', 'val'))  # we validate on val, not test
    if name == 'geotiff_pair':
        scene = make_change_scene(str(tmp_path), size=(160, 200), bands=3)
        pairs = [dict(a=scene.date1, b=scene.date2, label=scene.label)]
        for dl in loaders:
            dl.dataset.pairs = pairs
            dl.dataset.tile = 64
            dl.dataset.overlap = 0 if dl.dataset.get('test_mode') else 32
    else:
        root = WRITERS[name](str(tmp_path))
        for dl in loaders:
            dl.dataset.data_root = root
    with DefaultScope.overwrite_default_scope('geoperc'):
        for dl in loaders:
            dl = dict(dl, num_workers=0, persistent_workers=False, batch_size=2)
            batch = next(iter(Runner.build_dataloader(dl, seed=0)))
            assert len(batch['inputs']) == 2
            for x, s in zip(batch['inputs'], batch['data_samples']):
                assert x.dim() == 4 and x.shape[:2] == (2, 3) and x.dtype == torch.uint8
                assert s.gt_sem_seg.data.shape == (1,) + tuple(x.shape[-2:])
                assert set(s.gt_sem_seg.data.unique().tolist()) <= {0, 1, 255}
        for ev in (cfg.val_evaluator, cfg.test_evaluator):
            assert isinstance(ev['type'], type)
            METRICS.build(ev)
