"""The MutDet chain on generated data: ``geoperc demo --task mutdet``.

1. Generate DOTA-layout images of oriented objects (:func:`geoperc.datasets.detection.synth.make_dota_synth`):
   an unlabelled pool for pre-training and a small labelled task (train / val).
2. Step 1, pseudo-boxes: the weight-free classical mask generator over the pool's patches -> DOTA
   ``labelTxt`` (and how many true objects the pseudo-boxes recover, IoU >= 0.5).
3. Step 2, object embeddings: a frozen ResNet-18 (random: the demo has no weights, so the pseudo-classes
   are only colour / shape clusters of random features) on x1.5 rotated crops, PCA + spherical k-means.
4. Step 3, a few MutDet pre-training iterations (``configs/detection/mutdet/mutdet_tiny_1xb2_synth_pretrain.py``).
5. Step 4, fine-tuning the tiny rotated DETR from the pre-trained weights (the loading report is printed),
   and, with ``--baseline``, the same budget from scratch; rotated mAP of both on the held-out images.

Everything runs on the CPU through the same runner, configs and data pipeline as the full recipe.
"""
import argparse
import json
import os
import os.path as osp
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'detection', 'mutdet')
PRETRAIN_CFG = osp.join(CFG, 'mutdet_tiny_1xb2_synth_pretrain.py')
FINETUNE_CFG = osp.join(CFG, 'mutdet_tiny_1xb4_synth_finetune.py')


def _recall(pseudo_dir: str, label_dir: str, thr: float = 0.5):
    """Share of the generated objects matched by a pseudo-box with rotated IoU >= ``thr``."""
    import torch
    from mmcv.ops import box_iou_rotated

    from geoperc.datasets.detection.dota import parse_dota_txt, polygons_to_le90
    hit = tot = n_pseudo = 0
    for f in sorted(os.listdir(pseudo_dir)):
        stem = f.split('__')[0]
        gt = polygons_to_le90([o[0] for o in parse_dota_txt(osp.join(label_dir, stem + '.txt'))['objects']])
        ps = polygons_to_le90([o[0] for o in parse_dota_txt(osp.join(pseudo_dir, f))['objects']])
        n_pseudo += len(ps)
        tot += len(gt)
        if len(gt) and len(ps):
            iou = box_iou_rotated(torch.from_numpy(gt), torch.from_numpy(ps), clockwise=True)
            hit += int((iou.max(1).values >= thr).sum())
    return hit / max(tot, 1), tot, n_pseudo


def _finetune(work_dir: str, task: str, iters: int, checkpoint):
    from geoperc.runner import test, train
    opts = {'data_root': task, 'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
            'default_hooks.checkpoint.interval': iters, 'custom_hooks.1.checkpoint': checkpoint}
    runner = train(FINETUNE_CFG, work_dir=work_dir, cfg_options=opts)
    ckpt = osp.join(work_dir, f'iter_{runner.iter}.pth')
    metrics = test(FINETUNE_CFG, ckpt, work_dir=osp.join(work_dir, 'test'), cfg_options={'data_root': task})
    return ckpt, metrics


