"""What a new user hits in the first hour of train / test (issue 13, cases 6-8).

* ``--cfg-options data_root=PATH`` is the one setting: train, val and test read PATH (through
  ``tools/train.py``);
* unknown ``--cfg-options`` keys, top level and nested, are refused with the closest valid name, exit 2;
* user errors (missing config, data_root or checkpoint, a band-count mismatch) end in one line on stderr
  and exit 2, with no traceback.
"""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DEMO = os.path.join(ROOT, 'configs', 'demo', 'fsgnet_r18_tiny_demo_scene.py')
LEVIR = os.path.join(ROOT, 'configs', '_base_', 'datasets', 'levircd.py')
FAST = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=2']


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    """The demo's data layout: scene_train/ and scene_test/ below one data_root."""
    from geoperc.testing import make_change_scene
    root = tmp_path_factory.mktemp('demo_data')
    make_change_scene(str(root / 'scene_train'), size=(96, 96), seed=1)
    make_change_scene(str(root / 'scene_test'), size=(64, 96), seed=2)
    return str(root)


def _run(main, argv, capsys, prog='geoperc train'):
    """``main`` under the CLI convention; returns (exit status, stderr). Streams of our own that stay open:
    MMEngine's loggers keep the stdout they were created with beyond the test."""
    import contextlib
    import io

    from geoperc.cli.common import run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(main, argv, prog=prog)
    return code, err.getvalue()


def _one_line_error(err, *words):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines and 'Traceback' not in err, err[-2000:]
    assert ': error: ' in lines[-1], err[-2000:]
    for w in words:
        assert w in lines[-1], lines[-1]
    return lines[-1]


# -- 6: data_root is the one setting -----------------------------------------------------------------
def test_data_root_option_moves_train_val_and_test():
    from mmengine.config import Config

    from geoperc.runner import apply_data_root, check_cfg_options
    cfg = Config.fromfile(LEVIR)
    old = cfg.data_root
    opts = {'data_root': '/somewhere/LEVIR-CD', 'test_dataloader.dataset.data_root': '/crops'}
    check_cfg_options(cfg, opts, LEVIR)
    cfg.merge_from_dict(opts)
    apply_data_root(cfg, old)
    assert cfg.train_dataloader.dataset.data_root == '/somewhere/LEVIR-CD'
    assert cfg.val_dataloader.dataset.data_root == '/somewhere/LEVIR-CD'
    assert cfg.test_dataloader.dataset.data_root == '/crops'  # an explicit loader setting still wins


def test_tools_train_with_one_data_root(demo_root, tmp_path):
    """Before: val/test stayed on demo_output and the run failed; now one option moves all three."""
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), DEMO, '--work-dir', str(work),
                        '--cfg-options', f'data_root={demo_root}', *FAST],
                       capture_output=True, text=True, timeout=600, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert (work / 'iter_2.pth').exists()
    dumped = open(work / os.path.basename(DEMO)).read()
    assert dumped.count(repr(demo_root)) >= 2 and "'demo_output'" not in dumped  # train and val/test
    assert 'change/change_f1' in r.stdout + r.stderr  # validation ran on the held-out scene


# -- 7: unknown keys -------------------------------------------------------------------------------------
@pytest.mark.parametrize('key,expect', [
    ('trian_cfg.max_iters', "'train_cfg'"),                    # top level (was silently ignored)
    ('train_cfg.max_itres', "'max_iters'"),                    # an argument of the loop class (TypeError)
    ('model.backbone.depht', "'depth'"),                       # an argument of mmdet's ResNet
    ('optim_wrapper.optimizer.lrr', "'lr'"),                   # torch AdamW
    ('train_dataloader.batch_sise', "'batch_size'"),           # an untyped loader dict
    ('default_hooks.checkpoint.intervall', "'interval'"),      # CheckpointHook
    ('default_hooks.chekpoint.interval', "'checkpoint'"),      # free-form dict: one edit from a hook name
])
def test_unknown_cfg_option_is_refused_with_the_closest_name(key, expect):
    from mmengine.config import Config

    from geoperc.errors import SettingsError
    from geoperc.runner import check_cfg_options
    cfg = Config.fromfile(DEMO)
    with pytest.raises(SettingsError, match='did you mean ' + expect):
        check_cfg_options(cfg, {key: 2}, DEMO)


@pytest.mark.parametrize('key', ['train_cfg.max_iters', 'data_root', 'model.backbone.frozen_stages',
                                 'train_dataloader.pin_memory', 'default_hooks.logger.interval',
                                 'custom_hooks.0.priority', 'work_dir', 'model.data_preprocessor.mean',
                                 'env_cfg.dist_cfg.timeout'])
def test_valid_cfg_options_pass(key):
    from mmengine.config import Config

    from geoperc.runner import check_cfg_options
    check_cfg_options(Config.fromfile(DEMO), {key: 1}, DEMO)


def test_unknown_key_exits_2_in_one_line(capsys):
    from geoperc.cli.train import main
    code, err = _run(main, [DEMO, '--cfg-options', 'trian_cfg.max_iters=2'], capsys)
    assert code == 2
    _one_line_error(err, 'trian_cfg', "did you mean 'train_cfg'")


# -- 8: user errors end in one line, exit 2 --------------------------------------------------------------
def test_missing_config(capsys, tmp_path):
    from geoperc.cli.train import main
    code, err = _run(main, [str(tmp_path / 'nope.py')], capsys)
    assert code == 2
    _one_line_error(err, 'nope.py', 'config file not found')


def test_missing_data_root(capsys, tmp_path):
    from geoperc.cli.train import main
    code, err = _run(main, [DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                            f'data_root={tmp_path / "absent"}'], capsys)
    assert code == 2
    _one_line_error(err, 'absent', 'data_root=PATH')


def test_missing_checkpoint(capsys, tmp_path, demo_root):
    from geoperc.cli.test import main
    code, err = _run(main, [DEMO, str(tmp_path / 'missing.pth'), '--work-dir', str(tmp_path / 'w'),
                            '--cfg-options', f'data_root={demo_root}'], capsys, prog='geoperc test')
    assert code == 2
    _one_line_error(err, 'missing.pth', 'checkpoint file not found')


def test_resume_from_missing_checkpoint(capsys, tmp_path, demo_root):
    from geoperc.cli.train import main
    code, err = _run(main, [DEMO, '--resume', str(tmp_path / 'gone.pth'), '--cfg-options',
                            f'data_root={demo_root}'], capsys)
    assert code == 2
    _one_line_error(err, 'gone.pth')


def test_band_count_mismatch(capsys, tmp_path):
    """A 3-band scene fed to the demo's 4-band model: one line naming the file, exit 2."""
    from geoperc.cli.train import main
    from geoperc.testing import make_change_scene
    for split in ('scene_train', 'scene_test'):
        make_change_scene(str(tmp_path / split), size=(96, 96), seed=4, bands=3)
    code, err = _run(main, [DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                            f'data_root={tmp_path}', *FAST], capsys)
    assert code == 2
    _one_line_error(err, 'date1.tif', '3 bands')


def test_unreadable_checkpoint(capsys, tmp_path, demo_root):
    from geoperc.cli.test import main
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(b'PK\x03\x04 not really a checkpoint')
    code, err = _run(main, [DEMO, str(bad), '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                            f'data_root={demo_root}'], capsys, prog='geoperc test')
    assert code == 2
    _one_line_error(err, 'truncated.pth')
