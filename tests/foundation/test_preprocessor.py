"""GeoDataPreprocessor: any band count, nodata (integer or NaN) -> valid mask + ignored labels, padding."""
import pytest
import torch
from mmengine.structures import PixelData

from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.structures import GeoDataSample


@pytest.mark.parametrize('nodata', [0, float('nan')])
def test_nodata_mask_padding_and_labels(nodata):
    pre = GeoDataPreprocessor(mean=[10.0] * 5, std=[2.0] * 5, pad_size_divisor=8)
    img = torch.full((2, 5, 6, 7), 12.0)
    img[1, :, 0, 0] = nodata            # date 2 has no data at (0, 0)
    img[0, :2, 1, 1] = nodata           # only some bands: still valid
    s = GeoDataSample(metainfo=dict(nodata=nodata))
    s.gt_sem_seg = PixelData(data=torch.ones(1, 6, 7, dtype=torch.long))
    out = pre(dict(inputs=[img], data_samples=[s]))
    x, s = out['inputs'], out['data_samples'][0]
    assert x.shape == (1, 2, 5, 8, 8)
    assert torch.isfinite(x).all()
    assert x[0, :, :, 0, 0].abs().max() == 0 and x[0, 0, 2, 1, 1] == 1.0   # (12 - 10) / 2
    valid = s.valid_mask.data[0]
    assert not valid[0, 0] and valid[1, 1] and valid.sum() == 6 * 7 - 1
    gt = s.gt_sem_seg.data[0]
    assert gt.shape == (8, 8) and gt[0, 0] == 255 and gt[1, 1] == 1 and (gt[6:] == 255).all()
    assert s.metainfo['padding'] == (0, 2, 0, 1) and s.metainfo['img_shape'] == (6, 7)


def test_band_count_mismatch_names_the_file():
    pre = GeoDataPreprocessor(mean=[0.0] * 3, std=[1.0] * 3)
    s = GeoDataSample(metainfo=dict(img_path=['a.tif', 'b.tif']))
    with pytest.raises(ValueError, match="a.tif.*4 bands.*3 mean"):
        pre(dict(inputs=[torch.zeros(2, 4, 4, 4)], data_samples=[s]))
