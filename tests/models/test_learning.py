"""Learning tests: the tiny config of each change model learns a generated change task.

Task: 64 x 64 4-band pairs from ``synth_change_pair``: rotated rectangles (0.2-0.4 of the tile) appear
between the dates, under per-band seasonal gain/offset, an illumination gradient and sensor noise on date 2
(pseudo-changes). 256 training pairs with random flips / transposes; 32 held-out pairs (another seed)
scored with one accumulated confusion matrix. Both models predict at 1/4 resolution; the ceiling of a
1/4-resolution prediction on this task is a change F1 of about 0.96 (0.94 with the generator's default
smaller objects), hence the larger objects.

One thread: with several busy processes on two cores, OpenMP's spin-waiting makes two threads ~20x
slower than one.
"""
import os

import pytest
import torch

from tests.conftest import ROOT
from tests.models.change_data import change_f1, make_pairs, train

TASK = dict(size_range=(0.2, 0.4))


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _build(config):
    from mmengine.config import Config

    from geoperc.registry import MODELS
    cfg = Config.fromfile(os.path.join(ROOT, config))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.slow
@pytest.mark.parametrize('config,steps,batch', [
    ('configs/change/fsgnet/fsgnet_tiny_1xb8_2k_synth.py', 400, 8),   # ~1 min on a busy 2-core CPU
    ('configs/change/lenet/lenet_tiny_1xb8_2k_synth.py', 800, 4),     # ~3 min on a busy 2-core CPU
], ids=['fsgnet', 'lenet'])
def test_tiny_model_learns_change(config, steps, batch, one_thread):
    model = _build(config)
    train_pairs = make_pairs(256, seed=0, **TASK)
    held_out = make_pairs(32, seed=1, **TASK)
    before = change_f1(model, held_out)['change_f1']
    log, done, seconds = train(model, train_pairs, steps, batch=batch, lr=3e-3)
    scores = change_f1(model, held_out)
    print(f'{config}: {done} steps in {seconds:.0f} s, loss {log}, held-out {scores}')
    assert scores['change_f1'] >= 0.9, (before, scores)
    assert scores['change_f1'] > before
