"""OmniFusion: 360-degree monocular depth from tangent patches with geometry-aware fusion.

Li, Guo, Yan, Huang, Duan, Ren, "OmniFusion: 360 Monocular Depth Estimation via Geometry-Aware Fusion",
CVPR 2022 (arXiv 2203.00838). Rebuilt from the official ``model/spherical_model_iterative.py``
(``yuyanli0831/OmniFusion``, mirror ``yuliangguo/OmniFusion``); the ERP <-> tangent geometry is
:mod:`geoperc.io.equirect` and :mod:`geoperc.models.depth.tangent`.

Network (one pass; all patches share the weights, tensors ``(B*N, C, h, w)``):

1. The ERP image is cut into ``N`` tangent patches of ``patch_size`` (``nrows=4``: 18 patches, FoV 80
   degrees as the official code computes it, i.e. a tangent half extent of ``radians(fov) / 2``;
   ``fov_convention='exact'`` gives a true field of view).
2. ResNet encoder (ResNet-34 in the paper; stem conv 7x7/2 + BN + ReLU, max-pool, ``layer1..4``). The
   official code turns every Conv2d/BN2d into Conv3d/BN3d with ``(k, k, 1)`` kernels on ``(B, C, h, w,
   N)`` tensors; a 2-D network on ``(B*N, C, h, w)`` computes exactly the same thing (BN statistics
   pooled over every patch of the batch) and is faster. Module names are the official ones
   (``conv1``, ``bn1``, ``layer1`` ...), so released checkpoints map 1:1 (see ``convert_omnifusion``).
3. Geometric embedding: ``mlp_points1`` (1x1 convs 3 -> 16 -> 64, BN, ReLU) of the unit ray of every
   pixel of a tangent grid at a quarter of the patch size, added to the ``layer1`` output.
4. Patch transformer: ``down1`` (1x1 conv) reduces ``layer4`` to ``C4 / ((h/32)(w/32))`` channels so
   that one flattened patch is a ``C4``-d token (512-d for ResNet-34: 32 channels for 128-px patches,
   8 for 256-px patches; the official HEAD hard-codes 32 and crashes at 256 px); a learnable position
   embedding, ``num_layers`` pre-norm blocks (``num_heads`` heads, MLP ratio 4, GELU, no q/kv bias) and a
   final LayerNorm (eps 1e-6); the token is broadcast-added to every position of its patch's ``layer4``.
5. U-Net decoder: bilinear up-sampling (``align_corners=False``) to each skip's size and 3x3 conv + BN +
   ReLU blocks, skips ``layer3``, ``layer2``, ``layer1`` (with the embedding), the stem output; widths
   512 -> 256 -> 128 -> 64 -> 64 -> 32 for ResNet-34 (derived from ``base_channels``).
6. Heads: depth ``ReLU(pred)`` and confidence ``sigmoid(weight_pred)``; merged to ERP with the cached
   merge weights as ``merge(depth * conf) / merge(conf)`` (``confidence=True``) or ``merge(depth)``.
7. Iterative refinement (``iters``, 2 at test): the next pass re-projects the previous ERP depth to
   the quarter-size tangent grid, multiplies the unit rays by it and feeds ``mlp_points2`` instead of
   ``mlp_points1``; everything else is the same network (shared weights). Gradients flow through the
   previous depth as in the official code unless ``detach_refinement``.

Choices (constructor arguments; the official code in brackets):

* ``confidence=True``: the paper's confidence-weighted merge. [The official ``forward`` has
  ``confidence=False`` by default and its training script never passes it, so released weights were
  trained with plain averaging and their ``weight_pred`` head is untrained: use ``confidence=False``
  with converted official weights.]
* ``merge='omnifusion'`` reproduces ``pers2equi_v3`` (patch pixel scale ``w``, corners clamped, weights
  <= 1e-5 dropped); ``'exact'`` is the inverse of the sampler. Weights are cached per (layout, patch
  size, ERP size, FoV, conventions) in memory, and in ``merge_cache_dir`` when given; never in the
  current directory [``./grid/<layer name>.pth``].
* ``train_iters`` (default ``iters``): passes during training; the loss is the mean of the BerHu loss of
  every pass [``sum / iters``].
* ``in_channels``: the official input is the cv2 (BGR) image / 255 and nothing else; the default data
  preprocessor here is ``mean=0, std=255`` per band (the dataset's ``channel_order`` chooses BGR/RGB).
* ERP inputs of any size work (the merge weights follow the input size); a batch must share one size,
  so keep ``pad_size_divisor=1`` (padding would break the spherical geometry).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from geoperc.models.base import DENSE_REGRESSION, BaseDenseModel, ConfigOrModule, build_module
from geoperc.registry import MODELS
from .berhu import BerHuLoss
from .tangent import MergeWeightCache, apply_merge, apply_merge_sparse, merge_key, patch_xyz, sample_grid

__all__ = ['OmniFusion', 'PatchTransformer', 'token_channels']

_RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
_NPATCHES = {3: 10, 4: 18, 5: 26, 6: 46}


def _pair(v) -> Tuple[int, int]:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def token_channels(embed_dims: int, patch_size) -> int:
    """Channels of ``down1`` so that one patch's flattened ``layer4`` is an ``embed_dims`` token."""
    h, w = _pair(patch_size)
    if h % 32 or w % 32:
        raise ValueError(f'patch_size must be a multiple of 32 (the encoder stride), got {(h, w)}')
    cells = (h // 32) * (w // 32)
    if embed_dims % cells:
        raise ValueError(f'{embed_dims}-d tokens cannot be made of {cells} layer4 cells '
                         f'(patch size {(h, w)}): choose a patch size with (h/32)(w/32) dividing {embed_dims}')
    return embed_dims // cells


class ConvBnReLU(nn.Module):
    """3x3 conv (no bias) + BN + ReLU (official ``ConvBnReLU_v2`` in 2-D)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, dim * 2, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        h = self.num_heads
        q = self.q(x).reshape(B, N, h, C // h).transpose(1, 2)
        k, v = self.kv(x).reshape(B, N, 2, h, C // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v, as the official
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchTransformer(nn.Module):
    """Learnable position embedding + pre-norm blocks + final LayerNorm over the patch tokens
    (official ``Transformer_cascade`` with timm-style blocks; same parameter names)."""

    def __init__(self, dim: int, num_patches: int, num_layers: int = 6, num_heads: int = 4,
                 mlp_ratio: float = 4.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'token width {dim} is not divisible by {num_heads} heads')
        self.pos_emb = nn.Parameter(torch.zeros(1, num_patches, dim))
        nn.init.trunc_normal_(self.pos_emb, std=0.02)
        self.layer = nn.ModuleList(_Block(dim, num_heads, mlp_ratio) for _ in range(num_layers))
        self.encoder_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.pos_emb
        for blk in self.layer:
            x = blk(x)
        return self.encoder_norm(x)


def _point_mlp(out_channels: int, hidden: int = 16) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


def _res_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1 or inplanes != planes:
        down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, down)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class OmniFusion(BaseDenseModel):
    """OmniFusion 360 depth model (see the module docstring).

    Args:
        in_channels: input bands (3).
        nrows: patch layout (3, 4, 5, 6 rows -> 10, 18, 26, 46 patches).
        patch_size: tangent patch size, a multiple of 32 (256 for 512x1024 ERP, 128 for 256x512).
        fov: patch field of view in degrees (80); ``fov_convention`` ``'omnifusion'`` or ``'exact'``.
        merge: ``'omnifusion'`` or ``'exact'`` patch -> ERP merge (module docstring).
        iters: passes at test (2); ``train_iters`` passes in training (default ``iters``).
        confidence: confidence-weighted merge.
        encoder_depth: ResNet depth of BasicBlocks (34 official; 18 for small builds).
        base_channels: ResNet stem/``layer1`` width (64 official); tokens are ``8 * base_channels``-d.
        num_layers / num_heads / mlp_ratio: patch transformer (6 / 4 / 4 official).
        detach_refinement: stop gradients through the previous pass's depth.
        backbone_pretrained: a local torchvision ResNet checkpoint (ImageNet) for the encoder.
        loss: config or module of the depth loss (default :class:`BerHuLoss`).
        merge_cache_dir: directory for merge-weight files (e.g. the work dir); None = memory only.
        channels_last: run the patch network in channels-last memory format (faster on CPU).
        sparse_merge: merge with sparse CSR products (default) instead of a gather (same numbers).
        data_preprocessor: default ``GeoDataPreprocessor(mean=0, std=255)`` (official RGB/255).
    """

    output_kind = DENSE_REGRESSION
    contract_input = dict(size=(32, 64))
    contract_tiny = dict(patch_size=64, base_channels=8, encoder_depth=18, num_layers=1, num_heads=2)

    def __init__(self, in_channels: int = 3, nrows: int = 4, patch_size: Union[int, Sequence[int]] = 256,
                 fov: Union[float, Sequence[float]] = 80.0, fov_convention: str = 'omnifusion',
                 merge: str = 'omnifusion', iters: int = 2, train_iters: Optional[int] = None,
                 confidence: bool = True, encoder_depth: int = 34, base_channels: int = 64,
                 num_layers: int = 6, num_heads: int = 4, mlp_ratio: float = 4.0,
                 detach_refinement: bool = False, backbone_pretrained: Optional[str] = None,
                 loss: Optional[ConfigOrModule] = None, merge_cache_dir: Optional[str] = None,
                 channels_last: bool = True, sparse_merge: bool = True, data_preprocessor: Optional[ConfigOrModule] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            from geoperc.models.data_preprocessors import GeoDataPreprocessor
            data_preprocessor = GeoDataPreprocessor(mean=[0.0] * in_channels, std=[255.0] * in_channels)
        super().__init__(in_channels, 0, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if nrows not in _NPATCHES:
            raise ValueError(f'nrows must be one of {sorted(_NPATCHES)}, got {nrows}')
        if encoder_depth not in _RESNET_BLOCKS:
            raise ValueError(f'encoder_depth must be one of {sorted(_RESNET_BLOCKS)}, got {encoder_depth}')
        if iters < 1 or (train_iters is not None and train_iters < 1):
            raise ValueError('iters and train_iters must be >= 1')
        self.nrows, self.npatches = nrows, _NPATCHES[nrows]
        self.patch_size = _pair(patch_size)
        self.fov = tuple(float(f) for f in fov) if isinstance(fov, (tuple, list)) else (float(fov),) * 2
        self.fov_convention, self.merge = fov_convention, merge
        merge_key(nrows, self.patch_size, (2, 4), self.fov, fov_convention, merge)  # validates
        self.iters = int(iters)
        self.train_iters = int(train_iters or iters)
        self.confidence = confidence
        self.detach_refinement = detach_refinement
        self.backbone_pretrained = backbone_pretrained
        self.merge_cache = MergeWeightCache(merge_cache_dir)
        self.channels_last = channels_last
        self.sparse_merge = sparse_merge

        c = base_channels
        c1, c2, c3, c4 = c, 2 * c, 4 * c, 8 * c
        blocks = _RESNET_BLOCKS[encoder_depth]
        self.conv1 = nn.Conv2d(in_channels, c, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _res_layer(c, c1, blocks[0], 1)
        self.layer2 = _res_layer(c1, c2, blocks[1], 2)
        self.layer3 = _res_layer(c2, c3, blocks[2], 2)
        self.layer4 = _res_layer(c3, c4, blocks[3], 2)
        for m in self.modules():  # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        self.down1 = nn.Conv2d(c4, token_channels(c4, self.patch_size), 1)
        self.transformer = PatchTransformer(c4, self.npatches, num_layers, num_heads, mlp_ratio)
        self.de_conv0_0 = ConvBnReLU(c4, c3)
        self.de_conv0_1 = ConvBnReLU(2 * c3, c2)
        self.de_conv1_0 = ConvBnReLU(c2, c2)
        self.de_conv1_1 = ConvBnReLU(2 * c2, c1)
        self.de_conv2_0 = ConvBnReLU(c1, c1)
        self.de_conv2_1 = ConvBnReLU(2 * c1, c1)
        self.de_conv3_0 = ConvBnReLU(c1, c)
        self.de_conv3_1 = ConvBnReLU(2 * c, c // 2)
        self.de_conv4_0 = ConvBnReLU(c // 2, c // 2)
        self.pred = nn.Conv2d(c // 2, 1, 3, padding=1)
        self.weight_pred = nn.Conv2d(c // 2, 1, 3, padding=1)
        self.mlp_points1 = _point_mlp(c1)
        self.mlp_points2 = _point_mlp(c1)
        self.loss_depth = build_module(loss) if loss is not None else BerHuLoss()

    # -- weights ----------------------------------------------------------------------------------
    def init_weights(self) -> None:
        super().init_weights()
        if self.backbone_pretrained:
            from geoperc.models.backbones import load_pretrained
            load_pretrained(self, self.backbone_pretrained)

    # -- geometry ---------------------------------------------------------------------------------
    def to_patches(self, erp: Tensor, size=None) -> Tensor:
        """``(B, C, H, W)`` ERP -> ``(B*N, C, h, w)`` tangent patches (bilinear, border padding)."""
        h, w = _pair(size or self.patch_size)
        B, C = erp.shape[:2]
        grid = sample_grid(self.nrows, (h, w), self.fov, self.fov_convention, erp.device).to(erp.dtype)
        out = F.grid_sample(erp, grid.expand(B, -1, -1, -1), mode='bilinear', padding_mode='border',
                            align_corners=True)
        return out.view(B, C, self.npatches, h, w).transpose(1, 2).reshape(B * self.npatches, C, h, w)

    def to_erp(self, maps: Tensor, erp_size) -> Tensor:
        """``(B*N, C, h, w)`` patch maps -> ``(B, C, H, W)`` with the cached merge weights."""
        BN, C, h, w = maps.shape
        key = merge_key(self.nrows, (h, w), erp_size, self.fov, self.fov_convention, self.merge)
        x = maps.view(BN // self.npatches, self.npatches, C, h, w).transpose(1, 2)
        if self.sparse_merge:
            return apply_merge_sparse(x, *self.merge_cache.get_sparse(key, maps.device), erp_size)
        return apply_merge(x, *self.merge_cache.get(key, maps.device), erp_size)

    # -- network ----------------------------------------------------------------------------------
    def _pass(self, patches: Tensor, point_feat: Tensor, erp_size) -> Tensor:
        """One pass: patches ``(B*N, C, h, w)`` and the geometric embedding ``(B*N or N, C1, h/4, w/4)``
        -> ERP depth ``(B, 1, H, W)``."""
        N = self.npatches
        BN = patches.shape[0]
        B = BN // N
        if self.channels_last:  # ~15% faster on CPU (oneDNN), same numbers
            patches = patches.contiguous(memory_format=torch.channels_last)
        stem = self.relu(self.bn1(self.conv1(patches)))
        x = F.max_pool2d(stem, 3, 2, 1)
        l1 = self.layer1(x)
        l1 = (l1.view(B, N, *l1.shape[1:]) + point_feat.view(-1, N, *point_feat.shape[1:])).view_as(l1)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        l4 = self.layer4(l3)
        tok = self.transformer(self.down1(l4).reshape(B, N, -1))  # (B, N, C4): flattened (c, y, x)
        l4 = l4 + tok.reshape(BN, -1, 1, 1)

        def up(t, ref):
            return F.interpolate(t, size=ref.shape[-2:], mode='bilinear', align_corners=False)
        d = self.de_conv0_1(torch.cat([self.de_conv0_0(up(l4, l3)), l3], 1))
        d = self.de_conv1_1(torch.cat([self.de_conv1_0(up(d, l2)), l2], 1))
        d = self.de_conv2_1(torch.cat([self.de_conv2_0(up(d, l1)), l1], 1))
        d = self.de_conv3_1(torch.cat([self.de_conv3_0(up(d, stem)), stem], 1))
        d = self.de_conv4_0(up(d, patches))
        depth = F.relu(self.pred(d))
        if not self.confidence:
            return self.to_erp(depth, erp_size)
        conf = torch.sigmoid(self.weight_pred(d))
        merged = self.to_erp(torch.cat([depth * conf, conf], 1), erp_size)
        num, den = merged[:, :1], merged[:, 1:]
        return num / (den + 1e-8 * (den <= 1e-8).detach().to(den.dtype))

    def forward_passes(self, inputs: Tensor, iters: Optional[int] = None) -> List[Tensor]:
        """ERP depth ``(B, 1, H, W)`` after every pass (coarse first)."""
        iters = self.iters if iters is None else int(iters)
        B, _, H, W = inputs.shape
        ph, pw = self.patch_size
        q = (ph // 4, pw // 4)
        patches = self.to_patches(inputs)
        xyz = patch_xyz(self.nrows, q, self.fov, self.fov_convention, inputs.device).to(inputs.dtype)
        preds = [self._pass(patches, self.mlp_points1(xyz), (H, W))]
        for _ in range(iters - 1):
            prev = preds[-1].detach() if self.detach_refinement else preds[-1]
            pd = self.to_patches(prev, q)  # (B*N, 1, h/4, w/4)
            pts = (xyz.unsqueeze(0) * pd.view(B, self.npatches, 1, *q)).reshape(B * self.npatches, 3, *q)
            preds.append(self._pass(patches, self.mlp_points2(pts), (H, W)))
        return preds

    def _forward(self, inputs: Tensor, data_samples: Optional[List] = None) -> List[Tensor]:
        return self.forward_passes(inputs, self.iters if not self.training else self.train_iters)

    def predict_dense(self, inputs: Tensor) -> Tensor:
        return self.forward_passes(inputs, self.iters)[-1]

    def postprocess(self, out: Tensor, data_samples: Optional[List]) -> List:
        """The base crop of ``pred_depth`` / ``gt_depth`` to ``img_shape``, and of ``depth_valid``."""
        from mmengine.structures import PixelData
        samples = super().postprocess(out, data_samples)
        for s in samples:
            if 'depth_valid' in s:
                h, w = s.metainfo.get('img_shape', out.shape[-2:])
                s.depth_valid = PixelData(data=s.depth_valid.data[..., :h, :w])
        return samples

    # -- loss -------------------------------------------------------------------------------------
    @staticmethod
    def targets(data_samples: List, like: Tensor) -> Tuple[Tensor, Tensor]:
        """``gt_depth`` ``(B, 1, H, W)`` metres and the valid mask: ``gt > 0`` and the samples'
        ``depth_valid`` where present (False in the padding)."""
        gts, masks = [], []
        for s in data_samples:
            g = s.gt_depth.data.to(like.device, like.dtype).reshape(1, *like.shape[-2:])
            m = g > 0
            if 'depth_valid' in s:  # padded batches: the preprocessor pads gt_depth, not depth_valid
                v = s.depth_valid.data.to(like.device).bool()
                v = v.reshape(1, *v.shape[-2:])
                full = torch.zeros_like(m)
                full[:, :v.shape[-2], :v.shape[-1]] = v[:, :m.shape[-2], :m.shape[-1]]
                m &= full
            gts.append(g)
            masks.append(m)
        return torch.stack(gts), torch.stack(masks)

    def loss(self, inputs: Tensor, data_samples: List) -> Dict[str, Tensor]:
        preds = self.forward_passes(inputs, self.train_iters)
        gt, mask = self.targets(data_samples, preds[0])
        per_pass = [self.loss_depth(p, gt, mask) for p in preds]
        out = dict(loss_berhu=sum(per_pass) / len(per_pass))
        for i, v in enumerate(per_pass):
            out[f'berhu_pass{i}'] = v.detach()
        return out
