"""geoperc's checkpoints load with plain torch.load(weights_only=True) in any tool (tensors and plain values
only); geoperc's loader rebuilds buffers and arrays for resuming; full pickles only by explicit opt-in."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmengine.hooks import Hook

from geoperc.engine.checkpoint import (CheckpointNotFoundError, UnsafeCheckpointError, install_safe_loader,
                                       load_checkpoint_file)
from geoperc.engine.hooks import SafeCheckpointHook
from geoperc.engine.hooks.safe_checkpoint_hook import from_plain, to_plain
from geoperc.errors import CheckpointError


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.lin(x)
        if mode == 'loss':
            return dict(loss=((out - 1) ** 2).mean())
        return out


class _Data(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]))


class _NumpyInfo(Hook):
    """Puts numpy values into the message hub, as MMEngine and third-party hooks do."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        runner.message_hub.update_info('np_scalar', np.float64(0.25) * (runner.iter + 1))
        runner.message_hub.update_info('np_array', np.arange(3, dtype=np.int32) + runner.iter)
        runner.message_hub.update_info('np_state', np.random.get_state())  # uint32 key array inside


def _runner(work_dir, resume=False, max_iters=4):
    return Runner(model=_Toy(), work_dir=str(work_dir),
                  train_dataloader=dict(dataset=_Data(), sampler=dict(type='DefaultSampler', shuffle=True),
                                        batch_size=2, collate_fn=dict(type='default_collate')),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
                  train_cfg=dict(by_epoch=False, max_iters=max_iters),
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
                  custom_hooks=[dict(type=SafeCheckpointHook), dict(type=_NumpyInfo)],
                  randomness=dict(seed=0), resume=resume, default_scope='geoperc')


def _no_numpy(obj, path='ckpt'):
    assert not isinstance(obj, (np.ndarray, np.generic)), f'{path} is {type(obj).__name__}'
    if isinstance(obj, dict):
        for k, v in obj.items():
            _no_numpy(v, f'{path}[{k!r}]')
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _no_numpy(v, f'{path}[{i}]')


def test_runner_checkpoint_loads_with_plain_torch(tmp_path):
    _runner(tmp_path).train()
    ckpt = tmp_path / 'iter_4.pth'
    # any torch >= 2.6 tool: plain torch.load, no allow-list (failed before: numpy._core.multiarray._reconstruct)
    plain = torch.load(ckpt, weights_only=True)
    _no_numpy(plain)
    assert set(plain['state_dict']) == {'lin.weight', 'lin.bias'} and plain['meta']['iter'] == 4
    assert plain['message_hub']['runtime_info']['np_scalar'] == 1.0
    # geoperc's loader gives MMEngine its buffers and arrays back, bit for bit
    state = load_checkpoint_file(str(ckpt))
    assert state['meta']['iter'] == 4
    assert set(state['state_dict']) == {'lin.weight', 'lin.bias'}
    assert 'optimizer' in state
    from mmengine.logging import HistoryBuffer
    assert isinstance(state['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    info = state['message_hub']['runtime_info']
    assert info['np_array'].dtype == np.int32 and info['np_array'].tolist() == [3, 4, 5]
    assert info['np_state'][1].dtype == np.uint32 and info['np_state'][1].shape == (624,)


def test_plain_round_trip_is_exact():
    from mmengine.logging import HistoryBuffer
    rng = np.random.default_rng(0)
    values = {'f64': rng.normal(size=(3, 2)), 'f16': rng.normal(size=4).astype(np.float16),
              'u32': rng.integers(0, 2 ** 32, 5, dtype=np.uint32), 'u16': np.arange(4, dtype=np.uint16),
              'bool': np.array([True, False]), 'str': np.array(['a', 'bc']), 'scalar': np.float32(1.5),
              'i64': np.int64(-3), 'nested': [np.arange(2), (np.float64(2.0), 'x')],
              'buf': HistoryBuffer([1.0, 2.5], [1, 2], max_length=7)}
    plain = to_plain(values)
    _no_numpy(plain)
    assert type(plain['scalar']) is float and type(plain['i64']) is int
    back = from_plain(plain)
    for k in ('f64', 'f16', 'u32', 'u16', 'bool', 'str'):
        assert back[k].dtype == values[k].dtype and np.array_equal(back[k], values[k]), k
    assert np.array_equal(back['nested'][0], np.arange(2)) and back['nested'][1] == (2.0, 'x')
    assert back['buf'].max_length == 7 and np.array_equal(back['buf'].data[0], [1.0, 2.5])
    sd = torch.nn.Linear(2, 1).state_dict()  # tensor-only containers are kept as they are (with _metadata)
    assert to_plain(sd) is sd and from_plain(sd) is sd


def test_resume_through_mmengine_uses_safe_loader(tmp_path):
    install_safe_loader()
    _runner(tmp_path, max_iters=2).train()
    r = _runner(tmp_path, resume=True, max_iters=4)
    r.train()
    assert r.iter == 4


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_untrusted_pickle_is_refused_unless_opted_in(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': np.float64(1.0), 'evil': _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match='--trust-checkpoint') as e:
        load_checkpoint_file(str(path))
    assert isinstance(e.value, (CheckpointError, pickle.UnpicklingError))
    with pytest.raises(CheckpointNotFoundError, match='missing.pth') as e:
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
    assert isinstance(e.value, FileNotFoundError)


def test_third_party_numpy_checkpoint_still_loads(tmp_path):
    """The allow-list stays for files written elsewhere (numpy values in a plain pickle)."""
    path = tmp_path / 'third_party.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'best': np.float64(0.5), 'hist': np.arange(3)}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    state = load_checkpoint_file(str(path))
    assert state['meta']['best'] == 0.5 and state['meta']['hist'].tolist() == [0, 1, 2]


def test_truncated_checkpoint_is_a_user_error(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(CheckpointError, match='cut.pth'):
        load_checkpoint_file(str(cut))
