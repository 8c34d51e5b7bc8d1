"""MutDet modules: the two-way block against a hand-written reference, permutation behaviour, the
enhanced proposal scores and the InfoNCE alignment against hand computations."""
import math

import numpy as np
import torch

from geoperc.models.detection.mutdet_modules import (EmbeddingMLP, MutualEnhancement, TwoWayBlock,
                                                     enhanced_proposal_scores, info_nce)


def _ref_attn(att, q, k, v, heads):
    """Multi-head attention written out: per head softmax(q k^T / sqrt(d)) v, then the output layer."""
    Q = q @ att.q_proj.weight.T + att.q_proj.bias
    K = k @ att.k_proj.weight.T + att.k_proj.bias
    V = v @ att.v_proj.weight.T + att.v_proj.bias
    d = Q.shape[-1] // heads
    outs = []
    for h in range(heads):
        s = slice(h * d, (h + 1) * d)
        w = torch.softmax(Q[:, s] @ K[:, s].T / math.sqrt(d), dim=-1)
        outs.append(w @ V[:, s])
    return torch.cat(outs, -1) @ att.out_proj.weight.T + att.out_proj.bias


def _ln(ln, x):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def _ref_block(blk, o, m, heads):
    o = _ln(blk.norm1, o + _ref_attn(blk.self_attn, o, o, o, heads))
    o = _ln(blk.norm2, o + _ref_attn(blk.cross_attn_obj_to_mem, o, m, m, heads))
    hid = torch.relu(o @ blk.mlp[0].weight.T + blk.mlp[0].bias)
    o = _ln(blk.norm3, o + hid @ blk.mlp[2].weight.T + blk.mlp[2].bias)
    m = _ln(blk.norm4, m + _ref_attn(blk.cross_attn_mem_to_obj, m, o, o, heads))
    return o, m


def _randomise(mod, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def test_two_way_block_matches_reference():
    torch.manual_seed(0)
    blk = TwoWayBlock(16, 4, 32).double()
    _randomise(blk)
    o, m = torch.randn(5, 16).double(), torch.randn(11, 16).double()
    go, gm = blk(o[None], m[None])
    ro, rm = _ref_block(blk, o, m, 4)
    assert torch.allclose(go[0], ro, atol=1e-10) and torch.allclose(gm[0], rm, atol=1e-10)


def test_enhancement_depth_and_per_image():
    torch.manual_seed(0)
    me = MutualEnhancement(16, depth=3, num_heads=4, mlp_dim=32).double()
    _randomise(me, 1)
    assert len(me.layers) == 3
    o, m = torch.randn(4, 16).double(), torch.randn(2, 9, 16).double()
    ro, rm = o, m[0]
    for blk in me.layers:
        ro, rm = _ref_block(blk, ro, rm, 4)
    objs, mem = me.per_image([o, o[:0]], m)
    assert torch.allclose(objs[0], ro, atol=1e-10) and torch.allclose(mem[0], rm, atol=1e-10)
    # an image without objects keeps its memory
    assert objs[1].shape == (0, 16) and torch.equal(mem[1], m[1])


def test_permutation_behaviour_no_positional_encoding():
    torch.manual_seed(0)
    me = MutualEnhancement(32, depth=2, num_heads=8, mlp_dim=64).double()
    o, m = torch.randn(1, 6, 32).double(), torch.randn(1, 20, 32).double()
    eo, em = me(o, m)
    po, pm = torch.randperm(6), torch.randperm(20)
    eo2, em2 = me(o[:, po], m)
    # permuting objects permutes the enhanced objects and leaves the enhanced memory unchanged
    assert torch.allclose(eo2, eo[:, po], atol=1e-10) and torch.allclose(em2, em, atol=1e-10)
    eo3, em3 = me(o, m[:, pm])
    assert torch.allclose(eo3, eo, atol=1e-10) and torch.allclose(em3, em[:, pm], atol=1e-10)
    # and the objects do change the memory (the two ways interact)
    _, em4 = me(o + 1.0, m)
    assert not torch.allclose(em4, em)


def test_enhanced_proposal_scores_by_hand():
    tok = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    obj = torch.tensor([[3.0, 0.0], [0.0, -1.0]])
    logit = torch.tensor([2.0, -1.0, 0.5])
    s = enhanced_proposal_scores(tok, obj, logit)
    # max cosines: token0 1 (obj0), token1 max(0, -1) = 0, token2 max(1/sqrt2, -1/sqrt2)
    assert torch.allclose(s, torch.tensor([2.0, 0.0, 0.5 / math.sqrt(2)]))
    s = enhanced_proposal_scores(tok, obj, logit, mode='sigmoid')
    assert torch.allclose(s, torch.tensor([1.0, 0.0, 1 / math.sqrt(2)]) * logit.sigmoid())
    assert torch.equal(enhanced_proposal_scores(tok, obj[:0], logit), logit)
    # top-k selection by these scores picks tokens similar to the objects
    big = torch.randn(50, 8)
    objs = big[[3, 17]] * 2
    top = enhanced_proposal_scores(big, objs, torch.ones(50)).topk(2).indices
    assert set(top.tolist()) == {3, 17}


def test_info_nce_by_hand():
    rng = np.random.default_rng(0)
    z, o = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    on = o / np.linalg.norm(o, axis=1, keepdims=True)
    tau = 0.2
    L = zn @ on.T / tau

    def ce(logits):
        return np.mean([-logits[i, i] + np.log(np.exp(logits[i]).sum()) for i in range(len(logits))])
    expect = 0.4 * ce(L) + 0.4 * ce(L.T)
    loss, pos, neg = info_nce(torch.tensor(z), torch.tensor(o), tau=0.2)
    assert abs(loss.item() - expect) < 1e-10
    C = zn @ on.T
    assert abs(pos.item() - np.trace(C) / 4) < 1e-10
    assert abs(neg.item() - (C.sum() - np.trace(C)) / 12) < 1e-10
    # gradients reach both sides (targets are not detached)
    zt, ot = torch.tensor(z, requires_grad=True), torch.tensor(o, requires_grad=True)
    info_nce(zt, ot)[0].backward()
    assert zt.grad.abs().sum() > 0 and ot.grad.abs().sum() > 0
    # aligned pairs give a lower loss than shuffled ones
    assert info_nce(torch.tensor(o), torch.tensor(o))[0] < loss
    # no pairs: zero loss connected to the graph
    e = torch.zeros(0, 3, requires_grad=True)
    zl = info_nce(e, torch.zeros(0, 3))[0]
    assert zl.item() == 0 and zl.requires_grad


def test_embedding_mlp_shapes():
    m = EmbeddingMLP(256, 1024, 256)
    assert m(torch.randn(2, 7, 256)).shape == (2, 7, 256)
    assert m.fc1.weight.shape == (1024, 256) and m.fc2.weight.shape == (256, 1024)
