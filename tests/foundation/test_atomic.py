"""The one atomic-write helper (geoperc/io/atomic.py): never half a file, the old file kept on failure."""
import os

import numpy as np
import pytest

from geoperc.io.atomic import atomic_call, atomic_path, atomic_write


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / 'metrics.json'
    atomic_write(str(target), '{"old": 1}')
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            with open(tmp, 'w') as f:
                f.write('{"new": ')  # half written
            raise RuntimeError('the writer crashed')
    assert target.read_text() == '{"old": 1}'
    assert os.listdir(tmp_path) == ['metrics.json']


def test_extension_kept_for_writers_that_choose_the_format(tmp_path):
    out = tmp_path / 'sub' / 'emb.npz'
    atomic_call(str(out), lambda p: np.savez(p, x=np.arange(3)))  # np.savez appends .npz when missing
    assert sorted(os.listdir(out.parent)) == ['emb.npz']
    assert np.load(out)['x'].tolist() == [0, 1, 2]


def test_a_writer_reporting_failure_raises(tmp_path):
    with pytest.raises(OSError, match='failure'):
        atomic_call(str(tmp_path / 'cloud.ply'), lambda p: False)
    assert os.listdir(tmp_path) == []
