"""geoperc's checkpoints load with weights_only=True; full pickles only by explicit opt-in."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner

from geoperc.engine.checkpoint import install_safe_loader, load_checkpoint_file
from geoperc.engine.hooks import SafeCheckpointHook


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


def _runner(work_dir, resume=False, max_iters=4):
    return Runner(model=_Toy(), work_dir=str(work_dir),
                  train_dataloader=dict(dataset=_Data(), sampler=dict(type='DefaultSampler', shuffle=True),
                                        batch_size=2, collate_fn=dict(type='default_collate')),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
                  train_cfg=dict(by_epoch=False, max_iters=max_iters),
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
                  custom_hooks=[dict(type=SafeCheckpointHook)],
                  randomness=dict(seed=0), resume=resume, default_scope='geoperc')


def test_runner_checkpoint_loads_weights_only(tmp_path):
    _runner(tmp_path).train()
    ckpt = tmp_path / 'iter_4.pth'
    # plain torch refuses it (numpy values in meta and message_hub) ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)
    # ... geoperc's loader accepts it with weights_only=True and the allow-list
    state = load_checkpoint_file(str(ckpt))
    assert state['meta']['iter'] == 4
    assert set(state['state_dict']) == {'lin.weight', 'lin.bias'}
    assert 'optimizer' in state
    from mmengine.logging import HistoryBuffer
    assert isinstance(state['message_hub']['log_scalars']['train/loss'], HistoryBuffer)


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
    with pytest.raises(pickle.UnpicklingError, match='--trust-checkpoint'):
        load_checkpoint_file(str(path))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
