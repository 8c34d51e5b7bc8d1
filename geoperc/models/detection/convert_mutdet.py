"""MutDet weights -> the fine-tuning detector (step 4), with one readable report of every mismatch.

MutDet pre-trains an E2D2 detector with 256 pseudo-classes and fine-tunes ARS-DETR with 6 encoder and
6 decoder layers on the real classes (official ``ars_detr_DIOR_MutDet.py``: ``load_from`` the
pre-training checkpoint, "parameter mismatch" warnings expected). :func:`to_finetune` does that load
explicitly, from a :class:`~.mutdet.MutDet` state dict (geoperc keys) to a
:class:`~.rotated_detr.RotatedDETR` one:

* kept: backbone, neck, level embedding, encoder / decoder layers that exist in both (0 and 1), the
  decoder's query-position head and norm, the query embedding, the proposal projection
  (``memory_trans_*``) and the box / angle branches of those decoder layers;
* **re-mapped**: the encoder-proposal branches. With box refinement the branch list holds one set per
  decoder layer and the proposal set last (index 2 in E2D2, 6 in E6D6). Loading by name (what
  ``load_from`` does, officially) puts the pre-trained proposal branches on decoder layer 2 and leaves
  the fine-tuning proposal branches random; here they go to the proposal index (``remap_enc_branch``);
* **re-initialised**: the classification branches (256 pseudo-classes vs the real classes) and the
  denoising label embedding (one row per class);
* **new** (left at their initialisation): encoder / decoder layers 2-5 and their box / angle branches;
* **dropped** (pre-training only): the mutual enhancement module, the enhanced branch's projection and
  token embedding MLP, the decoder-state embedding head.

:func:`convert` is the ``tools/convert_checkpoint.py mutdet`` entry (:mod:`geoperc.models.convert`): it
takes an *official* MutDet checkpoint (mmcv 1.x / mmdet 2 keys, ``bbox_head.transformer.*``) or a geoperc
one, maps official names to geoperc's (:func:`official_to_geoperc`) and returns the fine-tuning state dict
(E6D6) with the report. :func:`load_mutdet_pretrained` loads any of them into a built model and
:class:`LoadMutDetPretrainedHook` does it in a fine-tuning config (before the first iteration; skipped when
a run resumes).
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.hooks import Hook

from geoperc.errors import CheckpointError
from geoperc.registry import HOOKS

__all__ = ['convert', 'official_to_geoperc', 'to_finetune', 'format_report', 'load_mutdet_pretrained',
           'convert_pretrained_file', 'LoadMutDetPretrainedHook', 'PRETRAIN_ONLY']

PRETRAIN_ONLY = ('enhance.', 'patch_memory_fc.', 'patch_memory_norm.', 'enc_embed.', 'feature_embed.', 'obj_proj.')
REINIT = ('bbox_head.cls_branches.', 'dn_generator.label_embedding.')

# official (mmcv 1.x MutDet / ARS-DETR) -> geoperc names; applied in order, first match wins
_OFFICIAL_RULES = [
    (r'^bbox_head\.transformer\.encoder\.layers\.(\d+)\.attentions\.0\.', r'encoder.layers.\1.self_attn.'),
    (r'^bbox_head\.transformer\.encoder\.layers\.(\d+)\.ffns\.0\.', r'encoder.layers.\1.ffn.'),
    (r'^bbox_head\.transformer\.encoder\.layers\.(\d+)\.norms\.', r'encoder.layers.\1.norms.'),
    (r'^bbox_head\.transformer\.decoder\.layers\.(\d+)\.attentions\.0\.', r'decoder.layers.\1.self_attn.'),
    (r'^bbox_head\.transformer\.decoder\.layers\.(\d+)\.attentions\.1\.', r'decoder.layers.\1.cross_attn.'),
    (r'^bbox_head\.transformer\.decoder\.layers\.(\d+)\.ffns\.0\.', r'decoder.layers.\1.ffn.'),
    (r'^bbox_head\.transformer\.decoder\.layers\.(\d+)\.norms\.', r'decoder.layers.\1.norms.'),
    (r'^bbox_head\.transformer\.decoder\.ref_point_head\.0\.', 'decoder.ref_point_head.layers.0.'),
    (r'^bbox_head\.transformer\.decoder\.ref_point_head\.2\.', 'decoder.ref_point_head.layers.1.'),
    (r'^bbox_head\.transformer\.decoder\.norm\.', 'decoder.norm.'),
    (r'^bbox_head\.transformer\.level_embeds$', 'level_embed'),
    (r'^bbox_head\.transformer\.enc_output\.', 'memory_trans_fc.'),
    (r'^bbox_head\.transformer\.enc_output_norm\.', 'memory_trans_norm.'),
    (r'^bbox_head\.transformer\.query_embed\.', 'query_embedding.'),
    (r'^bbox_head\.transformer\.feature_enhance\.layers\.(\d+)\.cross_attn_token_to_image\.',
     r'enhance.layers.\1.cross_attn_obj_to_mem.'),
    (r'^bbox_head\.transformer\.feature_enhance\.layers\.(\d+)\.cross_attn_image_to_token\.',
     r'enhance.layers.\1.cross_attn_mem_to_obj.'),
    (r'^bbox_head\.transformer\.feature_enhance\.layers\.(\d+)\.mlp\.lin1\.', r'enhance.layers.\1.mlp.0.'),
    (r'^bbox_head\.transformer\.feature_enhance\.layers\.(\d+)\.mlp\.lin2\.', r'enhance.layers.\1.mlp.2.'),
    (r'^bbox_head\.transformer\.feature_enhance\.layers\.(\d+)\.(self_attn|norm\d)\.', r'enhance.layers.\1.\2.'),
    (r'^bbox_head\.transformer\.patch_enc_output\.', 'patch_memory_fc.'),
    (r'^bbox_head\.transformer\.patch_enc_output_norm\.', 'patch_memory_norm.'),
    (r'^bbox_head\.transformer\.patch_enc_decode\.0\.', 'enc_embed.fc1.'),
    (r'^bbox_head\.transformer\.patch_enc_decode\.2\.', 'enc_embed.fc2.'),
    (r'^bbox_head\.feature_embed\.', 'feature_embed.'),
    (r'^bbox_head\.label_embedding\.', 'dn_generator.label_embedding.'),
    (r'^bbox_head\.(cls_branches|reg_branches|angle_branches)\.', r'bbox_head.\1.'),
    (r'^(backbone|neck)\.', r'\1.'),
]


def _strip(state: dict) -> dict:
    for key in ('state_dict', 'model'):
        if isinstance(state.get(key), dict):
            state = state[key]
    out = OrderedDict()
    for k, v in state.items():
        for p in ('module.', 'model.'):
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


def official_to_geoperc(state: dict) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Official MutDet / ARS-DETR (mmcv 1.x) keys -> geoperc :class:`~.mutdet.MutDet` keys.
    Returns ``(state, unmatched official keys)``."""
    out, unmatched = OrderedDict(), []
    for k, v in _strip(state).items():
        for pat, rep in _OFFICIAL_RULES:
            if re.match(pat, k):
                out[re.sub(pat, rep, k)] = v
                break
        else:
            unmatched.append(k)
    return out, unmatched


