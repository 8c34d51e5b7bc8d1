"""SemanticKITTI SSC files and dataset, on tiny copies written in the release formats."""
import json
import os

import numpy as np
import pytest
import yaml

from geoperc.io import semantic_kitti as sk
from geoperc.testing.formats3d import SK_RAW_TO_TARGET, write_semantic_kitti

GRID = (16, 16, 8)


def devkit_unpack(compressed):
    """The devkit's bit order, written out with shifts (semantic-kitti-api ``unpack``)."""
    out = np.zeros(compressed.shape[0] * 8, np.uint8)
    for k in range(8):
        out[k::8] = compressed >> (7 - k) & 1
    return out


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('semantickitti'))
    truth = write_semantic_kitti(root, {'00': 11, '08': 6, '11': 6}, grid_shape=GRID)
    return root, truth


def test_bit_order_matches_devkit():
    rng = np.random.default_rng(0)
    packed = rng.integers(0, 256, 64, dtype=np.uint8)
    np.testing.assert_array_equal(sk.unpack_bits(packed), devkit_unpack(packed))
    np.testing.assert_array_equal(sk.pack_bits(devkit_unpack(packed)), packed)
    with pytest.raises(ValueError, match='multiple of 8'):
        sk.pack_bits(np.ones(7))


def test_full_size_grid_files(tmp_path):
    grid = np.zeros(sk.VOXEL_DIMS, np.uint8)
    grid[3, 200, 31] = 1
    grid[255, 0, 0] = 1
    sk.write_voxel_bits(str(tmp_path / '000000.bin'), grid)
    assert os.path.getsize(tmp_path / '000000.bin') == 256 * 256 * 32 // 8
    back = sk.read_voxel_bits(str(tmp_path / '000000.bin'))
    assert back.shape == (256, 256, 32) and back.sum() == 2 and back[3, 200, 31] == 1
    # C order, Z fastest: voxel (0, 0, 7) is bit 7 (the least significant) of byte 0
    one = np.zeros(sk.VOXEL_DIMS, np.uint8)
    one[0, 0, 7] = 1
    sk.write_voxel_bits(str(tmp_path / 'b.bin'), one)
    assert np.fromfile(tmp_path / 'b.bin', np.uint8)[0] == 1
    lab = np.zeros(sk.VOXEL_DIMS, np.uint16)
    lab[1, 2, 3] = 252
    sk.write_voxel_label(str(tmp_path / '000000.label'), lab)
    assert os.path.getsize(tmp_path / '000000.label') == 256 * 256 * 32 * 2
    assert sk.read_voxel_label(str(tmp_path / '000000.label'))[1, 2, 3] == 252
    with pytest.raises(ValueError, match='expected 2097152'):
        sk.read_voxel_label(str(tmp_path / '000000.bin'))


def test_default_label_config_facts():
    cfg = sk.default_label_config()
    assert cfg.num_classes == 20 and len(sk.SSC_CLASSES) == 20
    assert sk.SSC_CLASSES[0] == 'empty' and sk.SSC_CLASSES[1] == 'car' and sk.SSC_CLASSES[19] == 'traffic-sign'
    assert sk.SSC_CLASSES[9] == 'road' and sk.SSC_CLASSES[15] == 'vegetation'
    assert cfg.learning_map[252] == 1 and cfg.learning_map[60] == 9 and cfg.learning_map[52] == 0
    assert tuple(cfg.palette_rgb()[1]) == (100, 150, 245)  # car: BGR [245, 150, 100] in the YAML
    assert cfg.split['valid'] == [8] and 9 in cfg.split['train'] and 8 not in cfg.split['train']
    assert sk.SPLIT_SEQUENCES['test'] == tuple(f'{i:02d}' for i in range(11, 22))


