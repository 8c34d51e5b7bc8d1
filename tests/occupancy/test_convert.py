"""The official-checkpoint converter: a random state dict with exactly the official keys and shapes
(fixtures/official/vpocc.tsv), saved as a Lightning checkpoint, converts and loads into VPOcc with strict=True."""
import os

import pytest
import torch

from geoperc.models.occupancy.convert_vpocc import DROPPED, convert

TSV = '/work/shared/fixtures/official/vpocc.tsv'


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


@pytest.mark.skipif(not os.path.isfile(TSV), reason='official key list not available')
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
