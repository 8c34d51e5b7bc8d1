"""Down-sampled targets (MonoScene / VoxFormer majority rule), VP JSON and benchmark submission files."""
import zipfile

import numpy as np

from geoperc.io.semantic_kitti import (default_label_config, downsample_label, read_vanishing_points, vp_json_key,
                                       write_submission_zip, write_vanishing_points)


def _monoscene_rule(label, ds):
    """Block by block, as MonoScene's ``_downsample_label`` states it."""
    X, Y, Z = (s // ds for s in label.shape)
    out = np.zeros((X, Y, Z), np.uint8)
    for x in range(X):
        for y in range(Y):
            for z in range(Z):
                b = label[x * ds:(x + 1) * ds, y * ds:(y + 1) * ds, z * ds:(z + 1) * ds].reshape(-1)
                n0, n255 = int((b == 0).sum()), int((b == 255).sum())
                if n0 + n255 > 0.95 * ds ** 3:
                    out[x, y, z] = 0 if n0 > n255 else 255
                else:
                    out[x, y, z] = np.argmax(np.bincount(b[(b > 0) & (b < 255)]))
    return out


def test_majority_rule_hand_cases():
    lab = np.zeros((4, 2, 2), np.uint8)
    lab[0:2] = [[[0, 0], [0, 0]], [[0, 0], [0, 5]]]            # 7 empty + one 5: 7 > 7.6? no -> class 5
    lab[2:4] = [[[255, 255], [255, 255]], [[255, 0], [0, 0]]]  # all free, more invalid -> 255
    out = downsample_label(lab, 2)
    assert out.tolist() == [[[5]], [[255]]]
    lab2 = np.full((2, 2, 2), 3, np.uint8)
    lab2[0, 0, 0], lab2[1, 1, 1] = 7, 7  # 6 x class 3, 2 x class 7
    assert downsample_label(lab2, 2)[0, 0, 0] == 3
    lab3 = np.array([4, 4, 9, 9, 0, 0, 0, 0], np.uint8).reshape(2, 2, 2)  # tie -> smallest id
    assert downsample_label(lab3, 2)[0, 0, 0] == 4


def test_majority_rule_matches_blockwise_reference():
    rng = np.random.default_rng(0)
    lab = rng.choice([0, 0, 0, 0, 1, 9, 13, 255], size=(16, 16, 8)).astype(np.uint8)
    lab[:8, :8] = 0
    lab[:4, :4, :4] = 255
    for ds in (2, 4):
        assert np.array_equal(downsample_label(lab, ds), _monoscene_rule(lab, ds))


def test_vp_json_round_trip(tmp_path):
    vps = {vp_json_key('08', '000005'): (612.5, 171.25), vp_json_key('08', '000010'): (600.0, 180.0)}
    f = tmp_path / 'seq_08.json'
    write_vanishing_points(str(f), vps)
    back = read_vanishing_points(str(f))
    assert set(back) == {'SemanticKITTI/dataset/sequences/08/image_2/000005.png',
                         'SemanticKITTI/dataset/sequences/08/image_2/000010.png'}
    assert np.allclose(back['SemanticKITTI/dataset/sequences/08/image_2/000005.png'], [612.5, 171.25])


def test_submission_zip_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    preds = {('11', '000000'): rng.integers(0, 20, (8, 8, 4)), ('12', '000005'): rng.integers(0, 20, (8, 8, 4))}
    z = write_submission_zip(str(tmp_path / 'sub.zip'), preds, description='VPOcc (geoperc)')
    cfg = default_label_config()
    lut = np.zeros(300, np.int64)
    for raw, learn in cfg.learning_map.items():
        lut[raw] = learn
    with zipfile.ZipFile(z) as zf:
        names = sorted(zf.namelist())
        assert names == ['description.txt', 'sequences/11/predictions/000000.label',
                         'sequences/12/predictions/000005.label']
        for (seq, fid), p in preds.items():
            raw = np.frombuffer(zf.read(f'sequences/{seq}/predictions/{fid}.label'), np.uint16)
            assert raw.size == p.size
            assert np.array_equal(lut[raw].reshape(p.shape), p)  # back through the learning map
            assert set(np.unique(raw)) <= set(cfg.learning_map_inv.values())
