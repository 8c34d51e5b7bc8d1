"""data_prep/semantic_kitti/prepare.py on a generated release copy: the check finds missing files, the 1:1 and
1:2 targets written equal the reader's target and its majority-rule down-sampling, VP files are written."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np

from geoperc.io.semantic_kitti import downsample_label
from geoperc.testing.formats3d import write_ssc_street

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _prepare():
    spec = importlib.util.spec_from_file_location('sk_prepare', osp.join(ROOT, 'data_prep', 'semantic_kitti', 'prepare.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_prepare(tmp_path, capsys):
    root = str(tmp_path / 'sk')
    truth = write_ssc_street(root, {'00': 2}, seed=3)
    main = _prepare()
    labels = str(tmp_path / 'labels')
    vps = str(tmp_path / 'vps')
    assert main([root, '--sequences', '00', '--grid', '32', '32', '8', '--labels', labels,
                 '--vanishing-points', vps]) == 0
    for fid in ('000000', '000001'):
        t11 = np.load(osp.join(labels, '00', fid + '_1_1.npy'))
        assert np.array_equal(t11, truth['targets'][('00', fid)])
        assert np.array_equal(np.load(osp.join(labels, '00', fid + '_1_2.npy')), downsample_label(t11, 2))
    data = json.load(open(osp.join(vps, 'seq_00.json')))
    assert sorted(data) == [f'SemanticKITTI/dataset/sequences/00/image_2/00000{i}.png' for i in (0, 1)]
    os.remove(osp.join(root, 'sequences', '00', 'voxels', '000001.invalid'))
    assert main([root, '--sequences', '00', '--grid', '32', '32', '8', '--check-only']) == 1
    assert '000001.invalid: missing' in capsys.readouterr().out
