"""The contract harness itself (geoperc.testing.contract): it generates what each output kind needs from
the declared attributes alone, a model keeping the contract passes, and each broken promise is caught."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData, PixelData

from geoperc.models.base import DENSE_REGRESSION, ROTATED_BOXES, VOXEL_LABELS, BaseDenseModel, BaseGeoModel
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.testing.contract import contract_spec, make_contract_batch, run_contract, tiny_model_cfg


def _pre(c, d=8):
    return dict(type=GeoDataPreprocessor, mean=[128.0] * c, std=[64.0] * c, pad_size_divisor=d)


class _Seg(BaseDenseModel):
    """Two-date change segmenter: dates stacked along channels, 3x3 conv, softmax."""
    num_dates = 2
    contract_input = dict(size=(30, 40))  # rounded up to the size divisor (8): 32 x 40

    def __init__(self, in_channels=3, num_classes=2, unused=False, crop=True, normalise=True):
        super().__init__(in_channels, num_classes, data_preprocessor=_pre(in_channels))
        self.conv = nn.Conv2d(2 * in_channels, num_classes, 3, padding=1)
        self.spare = nn.Linear(2, 2) if unused else None
        self.crop, self.normalise = crop, normalise

    def _forward(self, inputs, data_samples=None):
        return self.conv(inputs.flatten(1, 2))

    def loss(self, inputs, data_samples):
        gt = torch.cat([s.gt_sem_seg.data for s in data_samples]).long()
        return dict(loss_ce=F.cross_entropy(self._forward(inputs), gt, ignore_index=255))

    def predict_dense(self, inputs):
        out = self._forward(inputs)
        return out.softmax(1) if self.normalise else out

    def postprocess(self, out, data_samples):
        if self.crop:
            return super().postprocess(out, data_samples)
        for i, s in enumerate(data_samples):
            s.pred_probs = PixelData(data=out[i])
            s.pred_sem_seg = PixelData(data=out[i].argmax(0, keepdim=True))
        return data_samples


class _Depth(BaseDenseModel):
    output_kind = DENSE_REGRESSION
    contract_input = dict(size=(32, 64), depth_range=(0.3, 8.0))

    def __init__(self, in_channels=3):
        super().__init__(in_channels, 0, data_preprocessor=_pre(in_channels))
        self.conv = nn.Conv2d(in_channels, 1, 3, padding=1)

    def _forward(self, inputs, data_samples=None):
        return F.softplus(self.conv(inputs))

    def loss(self, inputs, data_samples):
        gt = torch.stack([s.gt_depth.data for s in data_samples])
        valid = torch.stack([s.depth_valid.data for s in data_samples])
        assert valid.dtype == torch.bool and (gt[valid] > 0).all() and (gt[~valid] == 0).all()
        return dict(loss_l1=(self._forward(inputs) - gt).abs()[valid].mean())

    def predict_dense(self, inputs):
        return self._forward(inputs)


class _Boxes(BaseGeoModel):
    """Predicts 4 le90 boxes per image from pooled features."""
    output_kind = ROTATED_BOXES
    contract_input = dict(size=(48, 48), num_boxes=2, instance_fields=dict(embeds=dict(dim=6, unit=True)))

    def __init__(self, in_channels=3, num_classes=5, angle_scale=1.0):
        super().__init__(in_channels, num_classes, data_preprocessor=_pre(in_channels, 16))
        self.head = nn.Linear(in_channels, 4 * (5 + num_classes))
        self.angle_scale = angle_scale

    def _forward(self, inputs, data_samples=None):
        out = self.head(inputs.mean((2, 3))).view(inputs.shape[0], 4, -1)
        box = torch.cat([torch.sigmoid(out[..., :2]) * 48, F.softplus(out[..., 2:4]) * 8,
                         torch.tanh(out[..., 4:5]) * math.pi / 2 * self.angle_scale], -1)
        return box, out[..., 5:]

    def loss(self, inputs, data_samples):
        box, cls = self._forward(inputs)
        gt = [s.gt_instances for s in data_samples]
        assert all(g.bboxes.shape[1] == 5 and g.labels.dtype == torch.int64 for g in gt)
        assert all(g.embeds.shape == (len(g), 6) and torch.allclose(g.embeds.norm(dim=1), torch.ones(len(g)))
                   for g in gt)
        assert all(((g.bboxes[:, 4] >= -math.pi / 2) & (g.bboxes[:, 4] < math.pi / 2)).all() for g in gt)
        l_box = sum((box[i, :len(g)] - g.bboxes[:4]).abs().mean() for i, g in enumerate(gt))
        l_cls = sum(F.cross_entropy(cls[i, :len(g)], g.labels[:4]) for i, g in enumerate(gt))
        return dict(loss_bbox=l_box, loss_cls=l_cls)

    def predict(self, inputs, data_samples=None):
        box, cls = self._forward(inputs)
        samples = self.new_samples(data_samples, inputs.shape[0])
        for i, s in enumerate(samples):
            score, label = cls[i].softmax(-1).max(-1)
            s.pred_instances = InstanceData(bboxes=box[i], scores=score, labels=label)
        return samples


class _Occ(BaseGeoModel):
    """Voxel classes from pooled image features; needs the camera the contract passes as metainfo."""
    output_kind = VOXEL_LABELS
    contract_input = dict(size=(32, 32), grid_shape=(4, 4, 2),
                          metainfo=dict(cam_K=[[20.0, 0, 16], [0, 20.0, 16], [0, 0, 1]], voxel_size=0.2))

    def __init__(self, in_channels=3, num_classes=4):
        super().__init__(in_channels, num_classes, data_preprocessor=_pre(in_channels))
        self.head = nn.Linear(in_channels + 1, 4 * 4 * 2 * num_classes)

    def _forward(self, inputs, data_samples=None):
        f = torch.tensor([s.metainfo['cam_K'][0][0] / 100 for s in data_samples], dtype=inputs.dtype)
        x = torch.cat([inputs.mean((2, 3)), f[:, None]], 1)
        return self.head(x).view(-1, self.num_classes, 4, 4, 2)

    def loss(self, inputs, data_samples):
        gt = torch.stack([s.gt_occ.data for s in data_samples])
        return dict(loss_ssc=F.cross_entropy(self._forward(inputs, data_samples), gt, ignore_index=255))

    def predict(self, inputs, data_samples=None):
        out = self._forward(inputs, data_samples).argmax(1)
        for i, s in enumerate(data_samples):
            s.pred_occ = PixelData(data=out[i])
        return data_samples


def _optim(model):
    return build_optim_wrapper(model, dict(optimizer=dict(type=torch.optim.SGD, lr=0.1)))


@pytest.mark.parametrize('cls', [_Seg, _Depth, _Boxes, _Occ], ids=lambda c: c.output_kind)
def test_a_model_keeping_the_contract_passes(cls):
    torch.manual_seed(0)
    model = cls()
    run_contract(model, _optim(model), who=cls.__name__)


def test_batch_follows_the_declarations():
    seg = _Seg(in_channels=4)
    assert contract_spec(seg)['size'] == (32, 40)
    b = make_contract_batch(seg, batch=3, seed=5, ragged=True)
    assert [tuple(x.shape) for x in b['inputs']] == [(2, 4, 32, 40), (2, 4, 28, 36), (2, 4, 32, 40)]
    assert all(x.dtype == torch.uint8 for x in b['inputs'])
    labels = torch.cat([s.gt_sem_seg.data.flatten() for s in b['data_samples']])
    assert set(labels.unique().tolist()) == {0, 1, 255}
    again = make_contract_batch(seg, batch=3, seed=5, ragged=True)
    assert all(torch.equal(x, y) for x, y in zip(b['inputs'], again['inputs']))  # seeded
    occ = make_contract_batch(_Occ(), batch=1)['data_samples'][0]
    assert tuple(occ.gt_occ.data.shape) == (4, 4, 2) and occ.metainfo['cam_K'][0][0] == 20.0
    box = make_contract_batch(_Boxes(), batch=1)['data_samples'][0].gt_instances.bboxes
    r = torch.hypot(box[:, 2], box[:, 3]) / 2
    assert box.shape == (2, 5) and ((box[:, 0] - r) >= 0).all() and ((box[:, 0] + r) <= 48).all()


@pytest.mark.parametrize('broken,match', [
    (lambda: _Seg(normalise=False), 'pred_probs'),        # logits, not probabilities
    (lambda: _Seg(crop=False), r'expected \(K, 28, 36\)'),  # padding left on the smaller sample
    (lambda: _Seg(unused=True), 'get no gradient'),       # a parameter outside the loss (DDP would hang)
    (lambda: _Boxes(angle_scale=3.0), 'le90'),            # angles outside [-pi/2, pi/2]
])
def test_each_broken_promise_is_caught(broken, match):
    torch.manual_seed(0)
    model = broken()
    with pytest.raises(AssertionError, match=match):
        run_contract(model, _optim(model), who='broken')


def test_losses_must_be_named_and_finite():
    from geoperc.testing.contract import check_losses
    with pytest.raises(AssertionError, match='no loss_'):
        check_losses(dict(total=torch.tensor(1.0)))
    with pytest.raises(AssertionError, match='not finite'):
        check_losses(dict(loss_x=torch.tensor(float('nan'))))
    check_losses(dict(loss_aux=[torch.tensor(1.0), torch.tensor(2.0)], acc=3))


def test_contract_tiny_merges_into_the_model_config():
    cfg = dict(type='M', channels=256, backbone=dict(type='B', embed_dim=128, depths=(2, 2, 18, 2), pretrained=None))
    tiny = tiny_model_cfg(cfg, dict(channels=32, backbone=dict(embed_dim=16, depths=(1, 1, 1, 1))))
    assert tiny == dict(type='M', channels=32, backbone=dict(type='B', embed_dim=16, depths=(1, 1, 1, 1),
                                                             pretrained=None))
    assert cfg['backbone']['embed_dim'] == 128  # the config itself is untouched
