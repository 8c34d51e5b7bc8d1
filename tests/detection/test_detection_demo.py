"""``geoperc demo --task detection`` end to end with a short training (the full demo trains 400 iterations)."""
import os.path as osp

import pytest


@pytest.mark.slow
def test_detection_demo_writes_every_output(tmp_path, capsys):
    from geoperc.demos.detection import main
    assert main(['--out', str(tmp_path), '--iters', '20']) == 0
    out = capsys.readouterr().out
    for name in ('detections.gpkg', 'submission/Task1_ship.txt', 'submission/Task1.zip',
                 'scene/images/scene.tif', 'scene/reference.gpkg', 'train/iter_20.pth'):
        assert osp.isfile(tmp_path / name), name
        assert str(tmp_path) in out
    assert 'scene, merged patches  AP50' in out
    import pyogrio
    info = pyogrio.read_info(str(tmp_path / 'detections.gpkg'))
    assert info['crs'].endswith('32632') and {'class', 'score', 'label'} <= set(info['fields'])