def test_completion_lut():
    lut = sk.completion_remap_lut(sk.default_label_config().learning_map)
    for raw, target in SK_RAW_TO_TARGET.items():
        assert lut[raw] == target, raw
    assert lut[259] == 5 and lut[300] == 255  # moving-other-vehicle; an unknown id is invalid


def test_label_config_yaml_roundtrip(tmp_path):
    cfg = sk.default_label_config()
    d = dict(labels=cfg.labels, color_map={k: list(v) for k, v in cfg.color_map.items()},
             learning_map=cfg.learning_map, learning_map_inv=cfg.learning_map_inv,
             learning_ignore=cfg.learning_ignore, split=cfg.split)
    (tmp_path / 'semantic-kitti.yaml').write_text(yaml.safe_dump(d))
    back = sk.load_label_config(str(tmp_path / 'semantic-kitti.yaml'))
    assert back.learning_map == cfg.learning_map and back.class_names() == cfg.class_names()
    (tmp_path / 'bad.yaml').write_text(yaml.safe_dump(dict(labels=cfg.labels)))
    with pytest.raises(ValueError, match='missing keys'):
        sk.load_label_config(str(tmp_path / 'bad.yaml'))


def test_ssc_target_and_prediction_label(release, tmp_path):
    root, truth = release
    vdir = os.path.join(root, 'sequences', '00', 'voxels')
    target = sk.read_ssc_target(os.path.join(vdir, '000005.label'), os.path.join(vdir, '000005.invalid'),
                                shape=GRID)
    np.testing.assert_array_equal(target, truth['targets'][('00', '000005')])
    assert set(np.unique(target)) <= set(SK_RAW_TO_TARGET.values())
    no_inv = sk.read_ssc_target(os.path.join(vdir, '000005.label'), None, shape=GRID)
    assert (no_inv != 255).sum() > (target != 255).sum()
    occl = sk.read_voxel_bits(os.path.join(vdir, '000005.occluded'), GRID)
    np.testing.assert_array_equal(occl, truth['occluded'][('00', '000005')])
    pred = np.zeros(GRID, np.uint8)
    pred[0, 0, :4] = [1, 9, 19, 0]
    sk.write_prediction_label(str(tmp_path / 'p.label'), pred)
    assert sk.read_voxel_label(str(tmp_path / 'p.label'), GRID)[0, 0, :4].tolist() == [10, 40, 81, 0]
    with pytest.raises(ValueError, match='0..19'):
        sk.write_prediction_label(str(tmp_path / 'q.label'), np.full(GRID, 20, np.uint8))


def test_calib_poses_vp(release, tmp_path):
    root, truth = release
    calib = sk.read_calib(os.path.join(root, 'sequences', '00', 'calib.txt'))
    assert calib['P2'].shape == (3, 4) and calib['Tr'].shape == (4, 4)
    np.testing.assert_allclose(calib['P2'], truth['calib']['00']['P2'], rtol=1e-9)
    np.testing.assert_allclose(calib['Tr'], truth['calib']['00']['Tr'], rtol=1e-9)
    poses = sk.read_poses(os.path.join(root, 'sequences', '00', 'poses.txt'))
    assert poses.shape == (11, 4, 4)
    np.testing.assert_allclose(poses, truth['poses']['00'])
    lidar = sk.poses_to_lidar(poses, calib['Tr'])
    np.testing.assert_allclose(lidar[3], np.linalg.inv(calib['Tr']) @ poses[3] @ calib['Tr'], atol=1e-12)
    assert lidar[3][0, 3] == pytest.approx(2.4, abs=0.01)  # 3 frames x 0.8 m along camera z = LiDAR x
    vps = sk.read_vanishing_points(os.path.join(root, 'vanishing_points', 'seq_00.json'))
    vp = sk.lookup_vanishing_point(vps, '00', '000010')
    np.testing.assert_allclose(vp, truth['vps'][('00', '000010')])  # the first of the listed points
    assert sk.lookup_vanishing_point(vps, '00', '999999') is None
    (tmp_path / 'seq_01.json').write_text(json.dumps({'/abs/sequences/01/image_2/000000.png': [3.5, 4.0]}))
    np.testing.assert_allclose(sk.lookup_vanishing_point(
        sk.read_vanishing_points(str(tmp_path / 'seq_01.json')), '01', '000000'), [3.5, 4.0])
    (tmp_path / 'calib.txt').write_text('P0: 1 2 3\n')
    with pytest.raises(ValueError, match='P2'):
        sk.read_calib(str(tmp_path / 'calib.txt'))


