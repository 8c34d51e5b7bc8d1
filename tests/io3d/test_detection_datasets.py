"""DOTA and DIOR-R readers on generated copies of the release formats."""
import numpy as np
import pytest

from geoperc.datasets.detection import (DIOR_R_CLASSES, DOTA_V1_CLASSES, DOTA_V15_CLASSES, DIORRDataset, DOTADataset,
                                        parse_dior_r_xml, parse_dota_txt, polygons_to_le90)
from geoperc.ops.rotated import rbox_to_corners
from geoperc.registry import DATASETS
from geoperc.testing.formats3d import write_dior_r, write_dota


def same_quad(a, b, tol=1e-3):
    """Equal as corner sets (order-free)."""
    a, b = np.asarray(a).reshape(4, 2), np.asarray(b).reshape(4, 2)
    return all(np.min(np.linalg.norm(b - p, axis=1)) < tol for p in a)


def test_parse_dota_txt(tmp_path):
    truth = write_dota(str(tmp_path))
    ann = parse_dota_txt(str(tmp_path / 'labelTxt' / 'P0001.txt'))
    assert ann['imagesource'] == 'GoogleEarth' and ann['gsd'] == pytest.approx(0.146343590398)
    assert [(o[1], o[2]) for o in ann['objects']] == [('plane', 0), ('ship', 1)]
    np.testing.assert_allclose(ann['objects'][0][0], truth['P0001'][0][0])
    ann2 = parse_dota_txt(str(tmp_path / 'labelTxt' / 'P0002.txt'))
    assert ann2['objects'][0][2] == 0  # 9-field line: difficulty defaults to 0
    assert len(ann2['objects']) == 2  # the short "garbage line" is skipped like the devkit does
    (tmp_path / 'x.txt').write_text('imagesource:GF\ngsd:null\n1 2 3 4 5 6 7 8 bridge 0\n')
    assert parse_dota_txt(str(tmp_path / 'x.txt'))['gsd'] is None


def test_dota_dataset(tmp_path):
    truth = write_dota(str(tmp_path))
    ds = DATASETS.build(dict(type='DOTADataset', data_root=str(tmp_path)))
    assert len(ds) == 2 and ds.metainfo['classes'] == DOTA_V1_CLASSES
    item = ds[0]
    assert item['img_id'] == 'P0001' and item['img_path'].endswith('images/P0001.png')
    inst = item['instances']
    assert [i['bbox_label'] for i in inst] == [DOTA_V1_CLASSES.index('plane'), DOTA_V1_CLASSES.index('ship')]
    assert [i['difficulty'] for i in inst] == [0, 1] and [i['ignore_flag'] for i in inst] == [0, 0]
    for i, (poly, _, _) in zip(inst, truth['P0001']):
        b = np.array(i['bbox'])
        assert b[2] >= b[3] and -np.pi / 2 <= b[4] < np.pi / 2  # le90
        assert same_quad(rbox_to_corners(b[None])[0], poly, tol=1.0)  # integer-rounded rectangles
        np.testing.assert_allclose(i['polygon'], poly)
    strict = DOTADataset(str(tmp_path), diff_thr=0)  # the devkit's evaluation ignores difficult objects
    assert [i['ignore_flag'] for i in strict[0]['instances']] == [0, 1]
    # test images without labels
    unl = DOTADataset(str(tmp_path), data_prefix=dict(ann=None), test_mode=True)
    assert len(unl) == 2 and unl[1]['instances'] == []


def test_dota_versions_and_errors(tmp_path):
    write_dota(str(tmp_path), {'P9': [(20, 20, 16, 8, 0.2, 'container-crane', 0)]}, header=False,
               float_coords=True)
    with pytest.raises(ValueError, match='container-crane'):
        DOTADataset(str(tmp_path))
    ds = DOTADataset(str(tmp_path), version='1.5')
    assert ds[0]['instances'][0]['bbox_label'] == DOTA_V15_CLASSES.index('container-crane')
    assert ds[0]['gsd'] is None and ds[0]['imagesource'] is None
    assert DOTADataset(str(tmp_path), unknown_classes='skip')[0]['instances'] == []
    with pytest.raises(ValueError, match='no image with objects'):
        DOTADataset(str(tmp_path), unknown_classes='skip', filter_empty_gt=True)
    (tmp_path / 'labelTxt' / 'P404.txt').write_text('1 1 2 1 2 2 1 2 plane 0\n')
    with pytest.raises(FileNotFoundError, match='P404'):
        DOTADataset(str(tmp_path), version='1.5')
    with pytest.raises(ValueError, match='version'):
        DOTADataset(str(tmp_path), version='3.0')


def test_polygons_to_le90_exact_rectangle():
    a = 0.4
    c, s = np.cos(a), np.sin(a)
    poly = np.array([[-c * 5 + s * 2, -s * 5 - c * 2], [c * 5 + s * 2, s * 5 - c * 2],
                     [c * 5 - s * 2, s * 5 + c * 2], [-c * 5 - s * 2, -s * 5 + c * 2]]) + [50, 60]
    box = polygons_to_le90(poly.reshape(1, 8))[0]
    np.testing.assert_allclose(box, [50, 60, 10, 4, a], atol=1e-3)
    assert polygons_to_le90(np.zeros((0, 8))).shape == (0, 5)


def test_dior_r(tmp_path):
    truth = write_dior_r(str(tmp_path), {'train': 2, 'val': 1, 'test': 1})
    ann = parse_dior_r_xml(str(tmp_path / 'Annotations' / 'Oriented Bounding Boxes' / '00001.xml'))
    assert ann['width'] == 32 and ann['height'] == 32 and len(ann['objects']) == 2
    np.testing.assert_allclose(ann['objects'][0][0], truth['00001'][0][0])
    tv = DATASETS.build(dict(type='DIORRDataset', data_root=str(tmp_path), split='trainval'))
    assert len(tv) == 3 and tv.metainfo['classes'] == DIOR_R_CLASSES  # train.txt + val.txt
    item = tv[2]
    assert item['img_id'] == '00003' and 'JPEGImages-trainval' in item['img_path'] and item['width'] == 32
    names = [DIOR_R_CLASSES[i['bbox_label']] for i in item['instances']]
    assert names == [o[1] for o in truth['00003']]  # mixed-case XML names are lower-cased
    assert [i['difficulty'] for i in item['instances']] == [0, 1]
    for inst, (poly, _, _) in zip(item['instances'], truth['00003']):
        assert same_quad(rbox_to_corners(np.array(inst['bbox'])[None])[0], poly, tol=0.2)
    test = DIORRDataset(str(tmp_path), split='test')
    assert len(test) == 1 and 'JPEGImages-test' in test[0]['img_path'] and test[0]['img_id'] == '00004'
    assert len(DIORRDataset(str(tmp_path), split='train')) == 2


def test_dior_r_errors(tmp_path):
    write_dior_r(str(tmp_path), {'train': 1})
    xml = tmp_path / 'Annotations' / 'Oriented Bounding Boxes' / '00001.xml'
    xml.write_text(xml.read_text().replace('<name>', '<name>Spaceport', 1))
    with pytest.raises(ValueError, match='not a DIOR-R class'):
        DIORRDataset(str(tmp_path), split='train')
    xml.write_text('<annotation><object><name>ship</name><bndbox><xmin>1</xmin></bndbox></object></annotation>')
    with pytest.raises(ValueError, match='robndbox'):
        DIORRDataset(str(tmp_path), split='train')
    with pytest.raises(FileNotFoundError, match='val.txt'):
        DIORRDataset(str(tmp_path), split='val')
