import os
import sys

import pytest
import torch

# tiny models on 2 shared cores: one thread avoids OpenMP oversubscription (measured 10x slower)
torch.set_num_threads(1)
os.environ.setdefault('OMP_NUM_THREADS', '1')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def repo_root():
    return ROOT