def main(argv=None):
    p = argparse.ArgumentParser(prog='geoperc demo --task mutdet', description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='demo_output/mutdet', help='output folder')
    p.add_argument('--pool', type=int, default=48, help='unlabelled pre-training images')
    p.add_argument('--train', type=int, default=24, help='labelled fine-tuning images')
    p.add_argument('--val', type=int, default=12, help='held-out images')
    p.add_argument('--pretrain-iters', type=int, default=80)
    p.add_argument('--finetune-iters', type=int, default=120)
    p.add_argument('--baseline', action='store_true', help='also fine-tune from scratch at the same budget')
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.time()
    out = osp.abspath(args.out)
    task, chain = osp.join(out, 'task'), osp.join(out, 'chain')

    from geoperc.datasets.detection.synth import make_dota_synth
    print('[1/5] generating images of oriented objects ...', flush=True)
    make_dota_synth(task, splits=(('pool', args.pool), ('train', args.train), ('val', args.val)), size=128, seed=7)

    print('[2/5] step 1: pseudo-boxes (classical masks, no weights) ...', flush=True)
    from geoperc.models.detection.mutdet_pseudo import ClassicalMaskGenerator, generate_pseudo_boxes
    s1 = generate_pseudo_boxes([osp.join(task, 'pool', 'images')], osp.join(chain, 'step1'),
                               ClassicalMaskGenerator(), patch=128, gap=32, progress=False)
    rec, n_obj, n_ps = _recall(osp.join(chain, 'step1', 'labelTxt'), osp.join(task, 'pool', 'labelTxt'))

    print('[3/5] step 2: object embeddings + pseudo-classes ...', flush=True)
    from geoperc.models.detection.mutdet_embed import ObjectEmbedder, build_embeddings
    emb = ObjectEmbedder(None, arch='resnet18', crop_size=64, resize=None)
    s2 = build_embeddings(osp.join(chain, 'step1'), osp.join(chain, 'step2'), emb, dim=64, k=16, progress=False)

    print('[4/5] step 3: MutDet pre-training ...', flush=True)
    from geoperc.runner import train
    pre_dir = osp.join(out, 'pretrain')
    runner = train(PRETRAIN_CFG, work_dir=pre_dir,
                   cfg_options={'data_root': chain, 'train_cfg.max_iters': args.pretrain_iters,
                                'default_hooks.checkpoint.interval': args.pretrain_iters})
    pre_ckpt = osp.join(pre_dir, f'iter_{runner.iter}.pth')

    print('[5/5] step 4: fine-tuning from the pre-trained weights ...', flush=True)
    from geoperc.models.detection.convert_mutdet import format_report, load_mutdet_pretrained
    from geoperc.registry import MODELS
    from mmengine.config import Config
    report = load_mutdet_pretrained(MODELS.build(Config.fromfile(FINETUNE_CFG).model), pre_ckpt)
    with open(osp.join(out, 'finetune_load_report.txt'), 'w') as f:
        f.write(format_report(report) + '\n')
    ft_ckpt, ft = _finetune(osp.join(out, 'finetune'), task, args.finetune_iters, pre_ckpt)
    base = None
    if args.baseline:
        print('      ... and the same budget from scratch (baseline)', flush=True)
        _, base = _finetune(osp.join(out, 'scratch'), task, args.finetune_iters, None)
    summary = dict(pseudo_boxes=dict(patches=s1['patches'], boxes=n_ps, objects=n_obj, recall_iou50=rec),
                   embeddings=dict(objects=s2['objects'], pseudo_classes_used=s2['used_classes']),
                   pretrain=dict(iters=args.pretrain_iters, checkpoint=pre_ckpt),
                   finetune=dict(iters=args.finetune_iters, metrics=ft),
                   scratch=dict(metrics=base) if base is not None else None)
    with open(osp.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1, default=str)

    def _ap(m):
        keys = sorted(k for k in m if 'AP50' in k or 'mAP' in k)
        return ', '.join(f'{k} {float(m[k]):.3f}' for k in keys[:3])
    print('\n== geoperc demo --task mutdet finished in %.0f s ==' % (time.time() - t0))
    print(f'generated images      {task}  (pool/, train/, val/: images/ + labelTxt/)')
    print(f'step 1 pseudo-boxes   {osp.join(chain, "step1")}  ({s1["patches"]} patches, {n_ps} boxes; '
          f'{100 * rec:.0f}% of the {n_obj} true objects recovered at IoU 0.5)')
    print(f'step 2 embeddings     {osp.join(chain, "step2")}  ({s2["objects"]} objects, '
          f'{s2["used_classes"]} pseudo-classes used; embedding_space.npz)')
    print(f'step 3 pre-training   {pre_dir}  ({osp.basename(pre_ckpt)})')
    print(f'step 4 load report    {osp.join(out, "finetune_load_report.txt")}')
    print(format_report(report))
    print(f'step 4 fine-tuned     {ft_ckpt}  ({_ap(ft)})')
    if base is not None:
        print(f'from scratch          {osp.join(out, "scratch")}  ({_ap(base)})')
    print(f'summary               {osp.join(out, "summary.json")}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
