"""Interruption (a real SIGKILL) + resume gives a bitwise-identical file; resume refuses other settings."""
import glob
import os
import signal
import time

import pytest
import torch

from geoperc.inference import InferenceError, infer_geotiff
from geoperc.testing.models import IdentityDenseModel, TinyConvSegModel

from crash_run import INFER_KW, make_model
from infer_data import run_py, scene_array, sha256, write_raster

HERE = os.path.dirname(os.path.abspath(__file__))


def _wait_rows(out, n, timeout=20):
    deadline = time.time() + timeout
    while len(glob.glob(os.path.join(out + '.partial', 'rows', 'r*.npy'))) < n and time.time() < deadline:
        time.sleep(0.02)


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    m = TinyConvSegModel(in_channels=3, num_classes=3, width=8)
    path = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=m.state_dict(), meta={}), path)
    return path


def test_sigkill_then_resume_is_bitwise_identical(tmp_path, ckpt):
    path = write_raster(str(tmp_path / 'tall.tif'), scene_array(7, h=700, w=200))  # 7 x 3 windows, 11 rows
    ref = str(tmp_path / 'ref.tif')
    infer_geotiff(make_model(ckpt), [path], ref, **INFER_KW)

    out = str(tmp_path / 'out.tif')
    proc = run_py([os.path.join(HERE, 'crash_run.py'), path, out, ckpt, '6', '3'], cwd=HERE)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert not os.path.exists(out)                                   # no half-written output
    done = glob.glob(os.path.join(out + '.partial', 'rows', 'r*.npy'))
    assert 3 <= len(done) < 11                                       # killed part-way, some rows saved

    res = infer_geotiff(make_model(ckpt), [path], out, resume=True, **INFER_KW)
    st = res['stats']
    assert st['rows_resumed'] == len(done) and st['tiles_run'] < st['tiles_total']
    assert sha256(out) == sha256(ref)
    assert not os.path.exists(out + '.partial')


def test_resume_refuses_changed_settings_and_restarts_without_flag(tmp_path, scene):
    path, _ = scene
    out = str(tmp_path / 'o.tif')

    class Boom(IdentityDenseModel):
        n, crash = 0, True

        def predict_dense(self, inputs):
            Boom.n += 1
            if Boom.crash and Boom.n == 8:
                _wait_rows(Boom.out, 1)
                raise KeyboardInterrupt  # a Ctrl-C mid-run
            return super().predict_dense(inputs)

    kw = dict(tile=128, overlap=32, batch_size=2, block=64, progress=False)
    Boom.out = out
    with pytest.raises(KeyboardInterrupt):
        infer_geotiff(Boom().eval(), [path], out, **kw)
    assert os.path.isdir(out + '.partial') and not os.path.exists(out)
    with pytest.raises(InferenceError, match=r"different \['blend'\]"):
        infer_geotiff(Boom().eval(), [path], out, resume=True, blend='linear', **kw)
    with pytest.raises(InferenceError, match=r"different \['model'\]"):
        infer_geotiff(IdentityDenseModel().eval(), [path], out, resume=True, **kw)
    Boom.crash = False
    res = infer_geotiff(Boom().eval(), [path], out, resume=True, **kw)
    assert res['stats']['rows_resumed'] >= 1
    ref = str(tmp_path / 'ref.tif')
    infer_geotiff(Boom().eval(), [path], ref, **kw)
    assert sha256(out) == sha256(ref)
    # without --resume an old partial folder is discarded and everything runs again
    Boom.n, Boom.crash, Boom.out = 0, True, str(tmp_path / 'p.tif')
    with pytest.raises(KeyboardInterrupt):
        infer_geotiff(Boom().eval(), [path], str(tmp_path / 'p.tif'), **kw)
    Boom.crash = False
    res = infer_geotiff(Boom().eval(), [path], str(tmp_path / 'p.tif'), **kw)
    assert res['stats']['tiles_run'] == res['stats']['tiles_total']
