"""The console command dispatches to every tool; the overlay tool writes a PNG of the right layout."""
import os
import subprocess
import sys

import numpy as np

from geoperc.cli import COMMANDS, main
from tests.conftest import ROOT


def test_every_command_resolves():
    import importlib
    for name, (module, func) in COMMANDS.items():
        assert callable(getattr(importlib.import_module(module), func)), name
    assert main([]) == 2  # no command: usage on stderr, exit 2
    assert main(['no-such-command']) == 2


def test_overlay_tool(tmp_path):
    from geoperc.testing import make_change_scene
    s = make_change_scene(str(tmp_path / 'scene'), size=(96, 128), seed=5)
    out = tmp_path / 'ql.png'
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'change_overlay.py'), s.date1, s.date2,
                        s.label, '--reference', s.label, '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import matplotlib.image as mpimg
    img = mpimg.imread(str(out))
    assert img.shape[1] > 3 * img.shape[0]  # four panels side by side
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'change_overlay.py'), s.date1, s.date2,
                        str(tmp_path / 'missing.tif'), '--out', str(tmp_path / 'x.png')],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'missing.tif' in r.stderr and not (tmp_path / 'x.png').exists()


def test_version_help_and_user_errors(capsys, tmp_path):
    import geoperc
    assert main(['--version']) == 0 and capsys.readouterr().out.strip() == f'geoperc {geoperc.__version__}'
    assert main(['--help']) == 0 and 'geoperc train' in capsys.readouterr().out
    # a user error in any command: one line on stderr, exit 2, no traceback
    missing = str(tmp_path / 'nope.ckpt')
    assert main(['convert', 'omnifusion', missing, str(tmp_path / 'out.pth')]) == 2
    err = capsys.readouterr().err
    assert 'nope.ckpt' in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'out.pth').exists()


def test_ctrl_c_and_programming_errors():
    from geoperc.cli.common import EXIT_INTERRUPTED, run

    def interrupted(argv):
        raise KeyboardInterrupt

    def bug(argv):
        raise ZeroDivisionError('a bug is not bad input')
    assert run(interrupted, [], 'geoperc x', resume_hint='rerun with --resume') == EXIT_INTERRUPTED
    import pytest
    with pytest.raises(ZeroDivisionError):
        run(bug, [], 'geoperc x')