def _is_official(state: dict) -> bool:
    return any(k.startswith('bbox_head.transformer.') for k in state)


def _layers(state: dict, prefix: str) -> int:
    idx = {int(m.group(1)) for k in state for m in [re.match(re.escape(prefix) + r'(\d+)\.', k)] if m}
    return max(idx) + 1 if idx else 0


def to_finetune(state: dict, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                remap_enc_branch: bool = True, target: Optional[Dict[str, torch.Tensor]] = None
                ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """geoperc MutDet state dict -> :class:`~.rotated_detr.RotatedDETR` state dict (see the module
    docstring). ``target``: the fine-tuning model's own ``state_dict()``, to report new keys and shape
    mismatches exactly. Returns ``(state, report)`` with ``loaded``, ``remapped`` (old -> new),
    ``reinitialised``, ``dropped``, ``new`` and ``shape_mismatch`` lists."""
    state = _strip(state)
    src_dec = _layers(state, 'decoder.layers.')
    src_enc = _layers(state, 'encoder.layers.')
    out = OrderedDict()
    rep = dict(loaded=[], remapped=[], reinitialised=[], dropped=[], new=[], shape_mismatch=[],
               source_layers=(src_enc, src_dec), target_layers=(num_encoder_layers, num_decoder_layers))
    for k, v in state.items():
        if k.startswith(PRETRAIN_ONLY):
            rep['dropped'].append(k)
            continue
        if k.startswith(REINIT):
            rep['reinitialised'].append(k)
            continue
        m = re.match(r'^(encoder|decoder)\.layers\.(\d+)\.', k)
        if m and int(m.group(2)) >= (num_encoder_layers if m.group(1) == 'encoder' else num_decoder_layers):
            rep['dropped'].append(k)
            continue
        m = re.match(r'^bbox_head\.(reg_branches|angle_branches)\.(\d+)\.(.*)$', k)
        new_k = k
        if m:
            i = int(m.group(2))
            if src_dec and i == src_dec:  # the encoder-proposal set of the source
                if remap_enc_branch:
                    new_k = f'bbox_head.{m.group(1)}.{num_decoder_layers}.{m.group(3)}'
                    rep['remapped'].append((k, new_k))
            elif i >= num_decoder_layers:
                rep['dropped'].append(k)
                continue
        if target is not None:
            if new_k not in target:
                rep['dropped'].append(k)
                continue
            if tuple(target[new_k].shape) != tuple(v.shape):
                rep['shape_mismatch'].append((new_k, tuple(v.shape), tuple(target[new_k].shape)))
                continue
        out[new_k] = v
        if new_k == k:
            rep['loaded'].append(k)
    if target is not None:
        rep['new'] = [k for k in target if k not in out and not k.startswith(REINIT)]
        rep['reinitialised'] = sorted(set(rep['reinitialised']) | {k for k in target if k.startswith(REINIT)})
    else:
        for i in range(src_enc, num_encoder_layers):
            rep['new'].append(f'encoder.layers.{i}.*')
        for i in range(src_dec, num_decoder_layers):
            rep['new'] += [f'decoder.layers.{i}.*', f'bbox_head.reg_branches.{i}.*',
                           f'bbox_head.angle_branches.{i}.*']
    return out, rep


def _group(keys: List[str]) -> List[str]:
    """Collapse keys to their module prefixes (``decoder.layers.2.*``) for reading."""
    out = OrderedDict()
    for k in keys:
        parts = k.split('.')
        if parts[0] in ('bbox_head', 'dn_generator', 'encoder', 'decoder', 'enhance', 'feature_embed'):
            depth = 3 if len(parts) > 3 and parts[1] in ('layers', 'cls_branches', 'reg_branches',
                                                          'angle_branches') else 2
        else:
            depth = 1
        out['.'.join(parts[:depth]) + ('.*' if len(parts) > depth else '')] = None
    return list(out)


def format_report(rep: dict) -> str:
    """The report as one readable list."""
    lines = [f'MutDet -> fine-tuning: source E{rep["source_layers"][0]}D{rep["source_layers"][1]}, target '
             f'E{rep["target_layers"][0]}D{rep["target_layers"][1]}',
             f'  loaded        {len(rep["loaded"])} tensors: ' + ', '.join(_group(rep['loaded']))]
    if rep['remapped']:
        pairs = OrderedDict(('.'.join(a.split('.')[:3]), '.'.join(b.split('.')[:3])) for a, b in rep['remapped'])
        lines.append('  remapped      encoder-proposal branches: ' + ', '.join(f'{a} -> {b}' for a, b in pairs.items()))
    lines.append(f'  re-initialised {len(rep["reinitialised"])} (class-specific): ' +
                 ', '.join(_group(rep['reinitialised'])))
    if rep['shape_mismatch']:
        lines.append('  shape mismatch (left at init): ' +
                     ', '.join(f'{k} {a} vs {b}' for k, a, b in rep['shape_mismatch']))
    lines.append(f'  new           {len(rep["new"])} (not in the pre-training): ' + ', '.join(_group(rep['new'])))
    lines.append(f'  dropped       {len(rep["dropped"])} (pre-training only): ' + ', '.join(_group(rep['dropped'])))
    return '\n'.join(lines)


def convert(state: dict) -> Tuple[Dict[str, torch.Tensor], dict]:
    """``tools/convert_checkpoint.py mutdet``: official or geoperc MutDet state dict -> the E6D6
    fine-tuning state dict and ``report`` (``converted``, ``unmatched``, ``notes``, the lists of
    :func:`to_finetune`)."""
    state = _strip(state)
    unmatched = []
    if _is_official(state):
        state, unmatched = official_to_geoperc(state)
    new, rep = to_finetune(state)
    rep['converted'] = len(new)
    rep['unmatched'] = unmatched
    rep['notes'] = format_report(rep).splitlines()
    return new, rep


def _read(path_or_state) -> dict:
    if isinstance(path_or_state, dict):
        return path_or_state
    path = str(path_or_state)
    if not osp.isfile(path):
        raise CheckpointError(f'{path}: pre-trained MutDet checkpoint not found')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - every unpickling error
        raise CheckpointError(f'{path}: cannot load the checkpoint safely ({str(e).splitlines()[0][:160]}); '
                              'convert it with tools/convert_checkpoint.py mutdet first') from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: not a state dict')
    return ckpt


def load_mutdet_pretrained(model: torch.nn.Module, path_or_state, logger=None) -> dict:
    """Load MutDet pre-training weights (geoperc or official keys; a file or a state dict) into a built
    fine-tuning detector; returns the report (``text``: :func:`format_report`)."""
    from mmengine.logging import print_log
    state = _strip(_read(path_or_state))
    unmatched = []
    if _is_official(state):
        state, unmatched = official_to_geoperc(state)
    if not any(k.startswith(('encoder.', 'decoder.', 'backbone.')) for k in state):
        raise CheckpointError('the checkpoint holds no detector weights (encoder / decoder / backbone keys)')
    target = model.state_dict()
    new, rep = to_finetune(state, model.encoder.num_layers, model.decoder.num_layers, target=target)
    model.load_state_dict(new, strict=False)
    rep['unmatched'] = unmatched
    rep['text'] = format_report(rep)
    print_log(rep['text'], logger=logger or 'current')
    return rep


def convert_pretrained_file(src: str, dst: str, num_classes: int = 20, num_encoder_layers: int = 6,
                            num_decoder_layers: int = 6) -> dict:
    """``geoperc pretrain finetune-weights``: write the fine-tuning state dict of ``src`` to ``dst``."""
    import os
    state = _strip(_read(src))
    if _is_official(state):
        state, _ = official_to_geoperc(state)
    new, rep = to_finetune(state, num_encoder_layers, num_decoder_layers)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save({'state_dict': new, 'meta': {'converted_from': osp.abspath(src), 'family': 'mutdet',
                                            'num_classes_target': num_classes}}, tmp)
    os.replace(tmp, dst)
    rep['text'] = format_report(rep) + f'\n-> {dst}'
    return rep


@HOOKS.register_module()
class LoadMutDetPretrainedHook(Hook):
    """Fine-tuning configs: load MutDet pre-training weights (:func:`load_mutdet_pretrained`) before the
    first iteration and log the report; a resumed run (``runner.iter > 0``) keeps its own weights."""

    priority = 'VERY_HIGH'

    def __init__(self, checkpoint: Optional[str] = None):
        self.checkpoint = checkpoint

    def before_train(self, runner) -> None:
        if not self.checkpoint:
            runner.logger.warning('LoadMutDetPretrainedHook: no checkpoint given; fine-tuning from scratch')
            return
        if runner.iter > 0:
            runner.logger.info('LoadMutDetPretrainedHook: resumed run, pre-trained weights not reloaded')
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        load_mutdet_pretrained(model, self.checkpoint, logger=runner.logger)
