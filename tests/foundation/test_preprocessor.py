"""GeoDataPreprocessor: any band count, nodata (integer or NaN) -> valid mask + ignored labels, padding."""
import pytest
import torch
from mmengine.structures import PixelData

from geoperc.errors import RasterError
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
    with pytest.raises(RasterError, match="a.tif.*4 bands.*3 mean"):
        pre(dict(inputs=[torch.zeros(2, 4, 4, 4)], data_samples=[s]))


def _reference(pre, img, nodata):
    """The per-sample rule, written out plainly: what the batched path must equal."""
    x = img.double()
    per_date = x if x.dim() == 4 else x[None]
    hit = torch.isnan(per_date) if nodata != nodata else per_date == nodata
    valid = ~hit.all(1).any(0)
    x = x * pre.scale
    if pre.normalize:
        C = x.shape[-3]
        x = (x - pre.mean.double().view(C, 1, 1)) / pre.std.double().view(C, 1, 1)
    x = torch.where(valid & torch.isfinite(x), x, torch.zeros(()))
    return x.float(), valid


@pytest.mark.parametrize('dtype', [torch.uint8, torch.int32, torch.float32])
@pytest.mark.parametrize('dates', [1, 2])
def test_batched_equals_per_sample_rule(dtype, dates):
    g = torch.Generator().manual_seed(0)
    pre = GeoDataPreprocessor(mean=[30.0, 40.0, 50.0], std=[5.0, 10.0, 20.0], scale=0.5, pad_size_divisor=4)
    shape = (dates, 3, 9, 10) if dates > 1 else (3, 9, 10)
    imgs = [torch.randint(0, 200, shape, generator=g).to(dtype) for _ in range(4)]
    for k, img in enumerate(imgs):
        img[..., k, :3] = 0                       # nodata pixels (all bands)
    if dtype == torch.float32:
        imgs[1][..., 0, 5, 5] = float('nan')      # one non-finite band of a valid pixel
    before = [i.clone() for i in imgs]
    samples = [GeoDataSample(metainfo=dict(nodata=0)) for _ in imgs]
    out = pre(dict(inputs=imgs, data_samples=samples))
    x = out['inputs']
    assert x.dtype == torch.float32 and x.shape == (4, *shape[:-2], 12, 12)
    for k, (img, s) in enumerate(zip(imgs, out['data_samples'])):
        ref, valid = _reference(pre, before[k], 0)
        torch.testing.assert_close(x[k, ..., :9, :10], ref, rtol=1e-6, atol=1e-5)
        assert (x[k, ..., 9:, :] == 0).all() and (x[k, ..., 10:] == 0).all()
        vm = s.valid_mask.data[0]
        assert vm.shape == (12, 12) and torch.equal(vm[:9, :10], valid) and not vm[9:].any()
        assert s.metainfo['img_shape'] == (9, 10) and s.metainfo['pad_shape'] == (12, 12)
        assert torch.equal(img, before[k]) or dtype == torch.float32 and torch.equal(
            torch.nan_to_num(img), torch.nan_to_num(before[k]))   # the caller's tensors are not modified


def test_batch_tensor_with_batch_valid_mask_and_no_samples():
    """What tiled inference sends: one (B, C, H, W) tensor in the file dtype, the reader's validity."""
    pre = GeoDataPreprocessor(mean=[100.0] * 3, std=[50.0] * 3, pad_size_divisor=16)
    x = torch.full((2, 3, 20, 20), 150, dtype=torch.uint8)
    valid = torch.ones(2, 20, 20, dtype=torch.bool)
    valid[1, :5] = False
    out = pre(dict(inputs=x, valid_mask=valid), False)
    assert out['data_samples'] is None and out['inputs'].shape == (2, 3, 32, 32)
    assert (out['inputs'][0, :, :20, :20] == 1).all() and (out['inputs'][1, :, :5] == 0).all()
    assert out['valid_mask'].shape == (2, 32, 32) and out['valid_mask'][0, :20, :20].all()
    assert not out['valid_mask'][1, :5].any() and not out['valid_mask'][:, 20:].any()
    assert (x == 150).all()


def test_no_normalisation_and_scale():
    img = torch.tensor([[[0, 51, 255]]], dtype=torch.uint8).expand(3, 1, 3).contiguous()
    out = GeoDataPreprocessor()(dict(inputs=[img]))['inputs']
    assert torch.equal(out[0], img.float())                      # mean/std None: values as read
    out = GeoDataPreprocessor(scale=1 / 255)(dict(inputs=[img]))['inputs']
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.2, 1.0]))   # RGB / 255 (OmniFusion)
    out = GeoDataPreprocessor(mean=[0.5] * 3, std=[0.25] * 3, scale=1 / 255)(dict(inputs=[img]))['inputs']
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([-2.0, -1.2, 2.0]))  # scale, then mean/std
    with pytest.raises(ValueError, match='both mean and std'):
        GeoDataPreprocessor(mean=[1.0])


def test_targets_by_kind():
    from mmengine.structures import BaseDataElement, InstanceData
    pre = GeoDataPreprocessor(mean=[10.0] * 2, std=[2.0] * 2, pad_size_divisor=8)
    img = torch.full((2, 5, 6), 12.0)
    img[:, 0, 0] = 0
    s = GeoDataSample(metainfo=dict(nodata=0))
    s.gt_depth = PixelData(data=torch.full((1, 5, 6), 7.5))
    s.gt_sem_seg = PixelData(data=torch.ones(1, 5, 6, dtype=torch.long))
    boxes = torch.tensor([[2.5, 3.0, 2.0, 1.0, 0.3]])
    s.gt_instances = InstanceData(bboxes=boxes.clone(), labels=torch.tensor([1]))
    occ = torch.randint(0, 5, (4, 4, 2))
    s.gt_occ = BaseDataElement(data=occ.clone())
    s = pre(dict(inputs=[img], data_samples=[s]))['data_samples'][0]
    d = s.gt_depth.data[0]
    assert d.shape == (8, 8) and d[0, 0] == 0 and d[1, 1] == 7.5       # never normalised; invalid -> 0
    assert (d[5:] == 0).all() and (d[:, 6:] == 0).all()                 # padding is invalid depth 0
    assert not s.valid_mask.data[0, 5:].any() and not s.valid_mask.data[0, :, 6:].any()
    gt = s.gt_sem_seg.data[0]
    assert gt[0, 0] == 255 and gt[1, 1] == 1 and (gt[5:] == 255).all()
    assert torch.equal(s.gt_instances.bboxes, boxes)                   # bottom/right padding: unchanged
    assert torch.equal(s.gt_occ.data, occ)                             # voxels untouched


def test_samples_of_different_sizes_pad_to_the_largest():
    pre = GeoDataPreprocessor(pad_size_divisor=1)
    a, b = torch.full((3, 4, 5), 9, dtype=torch.uint8), torch.full((3, 6, 3), 9, dtype=torch.uint8)
    samples = [GeoDataSample(), GeoDataSample()]
    out = pre(dict(inputs=[a, b], data_samples=samples))
    assert out['inputs'].shape == (2, 3, 6, 5)
    v0, v1 = (s.valid_mask.data[0] for s in out['data_samples'])
    assert v0[:4, :5].all() and not v0[4:].any() and v1[:, :3].all() and not v1[:, 3:].any()
    assert out['data_samples'][0].metainfo['img_shape'] == (4, 5)
    assert out['data_samples'][1].metainfo['padding'] == (0, 0, 0, 2)
