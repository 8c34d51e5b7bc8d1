"""Every change dataset reads a generated tiny copy of its release layout exactly."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from geoperc.datasets.change import (CDDDataset, ChangeListDataset, CLCDDataset, GZCDDataset, LEVIRCDDataset,
                                     S2LookingDataset)
from geoperc.datasets.transforms import LoadChangeLabel, LoadMultiDateImages, PackChangeInputs
from geoperc.testing import datasets as gen

PIPE = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel), dict(type=PackChangeInputs)]
SPLITS = {'train': 2, 'val': 1, 'test': 1}


def _label01(path):
    lab = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    lab = lab.max(axis=2) if lab.ndim == 3 else lab
    return (lab >= 128).astype(np.int64)


def _check(ds, n, size=64, bands=3, threshold=False):
    assert len(ds) == n
    for i in range(len(ds)):
        out = ds[i]
        x, s = out['inputs'], out['data_samples']
        assert x.shape == (2, bands, size, size) and x.dtype == torch.uint8
        gt = s.gt_sem_seg.data
        assert gt.shape == (1, size, size) and gt.dtype == torch.int64
        assert set(gt.unique().tolist()) <= {0, 1}
        paths = s.metainfo['seg_map_path']
        paths = [paths] if isinstance(paths, str) else paths
        expect = np.maximum.reduce([_label01(p) for p in paths])
        assert np.array_equal(gt[0].numpy(), expect)
        assert len(s.metainfo['img_path']) == 2
        assert s.metainfo['ori_shape'] == (size, size)
        # date 1 read in R, G, B file order (not BGR): compare with the file decoded and flipped back
        raw = cv2.imread(s.metainfo['img_path'][0], cv2.IMREAD_UNCHANGED)[..., ::-1]
        if not threshold:
            assert np.array_equal(x[0].permute(1, 2, 0).numpy(), raw)


def test_levircd(tmp_path):
    root = gen.write_levircd(str(tmp_path), SPLITS)
    for split, n in SPLITS.items():
        ds = LEVIRCDDataset(data_root=root, split=split, pipeline=PIPE)
        _check(ds, n)
    # explicit data_prefix (MMEngine semantics) reads the same files
    ds = LEVIRCDDataset(data_root=root, data_prefix=dict(img_a='train/A', img_b='train/B', seg_map='train/label'),
                        pipeline=PIPE)
    ref = LEVIRCDDataset(data_root=root, split='train')
    assert [ds.get_data_info(i)['img_path'] for i in range(2)] == [ref.get_data_info(i)['img_path'] for i in range(2)]


@pytest.mark.parametrize('level', ['top', 'real', 'subset'])
def test_cdd_any_root_level(tmp_path, level):
    top = gen.write_cdd(str(tmp_path), {'train': 2, 'test': 1})
    root = {'top': top, 'real': osp.join(top, 'Real'), 'subset': osp.join(top, 'Real', 'subset')}[level]
    pipe = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, threshold=128), dict(type=PackChangeInputs)]
    ds = CDDDataset(data_root=root, split='train', pipeline=pipe)
    _check(ds, 2, threshold=True)
    assert ds.get_data_info(0)['seg_map_path'].endswith(osp.join('Real', 'subset', 'train', 'OUT', '00001.jpg'))


def test_cdd_jpeg_labels_need_threshold(tmp_path):
    top = gen.write_cdd(str(tmp_path), {'train': 1})
    ds = CDDDataset(data_root=top, split='train', pipeline=PIPE)
    with pytest.raises(ValueError, match='threshold'):
        ds[0]


def test_clcd(tmp_path):
    root = gen.write_clcd(str(tmp_path), SPLITS)
    _check(CLCDDataset(data_root=root, split='val', pipeline=PIPE), 1)
    assert '/val/time1/' in CLCDDataset(data_root=root, split='val').get_data_info(0)['img_path'][0]


@pytest.mark.parametrize('label', ['all', 'label', 'split'])
def test_s2looking(tmp_path, label):
    root = gen.write_s2looking(str(tmp_path), {'train': 2}, label=label)
    ds = S2LookingDataset(data_root=root, split='train', pipeline=PIPE)
    _check(ds, 2)
    seg = ds.get_data_info(0)['seg_map_path']
    if label == 'split':
        assert isinstance(seg, list) and [osp.basename(osp.dirname(p)) for p in seg] == ['label1', 'label2']
    else:
        assert osp.basename(osp.dirname(seg)) == 'label'


def test_s2looking_union_equals_label(tmp_path):
    a = gen.write_s2looking(str(tmp_path / 'a'), {'train': 2}, label='label')
    b = gen.write_s2looking(str(tmp_path / 'b'), {'train': 2}, label='split')
    da = S2LookingDataset(data_root=a, split='train', pipeline=PIPE)
    db = S2LookingDataset(data_root=b, split='train', pipeline=PIPE)
    for i in range(2):
        assert torch.equal(da[i]['data_samples'].gt_sem_seg.data, db[i]['data_samples'].gt_sem_seg.data)


def test_gzcd_both_layouts(tmp_path):
    root = gen.write_gzcd(str(tmp_path / 'splits'), SPLITS)
    _check(GZCDDataset(data_root=root, split='test', pipeline=PIPE), 1)
    raw = gen.write_gzcd(str(tmp_path / 'raw'), {'all': 3}, raw=True)
    ds = GZCDDataset(data_root=raw, split='raw', pipeline=PIPE)
    _check(ds, 3)
    assert osp.basename(osp.dirname(ds.get_data_info(0)['seg_map_path'])) == 'labels_change'


@pytest.mark.parametrize('absolute', [False, True])
def test_list_file(tmp_path, absolute):
    ann = gen.write_list_file(str(tmp_path), 'train.txt', absolute=absolute, n=3)
    ds = ChangeListDataset(ann_file='train.txt', data_root=str(tmp_path), pipeline=PIPE)
    _check(ds, 3)
    # an absolute list file path also works without data_root when the lines are absolute
    if absolute:
        assert len(ChangeListDataset(ann_file=ann, pipeline=PIPE)) == 3


def test_list_file_errors(tmp_path):
    gen.write_list_file(str(tmp_path), 'train.txt', n=2)
    (tmp_path / 'bad.txt').write_text('train/A/train_1.png train/B/train_1.png train/label/nope.png\n')
    with pytest.raises(FileNotFoundError, match=r'bad.txt:1: file not found: .*nope.png'):
        ChangeListDataset(ann_file='bad.txt', data_root=str(tmp_path))
    (tmp_path / 'fields.txt').write_text('a b c d\n')
    with pytest.raises(ValueError, match='fields.txt:1'):
        ChangeListDataset(ann_file='fields.txt', data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        ChangeListDataset(ann_file='missing.txt', data_root=str(tmp_path))


def test_missing_folder_is_named(tmp_path):
    root = gen.write_levircd(str(tmp_path), {'train': 1})
    with pytest.raises(FileNotFoundError, match=osp.join('val', 'A')):
        LEVIRCDDataset(data_root=root, split='val')
    os.rename(osp.join(root, 'train', 'label'), osp.join(root, 'train', 'labels'))
    with pytest.raises(FileNotFoundError, match=osp.join('train', 'label')):
        LEVIRCDDataset(data_root=root, split='train')


def test_mismatched_names_are_named(tmp_path):
    root = gen.write_levircd(str(tmp_path), {'train': 2})
    os.rename(osp.join(root, 'train', 'B', 'train_2.png'), osp.join(root, 'train', 'B', 'other.png'))
    with pytest.raises(ValueError, match=r"train/B does not match .*train/A: missing \['train_2'\] extra \['other'\]"):
        LEVIRCDDataset(data_root=root, split='train')


def test_label_values_outside_mapping_raise(tmp_path):
    root = gen.write_levircd(str(tmp_path), {'train': 1})
    p = osp.join(root, 'train', 'label', 'train_1.png')
    lab = cv2.imread(p, cv2.IMREAD_UNCHANGED)
    lab[0, 0] = 7
    cv2.imwrite(p, lab)
    with pytest.raises(ValueError, match=r'train_1.png: label values \[7\]'):  # checked at construction
        LEVIRCDDataset(data_root=root, split='train', pipeline=PIPE)
    ds = LEVIRCDDataset(data_root=root, split='train', pipeline=PIPE, check_labels=0)
    with pytest.raises(ValueError, match=r'train_1.png: label values \[7\]'):  # and when read
        ds[0]


def test_metainfo_classes(tmp_path):
    root = gen.write_levircd(str(tmp_path), {'train': 1})
    ds = LEVIRCDDataset(data_root=root, split='train')
    assert ds.metainfo['classes'] == ('unchanged', 'changed')


def test_unlabelled_pairs(tmp_path):
    root = gen.write_levircd(str(tmp_path), {'test': 1})
    ds = LEVIRCDDataset(data_root=root, data_prefix=dict(img_a='test/A', img_b='test/B'),
                        pipeline=[dict(type=LoadMultiDateImages), dict(type=PackChangeInputs)])
    out = ds[0]
    assert 'gt_sem_seg' not in out['data_samples'] and out['inputs'].shape == (2, 3, 64, 64)


def test_registry_builds_by_name(tmp_path):
    from mmengine.registry import DefaultScope

    from geoperc.registry import DATASETS
    root = gen.write_levircd(str(tmp_path), {'train': 1})
    with DefaultScope.overwrite_default_scope('geoperc'):  # what the runner's default_scope does
        ds = DATASETS.build(dict(type='LEVIRCDDataset', data_root=root, split='train',
                                 pipeline=[dict(type='LoadMultiDateImages'), dict(type='LoadChangeLabel'),
                                           dict(type='PackChangeInputs')]))
    assert ds[0]['inputs'].shape == (2, 3, 64, 64)
