"""The SSC data pipeline on generated SemanticKITTI-format street scenes: image, depth, VP, calibration and
targets reach the data sample; flipping mirrors image, depth, VP and target consistently; KITTI-360 layout."""
import numpy as np
import pytest
from mmengine.dataset import Compose

from geoperc.datasets.occupancy import KITTI360SSCDataset, SemanticKITTISSCDataset
from geoperc.datasets.transforms.occupancy import (LoadSSCDepth, LoadSSCImage, LoadSSCTarget, LoadVanishingPoint,
                                                   PackSSCInputs, RandomFlipSSC)
from geoperc.errors import DatasetError
from geoperc.testing.formats3d import write_ssc_street


@pytest.fixture(scope='module')
def street(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ssc'))
    return root, write_ssc_street(root, {'00': 2}, seed=0)


def _pipe(root, flip=None, **vp):
    steps = [dict(type=LoadSSCImage), dict(type=LoadSSCDepth, depth_root=root + '/depth'),
             dict(type=LoadVanishingPoint, **vp), dict(type=LoadSSCTarget, with_1_2=True)]
    if flip is not None:
        steps.append(dict(type=RandomFlipSSC, prob=flip))
    return steps + [dict(type=PackSSCInputs)]


def test_pack(street):
    root, truth = street
    ds = SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=(32, 32, 8), vp_root=truth['vp_root'],
                                 pipeline=_pipe(root))
    out = ds[1]
    s = out['data_samples']
    assert out['inputs'].shape == (3, 48, 160)
    assert np.array_equal(s.gt_occ.data.numpy(), truth['targets'][('00', '000001')])
    assert s.gt_occ_1_2.data.shape == (16, 16, 4)
    assert np.allclose(s.metainfo['vanishing_point'], truth['vps'][('00', '000001')], atol=1e-4)
    assert s.metainfo['vp_source'] == 'dataset'
    assert np.allclose(s.metainfo['cam_K'], truth['K'], atol=1e-4)
    assert s.metainfo['depth'].shape == (48, 160) and s.metainfo['depth'].max() > 5
    assert set(np.unique(s.gt_occ.data.numpy())) <= {0, 1, 9, 11, 13, 15, 17, 255}


def test_flip_and_estimated_vp(street):
    root, truth = street
    ds = SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=(32, 32, 8), pipeline=_pipe(root, flip=1.0))
    plain = SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=(32, 32, 8), vp_root=truth['vp_root'],
                                    pipeline=_pipe(root))
    a, b = ds[0], plain[0]
    assert a['data_samples'].metainfo['vp_source'] == 'estimated'
    assert np.array_equal(a['inputs'].numpy(), b['inputs'].numpy()[:, :, ::-1])
    assert np.array_equal(a['data_samples'].metainfo['depth'], b['data_samples'].metainfo['depth'][:, ::-1])
    assert np.array_equal(a['data_samples'].gt_occ.data.numpy(), b['data_samples'].gt_occ.data.numpy()[:, ::-1])
    vp_est = a['data_samples'].metainfo['vanishing_point']
    vp_true = truth['vps'][('00', '000000')]
    assert abs(vp_est[1] - vp_true[1]) < 8 and abs(vp_est[0] - (160 - vp_true[0])) < 8


def test_missing_depth_is_named(street):
    root, truth = street
    t = Compose([dict(type=LoadSSCImage), dict(type=LoadSSCDepth, depth_root=root + '/nowhere')])
    ds = SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=(32, 32, 8))
    with pytest.raises(DatasetError, match='nowhere'):
        t(ds.get_data_info(0))


def test_kitti360_layout(tmp_path):
    import cv2
    from geoperc.io.semantic_kitti import write_vanishing_points, write_voxel_bits, write_voxel_label
    drive = '2013_05_28_drive_0006_sync'
    d = tmp_path / 'data_2d_raw' / drive
    (d / 'image_00' / 'data_rect').mkdir(parents=True)
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 19, (8, 8, 4)).astype(np.uint16)
    inv = np.zeros((8, 8, 4), np.uint8)
    inv[0] = 1
    for fid in ('000000', '000005'):
        cv2.imwrite(str(d / 'image_00' / 'data_rect' / f'{fid}.png'), np.zeros((20, 30, 3), np.uint8))
        write_voxel_bits(str(d / 'voxels' / f'{fid}.bin'), (lab > 0).astype(np.uint8))
        write_voxel_label(str(d / 'voxels' / f'{fid}.label'), lab)
        write_voxel_bits(str(d / 'voxels' / f'{fid}.invalid'), inv)
    write_vanishing_points(str(tmp_path / 'vp' / f'seq_{drive}.json'),
                           {f'KITTI-360/{drive}/image_00/000005.png': (15.0, 9.0),
                            f'KITTI-360/{drive}/image_00/000000.png': (14.0, 8.0)})
    ds = KITTI360SSCDataset(str(tmp_path), split='val', grid_shape=(8, 8, 4), vp_root=str(tmp_path / 'vp'))
    assert len(ds) == 2 and ds.metainfo['classes'][7] == 'road'
    info = ds[1]
    assert np.allclose(info['vanishing_point'], (15.0, 9.0))
    expect = lab.astype(np.uint8)
    expect[0] = 255
    assert np.array_equal(info['gt_occ'], expect)
    assert np.allclose(info['cam_K'][0, 0], 552.554261)
