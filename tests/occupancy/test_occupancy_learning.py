"""The tiny VPOcc learns the generated street-scene task through geoperc.runner.train (SC IoU on the training
frames >= 0.5; slow)."""
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'occupancy', 'vpocc', 'vpocc_tiny_1xb2_synth.py')


@pytest.mark.slow
def test_tiny_vpocc_learns(tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from geoperc.evaluation.functional import ssc_confusion, ssc_metrics_from_confusion
    from geoperc.testing.formats3d import write_ssc_street
    data = str(tmp_path / 'synth_ssc')
    write_ssc_street(data, {"00": 6}, seed=0)
    cfg = Config.fromfile(CFG)
    cfg.work_dir = str(tmp_path / 'work')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key]['dataset']
        ds['data_root'] = data
        ds['vp_root'] = data + '/vanishing_points'
        ds['sequences'] = ['00']
        for t in ds['pipeline']:
            if 'depth_root' in t:
                t['depth_root'] = data + '/depth'
    cfg.train_cfg.max_iters = 60
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model.eval()
    cm = 0
    with torch.no_grad():
        for batch in runner.test_dataloader:
            out = model.test_step(batch)
            for s in out:
                cm = cm + ssc_confusion(s.pred_occ.data.numpy(), s.gt_occ.data.numpy(), 20)
    m = ssc_metrics_from_confusion(np.asarray(cm))
    print('tiny VPOcc train-frame SC IoU', m['completion_iou'], 'mIoU', m['miou'])
    assert m['completion_iou'] >= 0.5
