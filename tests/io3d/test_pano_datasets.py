"""Stanford2D3D release layout and UniFuse/OmniFusion split lists, on generated copies."""
import os

import cv2
import numpy as np
import pytest

from geoperc.datasets.depth import PanoSplitListDataset, Stanford2D3DDataset
from geoperc.registry import DATASETS
from geoperc.testing.formats3d import write_pano_split_list, write_stanford2d3d


@pytest.fixture(scope='module')
def stanford(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('s2d3d'))
    truth = write_stanford2d3d(root, areas=('area_1', 'area_5a', 'area_5b'), per_area=2, size=(16, 32))
    return root, truth


def test_stanford_release_layout(stanford):
    root, truth = stanford
    ds = Stanford2D3DDataset(root, areas=['area_1'])
    assert len(ds) == 2
    item = ds[0]
    assert item['img_path'].endswith('_rgb.png') and os.sep + os.path.join('pano', 'rgb') + os.sep in item['img_path']
    assert item['depth_path'].endswith('_depth.png') and item['area'] == 'area_1'
    np.testing.assert_array_equal(item['gt_depth'], truth[item['depth_path']])  # /512, 65535 -> 0
    assert item['gt_depth'].dtype == np.float32 and (item['gt_depth'] == 0).any()
    np.testing.assert_array_equal(item['depth_valid'], (truth[item['depth_path']] > 0)
                                  & (truth[item['depth_path']] <= 10))
    assert item['img'].shape == (16, 32, 3) and item['img_shape'] == (16, 32) and item['erp_roll'] == 0
    bgr = Stanford2D3DDataset(root, areas=['area_1'], channel_order='bgr')[0]['img']
    np.testing.assert_array_equal(bgr, item['img'][..., ::-1])
    test = DATASETS.build(dict(type='Stanford2D3DDataset', data_root=root, split='test'))  # area 5a + 5b
    assert len(test) == 4 and {test[i]['area'] for i in range(4)} == {'area_5a', 'area_5b'}


def test_stanford_options_and_errors(stanford, tmp_path):
    root, truth = stanford
    omni = Stanford2D3DDataset(root, areas=['area_1'], depth_scale=128 / 65535, max_depth=8.0, min_depth=0.3)
    item = omni[0]
    raw = cv2.imread(item['depth_path'], -1).astype(np.float64)
    np.testing.assert_allclose(item['gt_depth'], np.where(raw == 65535, 0, raw * 128 / 65535), rtol=1e-6)
    assert not item['depth_valid'][item['gt_depth'] > 8].any()
    paths = Stanford2D3DDataset(root, areas=['area_1'], load_image=False, load_depth=False)[0]
    assert 'img' not in paths and 'gt_depth' not in paths
    with pytest.raises(FileNotFoundError, match='area_9'):
        Stanford2D3DDataset(root, areas=['area_9'])
    with pytest.raises(ValueError, match='split'):
        Stanford2D3DDataset(root, split='val')
    # an rgb panorama without its depth is named
    os.makedirs(tmp_path / 'area_1' / 'pano' / 'rgb')
    os.makedirs(tmp_path / 'area_1' / 'pano' / 'depth')
    cv2.imwrite(str(tmp_path / 'area_1' / 'pano' / 'rgb' / 'camera_x_rgb.png'), np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match='camera_x_depth.png'):
        Stanford2D3DDataset(str(tmp_path), areas=['area_1'])


@pytest.mark.parametrize('leading_slash', [False, True])
def test_matterport_split_list(tmp_path, leading_slash):
    truth = write_pano_split_list(str(tmp_path), str(tmp_path / 'matterport3d_test.txt'), n=3,
                                  leading_slash=leading_slash)
    ds = PanoSplitListDataset('matterport3d_test.txt', data_root=str(tmp_path), depth_format='matterport3d')
    assert len(ds) == 3
    for i, (listed, depth) in enumerate(truth.items()):
        item = ds[i]
        assert item['depth_path'].endswith(listed.lstrip('/')) and item['list_line'] == i + 1
        np.testing.assert_allclose(item['gt_depth'], depth, atol=1e-6)  # uint16 / 4000


def test_3d60_yaw_in_names(tmp_path):
    truth = write_pano_split_list(str(tmp_path), str(tmp_path / '3d60_test.txt'), n=3, yaw_names=True)
    with pytest.raises(FileNotFoundError, match='_90.0.png'):  # OmniFusion-style: read the listed name
        PanoSplitListDataset('3d60_test.txt', data_root=str(tmp_path))
    ds = PanoSplitListDataset('3d60_test.txt', data_root=str(tmp_path), depth_format='matterport3d',
                              recover_rotation=True)
    for i, (listed, depth) in enumerate(truth.items()):
        item = ds[i]
        yaw = (90 * (i + 1)) % 360
        assert item['yaw_deg'] == yaw and item['erp_roll'] == 32 * yaw // 360  # UniFuse: W * yaw // 360
        assert item['depth_path'].endswith('_0.0.png')
        np.testing.assert_allclose(item['gt_depth'], np.roll(depth, 32 * yaw // 360, axis=1), atol=1e-6)
        unrolled = cv2.cvtColor(cv2.imread(item['img_path']), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(item['img'], np.roll(unrolled, 32 * yaw // 360, axis=1))


def test_split_list_errors(tmp_path):
    (tmp_path / 'bad.txt').write_text('only_one_column.png\n')
    with pytest.raises(ValueError, match='bad.txt:1'):
        PanoSplitListDataset('bad.txt', data_root=str(tmp_path))
    (tmp_path / 'missing.txt').write_text('# comment\n\na.png b.png\n')
    with pytest.raises(FileNotFoundError, match='missing.txt:3'):
        PanoSplitListDataset('missing.txt', data_root=str(tmp_path))
    (tmp_path / 'empty.txt').write_text('\n')
    with pytest.raises(ValueError, match='no samples'):
        PanoSplitListDataset('empty.txt', data_root=str(tmp_path))
    with pytest.raises(ValueError, match='depth_format'):
        PanoSplitListDataset('empty.txt', data_root=str(tmp_path), depth_format='kitti')
