"""MutDet's own modules: the mutual enhancement module, the enhanced-branch proposal scoring and the
symmetric InfoNCE alignment loss.

From the official code as read for this project (MutDet, Huang
et al., ECCV 2024):

* :class:`MutualEnhancement` -- a SAM-style two-way transformer (``TwoWayTransformer``): ``depth``
  blocks (3 in the pre-training config), each (1) self-attention on the object embeddings O, add &
  LayerNorm; (2) cross-attention O -> memory F, add & LN; (3) MLP (``mlp_dim`` 2048, ReLU) on O, add & LN;
  (4) cross-attention F -> the updated O, add & LN. Plain multi-head attention with separate q / k / v /
  out projections, post-norm, **no positional encoding**, no attention mask. It runs per image because
  the number of objects varies; padded memory tokens take part as in the official code (they are
  zeroed before the projection, so they carry only the projection's bias).
* :func:`enhanced_proposal_scores` -- per memory token, the largest cosine between its predicted
  embedding (``MLP 256 -> 1024 -> 256``, L2-normalised) and the enhanced objects, times the class-0
  column of the encoder classifier (the raw *logit*, as the official code multiplies it, not its
  sigmoid; ``objectness='sigmoid'`` is the alternative).
* :func:`info_nce` -- the symmetric InfoNCE of matched pairs: ``2 tau CE(z o^T / tau) + 2 tau CE(o z^T /
  tau)`` with L2-normalised ``z`` (predictions) and ``o`` (targets: the *enhanced* object embeddings,
  not detached), tau 0.2; the official weight 2 tau is hard-coded there, a constructor argument here.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['TwoWayAttention', 'TwoWayBlock', 'MutualEnhancement', 'EmbeddingMLP', 'enhanced_proposal_scores',
           'info_nce', 'InfoNCEAlignment']


class TwoWayAttention(nn.Module):
    """Multi-head attention with separate q / k / v / out linear layers (SAM's ``Attention``)."""

    def __init__(self, dim: int = 256, num_heads: int = 8):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'num_heads ({num_heads}) must divide dim ({dim})')
        self.num_heads = num_heads
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        return x.reshape(B, N, self.num_heads, C // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        out = (attn @ v).transpose(1, 2).flatten(2)
        return self.out_proj(out)


class TwoWayBlock(nn.Module):
    """One two-way block: objects self-attend, attend to the memory, MLP; the memory attends back."""

    def __init__(self, dim: int = 256, num_heads: int = 8, mlp_dim: int = 2048):
        super().__init__()
        self.self_attn = TwoWayAttention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_obj_to_mem = TwoWayAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.ReLU(), nn.Linear(mlp_dim, dim))
        self.norm3 = nn.LayerNorm(dim)
        self.cross_attn_mem_to_obj = TwoWayAttention(dim, num_heads)
        self.norm4 = nn.LayerNorm(dim)

    def forward(self, obj: torch.Tensor, mem: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        obj = self.norm1(obj + self.self_attn(obj, obj, obj))
        obj = self.norm2(obj + self.cross_attn_obj_to_mem(obj, mem, mem))
        obj = self.norm3(obj + self.mlp(obj))
        mem = self.norm4(mem + self.cross_attn_mem_to_obj(mem, obj, obj))
        return obj, mem


class MutualEnhancement(nn.Module):
    """The mutual enhancement module: ``depth`` :class:`TwoWayBlock` s on (objects, memory).

    Args:
        dim: embedding width (the detector's 256; object embeddings must have it too).
        depth: blocks (official pre-training: 3).
        num_heads: attention heads (8).
        mlp_dim: MLP hidden width (2048).
    """

    def __init__(self, dim: int = 256, depth: int = 3, num_heads: int = 8, mlp_dim: int = 2048):
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(dim, num_heads, mlp_dim) for _ in range(depth))

    def forward(self, obj: torch.Tensor, mem: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``obj`` ``(B, N, C)``, ``mem`` ``(B, L, C)`` -> enhanced ``(obj, mem)``, same shapes."""
        for layer in self.layers:
            obj, mem = layer(obj, mem)
        return obj, mem

    def per_image(self, objs: Sequence[torch.Tensor], mem: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Objects of varying count per image: ``objs[i]`` ``(N_i, C)``, ``mem`` ``(B, L, C)`` ->
        (list of enhanced ``(N_i, C)``, enhanced memory ``(B, L, C)``). An image without objects keeps
        its memory (nothing to attend to)."""
        out_o, out_m = [], []
        for i, o in enumerate(objs):
            if o.shape[0] == 0:
                out_o.append(o)
                out_m.append(mem[i])
                continue
            eo, em = self(o[None].to(mem.dtype), mem[i:i + 1])
            out_o.append(eo[0])
            out_m.append(em[0])
        return out_o, torch.stack(out_m)


class EmbeddingMLP(nn.Module):
    """``Linear(dim, hidden) -> ReLU -> Linear(hidden, out)`` (official encoder embedding decoder:
    256 -> 1024 -> 256; the decoder-state embedding head is 256 -> 256 -> 256)."""

    def __init__(self, dim: int = 256, hidden: int = 1024, out: int = 256):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def enhanced_proposal_scores(token_embeds: torch.Tensor, objects: torch.Tensor, objectness: torch.Tensor,
                             mode: str = 'logit') -> torch.Tensor:
    """Proposal score of every memory token of one image.

    Args:
        token_embeds: ``(L, C)`` predicted embeddings of the tokens (normalised here).
        objects: ``(N, C)`` enhanced object embeddings (normalised here).
        objectness: ``(L,)`` class-0 column of the encoder classifier (logits).
        mode: ``'logit'`` (official: max cosine x logit) or ``'sigmoid'`` (max cosine x probability).

    Returns:
        ``(L,)`` scores; with no objects, the objectness alone.
    """
    if objects.shape[0] == 0:
        return objectness if mode == 'logit' else objectness.sigmoid()
    sim = F.normalize(token_embeds, dim=-1) @ F.normalize(objects, dim=-1).t()
    obj = objectness if mode == 'logit' else objectness.sigmoid()
    return sim.max(dim=-1).values * obj


def info_nce(pred: torch.Tensor, target: torch.Tensor, tau: float = 0.2,
             weight: Optional[float] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Symmetric InfoNCE of ``M`` matched pairs (row i of ``pred`` with row i of ``target``).

    Returns ``(loss, mean positive cosine, mean negative cosine)`` (the last two detached, for logs);
    ``weight`` defaults to the official ``2 tau`` per direction. No pairs give a zero loss that still
    depends on the inputs (so every parameter gets a gradient in distributed training)."""
    w = 2 * tau if weight is None else weight
    if pred.shape[0] == 0:
        zero = pred.sum() * 0 + target.sum() * 0
        return zero, zero.detach(), zero.detach()
    q, k = F.normalize(pred, dim=-1), F.normalize(target, dim=-1)
    logits = q @ k.t() / tau
    labels = torch.arange(len(q), device=q.device)
    loss = w * F.cross_entropy(logits, labels) + w * F.cross_entropy(logits.t(), labels)
    sims = (logits * tau).detach()
    pos = sims.diagonal().mean()
    M = len(q)
    neg = (sims.sum() - sims.diagonal().sum()) / max(M * M - M, 1) if M > 1 else sims.new_zeros(())
    return loss, pos, neg


class InfoNCEAlignment(nn.Module):
    """:func:`info_nce` as a module (``tau`` 0.2, weight ``2 tau`` by default)."""

    def __init__(self, tau: float = 0.2, loss_weight: Optional[float] = None):
        super().__init__()
        self.tau, self.loss_weight = float(tau), loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor):
        return info_nce(pred, target, self.tau, self.loss_weight)
