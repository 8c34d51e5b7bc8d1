"""train -> SIGKILL -> --resume continues from the last checkpoint and reaches the same weights as an
uninterrupted run (CPU, fixed seed); 2-process (gloo) training through tools/dist_train.sh ends with
identical parameters on both ranks."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT

CONFIG = os.path.join(ROOT, 'configs', 'demo', 'fsgnet_r18_tiny_demo_scene.py')
PY = sys.executable


@pytest.fixture(scope='module')
def scene_dir(tmp_path_factory):
    from geoperc.testing import make_change_scene
    d = tmp_path_factory.mktemp('scene')  # the demo's layout: scene_train/ and scene_test/ below data_root
    make_change_scene(str(d / 'scene_train'), size=(192, 192), seed=3)
    os.symlink(d / 'scene_train', d / 'scene_test')
    return str(d)


def _opts(scene_dir, max_iters):
    return ['--cfg-options', f'data_root={scene_dir}', f'train_cfg.max_iters={max_iters}',
            'train_cfg.val_interval=1000000',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False']


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=ROOT)
    return env


def _weights(path):
    from geoperc.engine.checkpoint import load_checkpoint_file
    return load_checkpoint_file(path)['state_dict']


def test_kill_and_resume_matches_uninterrupted(tmp_path, scene_dir):
    n = 10
    train = [PY, os.path.join(ROOT, 'tools', 'train.py'), CONFIG]
    a = tmp_path / 'uninterrupted'
    subprocess.run(train + ['--work-dir', str(a)] + _opts(scene_dir, n), check=True, env=_env(),
                   capture_output=True, timeout=600)
    b = tmp_path / 'killed'
    proc = subprocess.Popen(train + ['--work-dir', str(b)] + _opts(scene_dir, n), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    def saved():  # MMEngine updates last_checkpoint once a checkpoint is completely written
        p = b / 'last_checkpoint'
        return p.exists() and 'iter_' in p.read_text() and int(p.read_text().strip()[:-4].rsplit('_', 1)[1]) >= 4

    while not saved() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'training finished before it could be killed'
    assert not (b / f'iter_{n}.pth').exists()
    last = open(b / 'last_checkpoint').read().strip()
    k = int(os.path.basename(last)[5:-4])
    assert 4 <= k < n
    r = subprocess.run(train + ['--work-dir', str(b), '--resume'] + _opts(scene_dir, n), env=_env(),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'resumed epoch: 0, iter: {k}' in r.stdout + r.stderr
    wa, wb = _weights(str(a / f'iter_{n}.pth')), _weights(str(b / f'iter_{n}.pth'))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    # the optimizer state came back too: identical at the end
    oa = torch.load(a / f'iter_{n}.pth', weights_only=False)['optimizer']['state']
    ob = torch.load(b / f'iter_{n}.pth', weights_only=False)['optimizer']['state']
    assert all(torch.equal(oa[i]['exp_avg'], ob[i]['exp_avg']) for i in oa)


@pytest.mark.dist
def test_two_process_training_identical_ranks(tmp_path, scene_dir):
    # the demo config carries ParamSyncCheckHook: each rank writes its parameter digest after training
    w = tmp_path / 'dist'
    env = _env()
    env.update(PYTHON=PY, MASTER_PORT=str(29500 + os.getpid() % 1000))
    r = subprocess.run(['bash', os.path.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2', '--work-dir', str(w)]
                       + _opts(scene_dir, 4),
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    d0 = open(w / 'param_digest_rank0.txt').read().split()
    d1 = open(w / 'param_digest_rank1.txt').read().split()
    assert d0[0] == d1[0] == '4'
    assert d0[1] == d1[1]
    assert (w / 'iter_4.pth').exists()
