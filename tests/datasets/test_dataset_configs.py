"""Every dataset config under configs/_base_/datasets builds its dataloaders and evaluator (classes, not
strings) and yields batches from a generated tiny copy of its layout, moved there by the one setting
``data_root``; its band statistics (``data_preprocessor``) have one value per band of its data."""
import glob
import os.path as osp

import pytest
import torch

from geoperc.testing import datasets as gen
from geoperc.testing import make_change_scene
from tests.conftest import ROOT

ALL = sorted(glob.glob(osp.join(ROOT, 'configs', '_base_', 'datasets', '*.py')))
S = {'train': 2, 'val': 2, 'test': 2}
WRITERS = {
    'levircd': lambda r: gen.write_levircd(r, S, size=96),
    'cdd': lambda r: gen.write_cdd(r, S, size=96),  # the archive's top folder
    'clcd': lambda r: gen.write_clcd(r, S, size=96),
    's2looking': lambda r: gen.write_s2looking(r, S, size=96, label='split'),
    'gzcd': lambda r: gen.write_gzcd(r, S, size=96),
    'change_folder': lambda r: gen.write_levircd(r, S, size=96),  # the common A/B/label layout
    'synth_change': lambda r: make_change_scene(r, size=(128, 160), seed=0) and r,
}


CONFIGS = [p for p in ALL if osp.splitext(osp.basename(p))[0] in set(WRITERS) | {'geotiff_pair'}]


def test_every_change_dataset_config_is_covered():
    """Every dataset base of a change dataset class is tested below."""
    from mmengine.config import Config

    from geoperc.datasets.change import FolderChangeDataset, GeoTIFFChangeDataset
    names = {osp.splitext(osp.basename(p))[0] for p in CONFIGS}
    assert names >= {'levircd', 'cdd', 'clcd', 's2looking', 'gzcd', 'geotiff_pair', 'change_folder'}
    for p in set(ALL) - set(CONFIGS):
        t = Config.fromfile(p).train_dataloader.dataset.type
        assert not (isinstance(t, type) and issubclass(t, (FolderChangeDataset, GeoTIFFChangeDataset))), p


def test_change_bases_share_one_common_file():
    """The folder-layout bases only state what is their own: at most a handful of lines each."""
    for name in ('levircd', 'cdd', 'clcd', 's2looking', 'gzcd'):
        text = open(osp.join(ROOT, 'configs', '_base_', 'datasets', f'{name}.py')).read()
        code = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith('#')]
        assert 'from .change_folder import *' in text and len(code) <= 12, (name, len(code))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_dataset_config_yields_batches(path, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from geoperc.registry import METRICS
    from geoperc.runner import apply_data_root
    name = osp.splitext(osp.basename(path))[0]
    cfg = Config.fromfile(path)
    assert all(dl.dataset.data_root == cfg.data_root for dl in (cfg.train_dataloader, cfg.val_dataloader,
                                                                 cfg.test_dataloader)), name
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
        bands = 3
    else:  # the one setting: --cfg-options data_root=ROOT
        old = cfg.data_root
        cfg.merge_from_dict(dict(data_root=WRITERS[name](str(tmp_path))))
        apply_data_root(cfg, old)
        loaders = [cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader]
        assert all(dl.dataset.data_root == cfg.data_root for dl in loaders)
        bands = 4 if name == 'synth_change' else 3
    assert len(cfg.data_preprocessor['mean']) == len(cfg.data_preprocessor['std']) == bands
    with DefaultScope.overwrite_default_scope('geoperc'):
        for dl in loaders:
            dl = dict(dl, num_workers=0, persistent_workers=False, batch_size=2)
            batch = next(iter(Runner.build_dataloader(dl, seed=0)))
            assert len(batch['inputs']) == 2
            for x, s in zip(batch['inputs'], batch['data_samples']):
                assert x.dim() == 4 and x.shape[:2] == (2, bands) and x.dtype == torch.uint8
                assert s.gt_sem_seg.data.shape == (1,) + tuple(x.shape[-2:])
                assert set(s.gt_sem_seg.data.unique().tolist()) <= {0, 1, 255}
        for ev in (cfg.val_evaluator, cfg.test_evaluator):
            assert isinstance(ev['type'], type)
            METRICS.build(ev)
