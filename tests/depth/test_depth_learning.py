"""The tiny OmniFusion config learns generated rooms through the MMEngine runner (slow: minutes)."""
import os.path as osp

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

CONFIG = osp.join(ROOT, 'configs', 'depth', 'omnifusion', 'omnifusion_tiny_1xb4_400it_synth_rooms.py')


def _abs_rel(model, loader, **kw):
    from geoperc.evaluation.functional import aggregate_depth_errors, depth_errors
    groups = []
    model.eval()
    with torch.no_grad():
        for batch in loader:
            out = model.test_step(batch)
            pred = np.stack([s.pred_depth.data.numpy() for s in out])
            gt = np.stack([s.gt_depth.data.numpy() for s in out])
            valid = np.stack([s.depth_valid.data.numpy() for s in out])
            groups.append(depth_errors(pred, gt, valid, 'omnifusion', **kw))
    return aggregate_depth_errors(groups, 'omnifusion')['abs_rel']


@pytest.mark.slow
def test_tiny_omnifusion_learns_rooms(tmp_path):
    from geoperc.demos.depth import _train
    from geoperc.testing.formats3d import write_box_rooms_stanford2d3d
    data = str(tmp_path / 'rooms')
    write_box_rooms_stanford2d3d(data, areas=('area_1',), per_area=32, seed=0)
    write_box_rooms_stanford2d3d(data, areas=('area_5a',), per_area=6, seed=1)
    torch.manual_seed(0)
    runner = _train(CONFIG, str(tmp_path / 'work'), {'data_root': data, 'train_cfg.max_iters': 300,
                                                       'train_cfg.val_interval': 300})
    model = runner.model
    trained = _abs_rel(model, runner.test_dataloader)
    # an untrained model of the same config, for comparison
    from geoperc.registry import MODELS
    torch.manual_seed(0)
    fresh = MODELS.build(runner.cfg.model)
    fresh.init_weights()
    untrained = _abs_rel(fresh, runner.test_dataloader)
    assert trained <= 0.15, (trained, untrained)
    assert trained < 0.6 * untrained
