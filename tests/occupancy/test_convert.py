"""The official-checkpoint converter: a random state dict with exactly the official keys and shapes
(fixtures/official/vpocc.tsv), saved as a Lightning checkpoint, converts and loads into VPOcc with strict=True."""
import os

import pytest
import torch

from geoperc.models.occupancy.convert_vpocc import DROPPED, convert

TSV = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'official', 'vpocc.tsv')


def official_state():
    state = {}
    g = torch.Generator().manual_seed(0)
    with open(TSV, encoding='utf-8') as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            key, shape, dtype = line.rstrip('\n').split('\t')
            dims = () if shape == 'scalar' else tuple(int(s) for s in shape.split('x'))
            if dtype == 'int64':
                state[key] = torch.randint(0, 100, dims, generator=g)
            else:
                state[key] = torch.randn(dims, generator=g)
    return state


def test_convert_and_strict_load(tmp_path):
    from geoperc.models.convert import convert_file
    from geoperc.models.occupancy import VPOcc
    state = official_state()
    assert len(state) == 794
    ckpt = tmp_path / 'vpocc.ckpt'
    torch.save({'state_dict': {'model.' + k: v for k, v in state.items()}, 'epoch': 29}, ckpt)
    report = convert_file('vpocc', str(ckpt), str(tmp_path / 'out.pth'))
    assert report['unmatched'] == [] and sorted(report['dropped']) == sorted(DROPPED)
    new = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    model = VPOcc()
    model.load_state_dict(new, strict=True)
    own = model.state_dict()
    k = 'decoder.voxel_proposal.attn.attn.attention_weights.weight'
    assert torch.equal(own[k], state[k])
    assert torch.equal(own['encoder.backbone.layer3.2.conv2.weight'], state['encoder.model.backbone.layer3.2.conv2.weight'])
    assert torch.equal(own['encoder.pixel_decoder.transformer.encoder.layers.5.ffn.layers.0.0.weight'],
                       state['encoder.model.panoptic_head.pixel_decoder.transformer.encoder.layers.5.ffn.layers.0.0.weight'])
    assert sum(p.numel() for p in model.parameters()) == 110_596_468


def test_report_names_unknown_keys():
    new, rep = convert({'model.decoder.scene_embed.weight': torch.zeros(2, 2), 'model.foo.bar': torch.zeros(1)})
    assert list(new) == ['decoder.scene_embed.weight'] and rep['unmatched'] == ['foo.bar']


def test_maskdino_encoder_from_local_file(tmp_path):
    from geoperc.errors import CheckpointError
    from geoperc.models.occupancy import VPOccImageEncoder
    kw = dict(embed_dims=16, depth=18, hidden_dims=32, num_encoder_layers=1, ffn_dims=64, gn_groups=8)
    src = VPOccImageEncoder(**kw)
    g = torch.Generator().manual_seed(1)
    ck = {}
    for k, v in src.backbone.state_dict().items():
        ck['backbone.' + k] = torch.randn(v.shape, generator=g) if v.is_floating_point() else v
    for k, v in src.pixel_decoder.state_dict().items():
        ck['panoptic_head.pixel_decoder.' + k] = torch.randn(v.shape, generator=g)
    ck['panoptic_head.predictor.class_embed.weight'] = torch.zeros(3, 3)  # MaskDINO's mask decoder: ignored
    torch.save({'state_dict': ck}, tmp_path / 'maskdino.pth')
    enc = VPOccImageEncoder(**kw, pretrained=str(tmp_path / 'maskdino.pth'))
    assert torch.equal(enc.backbone.layer2[0].conv1.weight, ck['backbone.layer2.0.conv1.weight'])
    assert torch.equal(enc.pixel_decoder.transformer.level_embed, ck['panoptic_head.pixel_decoder.transformer.level_embed'])
    with pytest.raises(CheckpointError, match='never downloaded'):
        VPOccImageEncoder(**kw, pretrained=str(tmp_path / 'missing.pth'))
