"""tools/infer_geotiff.py: errors -> message + exit 2 + no output; torchrun with 2 ranks == 1 process."""
import os

import pytest
import rasterio
import torch

from infer_data import scene_array, write_raster

from geoperc.cli.infer import main

from infer_data import ROOT, run_py, sha256, wait_rows

TOOL = os.path.join(ROOT, 'tools', 'infer_geotiff.py')
CONFIG = """from geoperc.testing.models import TinyConvSegModel
from geoperc.models.data_preprocessors.geo_preprocessor import GeoDataPreprocessor

model = dict(type=TinyConvSegModel, in_channels=3, num_classes=3, width=8,
             data_preprocessor=dict(type=GeoDataPreprocessor, mean=[128.] * 3, std=[64.] * 3))
"""


@pytest.fixture
def cfg_ckpt(tmp_path):
    cfg = tmp_path / 'tiny_cfg.py'
    cfg.write_text(CONFIG)
    torch.manual_seed(1)
    from geoperc.testing.models import TinyConvSegModel
    m = TinyConvSegModel(in_channels=3, num_classes=3, width=8)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=m.state_dict(), meta=dict(dataset_meta=dict(classes=['a', 'b', 'c']))), ckpt)
    return str(cfg), ckpt


def test_geoperc_infer_command_dispatches_here():
    from geoperc.cli import COMMANDS
    assert COMMANDS['infer'] == ('geoperc.cli.infer', 'main')


def test_cli_subprocess_bad_input_exit_2(tmp_path, cfg_ckpt):
    cfg, ckpt = cfg_ckpt
    out = str(tmp_path / 'out.tif')
    p = run_py([TOOL, cfg, ckpt, str(tmp_path / 'missing.tif'), '--out', out, '--no-progress'], timeout=120)
    assert p.returncode == 2
    assert 'missing.tif: file not found' in p.stderr and 'Traceback' not in p.stderr
    assert p.stderr.startswith('infer_geotiff.py: error: ') and len(p.stderr.strip().splitlines()) == 1
    assert not os.path.exists(out)
    assert not any(n.startswith('.') or 'out.tif' in n for n in os.listdir(tmp_path))


def test_cli_in_process_errors(tmp_path, cfg_ckpt, scene, capsys):
    cfg, ckpt = cfg_ckpt
    path, _ = scene
    out = str(tmp_path / 'o.tif')
    cases = [([str(tmp_path / 'nocfg.py'), ckpt, path], 'nocfg.py: config file not found'),
             ([cfg, str(tmp_path / 'no.pth'), path], 'no.pth: checkpoint file not found'),
             ([cfg, ckpt, path, '--cfg-options', 'model.in_channels=4'], 'tiny.pth: weights do not fit the model of'),
             ([cfg, 'none', path, '--cfg-options', 'model.in_channels=4', 'model.data_preprocessor.mean=[1.,2.,3.,4.]',
               'model.data_preprocessor.std=[1.,1.,1.,1.]'], 'scene.tif: has 3 bands per date but the model expects 4'),
             ([cfg, ckpt, path, '--compress', 'jpeg'], '--compress jpeg: a lossy codec'),
             ([cfg, ckpt, path, '--compress', 'nosuchcodec'], "--compress nosuchcodec: GDAL's GTiff driver cannot"),
             ([cfg, ckpt, path, '--tile', '0'], 'tile size must be positive')]
    for args, msg in cases:
        assert main(args + ['--out', out, '--no-progress']) == 2, args
        err = capsys.readouterr().err
        assert err.startswith('geoperc infer: error: ') and msg in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert not os.path.exists(out) and not os.path.exists(out + '.partial')


def test_ctrl_c_says_how_to_resume_and_resume_finishes(tmp_path, cfg_ckpt, monkeypatch, capsys):
    import geoperc.inference as inference
    cfg, ckpt = cfg_ckpt
    path = write_raster(str(tmp_path / 'tall.tif'), scene_array(7, h=500, w=200))
    out = str(tmp_path / 'o.tif')
    common = [cfg, ckpt, path, '--out', out, '--tile', '128', '--overlap', '32', '--block', '64',
              '--batch-size', '1', '--no-progress']
    ref = str(tmp_path / 'ref.tif')
    assert main(common[:4] + [ref] + common[5:]) == 0
    build = inference.build_model

    def interrupted(*a, **k):
        m = build(*a, **k)
        orig, calls = m.predict_dense, [0]

        def predict_dense(x):
            calls[0] += 1
            if calls[0] == 6:
                wait_rows(out, 1)
                raise KeyboardInterrupt
            return orig(x)
        m.predict_dense = predict_dense
        return m

    monkeypatch.setattr(inference, 'build_model', interrupted)
    capsys.readouterr()
    assert main(common) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'interrupted' in err and '--resume' in err, err
    assert os.path.isdir(out + '.partial') and not os.path.exists(out)
    monkeypatch.setattr(inference, 'build_model', build)
    assert main(common + ['--resume']) == 0
    assert sha256(out) == sha256(ref) and not os.path.exists(out + '.partial')


def test_cli_loads_checkpoint(tmp_path, cfg_ckpt, scene):
    cfg, ckpt = cfg_ckpt
    path, _ = scene
    a, b = str(tmp_path / 'a.tif'), str(tmp_path / 'b.tif')
    common = ['--tile', '128', '--overlap', '32', '--block', '64', '--output', 'probs', '--no-progress']
    assert main([cfg, ckpt, path, '--out', a] + common) == 0
    assert main([cfg, 'none', path, '--out', b] + common) == 0   # initial weights: a different result
    with rasterio.open(a) as x, rasterio.open(b) as y:
        assert x.count == 3 and (x.read() != y.read()).any()


def test_torchrun_two_ranks_equal_one_process(tmp_path, cfg_ckpt, scene):
    cfg, ckpt = cfg_ckpt
    path, _ = scene
    common = ['--tile', '128', '--overlap', '32', '--block', '64', '--batch-size', '2', '--output', 'probs',
              '--no-progress']
    ref = str(tmp_path / 'ref.tif')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # torchrun runs each rank with OMP_NUM_THREADS=1: same kernels, same bits
    try:
        assert main([cfg, ckpt, path, '--out', ref] + common) == 0
    finally:
        torch.set_num_threads(threads)
    out = str(tmp_path / 'dist.tif')
    p = run_py(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', TOOL, cfg, ckpt, path,
                '--out', out, '--launcher', 'pytorch'] + common, timeout=180, env=dict(OMP_NUM_THREADS='1'))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert 'rank 0 of 2' in p.stdout + p.stderr
    # rank 0 produced only the first half of the rows; the rest came from rank 1 through the partial folder
    assert sha256(out) == sha256(ref)
    assert not os.path.exists(out + '.partial')