def test_voxel_centers():
    c = sk.voxel_centers()
    assert c.shape == (256, 256, 32, 3)
    np.testing.assert_allclose(c[0, 0, 0], [0.1, -25.5, -1.9], atol=1e-5)
    np.testing.assert_allclose(c[-1, -1, -1], [51.1, 25.5, 4.3], atol=1e-4)


# --- dataset -------------------------------------------------------------------------------------------
def test_dataset_train_val(release):
    from geoperc.datasets.occupancy import SemanticKITTISSCDataset
    root, truth = release
    ds = SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=GRID, vp_root=truth['vp_root'],
                                 load_pose=True)
    assert [ds.get_data_info(i)['frame_id'] for i in range(len(ds))] == ['000000', '000005', '000010']
    item = ds[2]
    assert item['img_path'].endswith(os.path.join('sequences', '00', 'image_2', '000010.png'))
    np.testing.assert_array_equal(item['gt_occ'], truth['targets'][('00', '000010')])
    assert item['gt_occ'].dtype == np.uint8
    np.testing.assert_allclose(item['proj_matrix'], item['P2'] @ item['T_velo_2_cam'])
    np.testing.assert_allclose(item['cam_K'], truth['calib']['00']['P2'][:, :3])
    np.testing.assert_allclose(item['vanishing_point'], truth['vps'][('00', '000010')])
    np.testing.assert_allclose(item['pose'], truth['poses']['00'][10])
    assert ds.metainfo['classes'][1] == 'car' and ds.metainfo['ignore_index'] == 255
    val = SemanticKITTISSCDataset(root, split='val', grid_shape=GRID)
    assert len(val) == 2 and val[1]['sequence'] == '08'
    every10 = SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=GRID, frame_interval=10)
    assert [every10.get_data_info(i)['frame_id'] for i in range(len(every10))] == ['000000', '000010']


def test_dataset_test_split_and_errors(release, tmp_path):
    from geoperc.datasets.occupancy import SemanticKITTISSCDataset
    from geoperc.registry import DATASETS
    root, truth = release
    test = DATASETS.build(dict(type='SemanticKITTISSCDataset', data_root=root, sequences=['11'],
                               grid_shape=GRID))
    assert len(test) == 2 and 'gt_occ' not in test[0] and test[0]['voxel_label_path'] is None
    assert test[0]['voxel_bin_path'].endswith('000000.bin')
    with pytest.raises(FileNotFoundError, match='sequences/01'):
        SemanticKITTISSCDataset(root, split='train', grid_shape=GRID)  # 01..10 are not in the tiny copy
    with pytest.raises(FileNotFoundError, match='seq_00.json'):
        SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=GRID, vp_root=str(tmp_path))
    with pytest.raises(ValueError, match='split'):
        SemanticKITTISSCDataset(root, split='bogus')
    with pytest.raises(ValueError, match='expected 4096'):
        SemanticKITTISSCDataset(root, sequences=['00'], grid_shape=(16, 16, 16))[0]
    # KITTI odometry's extra dataset/ level is accepted
    os.makedirs(tmp_path / 'kitti' / 'dataset')
    os.symlink(os.path.join(root, 'sequences'), tmp_path / 'kitti' / 'dataset' / 'sequences')
    assert len(SemanticKITTISSCDataset(str(tmp_path / 'kitti'), sequences=['08'], grid_shape=GRID)) == 2
