"""data_prep: the check scripts pass on a good copy and name the path of every problem on a broken one;
LEVIR-CD crop writes 16 crops of 256 px per 1024 px tile, exactly, atomically and idempotently."""
import dataclasses
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from geoperc.datasets.change.verify import verify_layout
from geoperc.testing import datasets as gen
from tests.conftest import ROOT

SPLITS = {'train': 2, 'val': 1, 'test': 1}


def _load(name, script='check.py'):
    path = osp.join(ROOT, 'data_prep', name, script)
    spec = importlib.util.spec_from_file_location(f'data_prep_{name}_{script[:-3]}', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny(spec, size=64, **kw):
    """The release spec with the tiny copy's counts and size."""
    splits = {k: SPLITS.get(k, 2) for k in spec.splits}
    return dataclasses.replace(spec, splits=splits, size=(size, size), **kw)


WRITERS = {
    'levircd': lambda root: gen.write_levircd(root, SPLITS),
    'cdd': lambda root: osp.join(gen.write_cdd(root, SPLITS), 'Real', 'subset'),
    'clcd': lambda root: gen.write_clcd(root, SPLITS),
    's2looking': lambda root: gen.write_s2looking(root, SPLITS),
    'gzcd': lambda root: gen.write_gzcd(root, SPLITS),
}


@pytest.mark.parametrize('name', sorted(WRITERS))
def test_check_good_copy_passes(name, tmp_path):
    mod = _load(name)
    spec = getattr(mod, 'RELEASE', None) or mod.SPLITS
    root = WRITERS[name](str(tmp_path))
    problems, counts = verify_layout(root, _tiny(spec), progress=False)
    assert problems == [] and counts == {k: SPLITS[k] for k in spec.splits}


@pytest.mark.parametrize('name', sorted(WRITERS))
def test_check_broken_copy_names_paths(name, tmp_path):
    mod = _load(name)
    spec = _tiny(getattr(mod, 'RELEASE', None) or mod.SPLITS)
    root = WRITERS[name](str(tmp_path))
    A, B, L = spec.folders
    a_files = sorted(os.listdir(osp.join(root, 'train', A)))
    # 1. a label missing, 2. an image of the wrong size, 3. a label value outside the encoding
    os.remove(osp.join(root, 'train', L, sorted(os.listdir(osp.join(root, 'train', L)))[0]))
    p_small = osp.join(root, 'val', B, os.listdir(osp.join(root, 'val', B))[0])
    cv2.imwrite(p_small, np.zeros((32, 32, 3), np.uint8))
    p_lab = osp.join(root, 'test', L, os.listdir(osp.join(root, 'test', L))[0])
    lab = cv2.imread(p_lab, cv2.IMREAD_UNCHANGED)
    lab[:20] = 128
    cv2.imwrite(p_lab, lab)
    problems, _ = verify_layout(root, spec, progress=False)
    text = '\n'.join(problems)
    assert f"{osp.join(root, 'train', L)} does not match" in text and osp.splitext(a_files[0])[0] in text
    assert f'{p_small}: size (32, 32), expected (64, 64)' in text
    assert p_lab in text
    # a missing split folder is named too
    import shutil
    shutil.rmtree(osp.join(root, 'val'))
    problems, _ = verify_layout(root, spec, progress=False)
    assert f"split folder not found: {osp.join(root, 'val')}" in problems


def test_check_script_cli(tmp_path, capsys):
    """The scripts run from a checkout: exit 1 with the reason on a copy that is not the full release,
    exit 0 on a good copy (GZ-CD split copies have no fixed counts)."""
    root = gen.write_levircd(str(tmp_path / 'levir'), SPLITS)
    r = subprocess.run([sys.executable, osp.join(ROOT, 'data_prep', 'levircd', 'check.py'), root, '--quiet'],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 1
    assert f"{osp.join(root, 'train', 'A')}: 2 pairs, the LEVIR-CD release has 445" in r.stdout
    root = gen.write_gzcd(str(tmp_path / 'gz'), SPLITS)
    assert _load('gzcd').main(_load('gzcd').SPLITS, [root, '--quiet']) == 0
    out = capsys.readouterr().out
    assert 'GZ-CD train: 2 pairs' in out and 'OK' in out


def test_cdd_check_accepts_top_folder(tmp_path):
    mod = _load('cdd')
    top = gen.write_cdd(str(tmp_path), SPLITS)
    assert mod.subset_root(top) == osp.join(top, 'Real', 'subset')
    assert mod.subset_root(osp.join(top, 'Real')) == osp.join(top, 'Real', 'subset')


def test_gzcd_raw_variant(tmp_path):
    mod = _load('gzcd')
    root = gen.write_gzcd(str(tmp_path), {'x': 3}, raw=True)
    problems, counts = verify_layout(root, dataclasses.replace(mod.RAW, splits={'.': 3}), progress=False)
    assert problems == [] and counts == {'.': 3}


def test_levircd_crop_16_per_tile(tmp_path):
    crop = _load('levircd', 'crop.py')
    src = gen.write_levircd(str(tmp_path / 'src'), {'train': 1, 'val': 1, 'test': 1}, size=1024)
    dst = str(tmp_path / 'dst')
    assert crop.main([src, dst, '--quiet']) == 0
    for split in ('train', 'val', 'test'):
        for f in ('A', 'B', 'label'):
            names = sorted(os.listdir(osp.join(dst, split, f)))
            assert names == sorted(f'{split}_1_{k}.png' for k in range(1, 17))
    # crop k is the exact source block, row-major
    full = cv2.imread(osp.join(src, 'train', 'A', 'train_1.png'), cv2.IMREAD_UNCHANGED)
    for k in (1, 4, 5, 16):
        r, c = divmod(k - 1, 4)
        part = cv2.imread(osp.join(dst, 'train', 'A', f'train_1_{k}.png'), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(part, full[r * 256:(r + 1) * 256, c * 256:(c + 1) * 256])
    lab = cv2.imread(osp.join(dst, 'train', 'label', 'train_1_7.png'), cv2.IMREAD_UNCHANGED)
    assert lab.shape == (256, 256) and set(np.unique(lab)) <= {0, 255}
    # idempotent: nothing rewritten, no temporary files left; the result checks as a 256 px copy
    assert crop.crop_dataset(src, dst, progress=False) == 0
    assert not [n for d, _, fs in os.walk(dst) for n in fs if n.endswith('.tmp')]
    spec = dataclasses.replace(_load('levircd').CROPS256, splits={'train': 16, 'val': 16, 'test': 16})
    assert verify_layout(dst, spec, progress=False)[0] == []


def test_levircd_crop_rejects_non_multiple(tmp_path):
    crop = _load('levircd', 'crop.py')
    src = gen.write_levircd(str(tmp_path / 'src'), {'train': 1}, size=100)
    with pytest.raises(ValueError, match=r'train_1.png: 100 x 100 px is not a multiple of 64'):
        crop.crop_dataset(src, str(tmp_path / 'dst'), size=64, splits=('train',), progress=False)
    with pytest.raises(FileNotFoundError, match=osp.join('src', 'val', 'A')):
        crop.crop_dataset(src, str(tmp_path / 'dst'), size=50, splits=('val',), progress=False)
