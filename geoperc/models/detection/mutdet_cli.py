"""``geoperc pretrain STEP ...``: the MutDet chain, one command per step, each step's output the next's input.

    pseudo-boxes INPUT... --out ROOT/step1 [--method classical|sam] [--sam-checkpoint F]
                 [--patch 800 --gap 200] [--workers N] [--overwrite]   step 1 (data_prep/mutdet/pseudo_boxes.py)
    embeddings ROOT/step1 --out ROOT/step2 [--weights resnet50.pth] [--dim 256 -k 256] [--refit]
                                                                  step 2 (data_prep/mutdet/embeddings.py)
    train CONFIG --root ROOT [--work-dir W] [--cfg-options ...]   step 3 (MMEngine runner)
    finetune-weights PRETRAINED.pth OUT.pth [--decoder-layers 6 --encoder-layers 6]
                                                                  step 4: weights for the 6/6 detector

Step 4 itself is ``geoperc train configs/detection/mutdet/<finetune config>`` with ``load_from`` set to
the ``finetune-weights`` output (or to the pre-training checkpoint directly: the fine-tuning configs
convert on load, :mod:`geoperc.models.detection.convert_mutdet`).
"""
import argparse
import sys

__all__ = ['main', 'pseudo_boxes_main', 'embeddings_main']


def pseudo_boxes_main(argv=None) -> int:
    from geoperc.models.detection.mutdet_pseudo import build_mask_generator, generate_pseudo_boxes
    p = argparse.ArgumentParser(prog='geoperc pretrain pseudo-boxes',
                                description='MutDet step 1: class-agnostic rotated pseudo-boxes as DOTA labelTxt')
    p.add_argument('inputs', nargs='+', help='images / GeoTIFF scenes, or folders of them')
    p.add_argument('--out', required=True, help='output folder (images/, labelTxt/, pseudo_boxes.json)')
    p.add_argument('--method', default='classical', choices=('classical', 'sam'),
                   help='mask generator: classical (default, no weights) or sam (segment-anything + local weights)')
    p.add_argument('--sam-checkpoint', help='local SAM checkpoint (sam_vit_h_4b8939.pth) for --method sam')
    p.add_argument('--sam-model', default='vit_h', help='SAM model type matching the checkpoint')
    p.add_argument('--device', default='cpu', help='torch device for SAM')
    p.add_argument('--patch', type=int, default=800)
    p.add_argument('--gap', type=int, default=200)
    p.add_argument('--label', default='object', help='class name written (official: SAMObject)')
    p.add_argument('--workers', type=int, default=0, help='worker processes (0: this process)')
    p.add_argument('--overwrite', action='store_true', help='redo every patch')
    p.add_argument('--no-progress', action='store_true')
    a = p.parse_args(argv)
    kw = dict(checkpoint=a.sam_checkpoint, model_type=a.sam_model, device=a.device) if a.method == 'sam' else {}
    gen = build_mask_generator(a.method, **kw)
    r = generate_pseudo_boxes(a.inputs, a.out, gen, patch=a.patch, gap=a.gap, label=a.label, workers=a.workers,
                              overwrite=a.overwrite, progress=not a.no_progress)
    print(f'{r["patches"]} patches ({r["done"]} processed now, {r["skipped"]} already done), '
          f'{r["boxes"]} boxes written now -> {r["out_dir"]} (labelTxt/, images/, pseudo_boxes.json)')
    return 0


def embeddings_main(argv=None) -> int:
    import torch

    from geoperc.models.detection.mutdet_embed import ObjectEmbedder, build_embeddings
    p = argparse.ArgumentParser(prog='geoperc pretrain embeddings',
                                description='MutDet step 2: object embeddings, PCA + k-means pseudo-classes')
    p.add_argument('step1', help='step-1 folder (images/, labelTxt/)')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--weights', help='local torchvision ResNet checkpoint (without: random, for tests only)')
    p.add_argument('--arch', default='resnet50')
    p.add_argument('--crop-size', type=int, default=224)
    p.add_argument('--resize', type=int, default=1024, help='patch resized to this before cropping (0: none)')
    p.add_argument('--dim', type=int, default=256, help='PCA dimension (the detector width, 256)')
    p.add_argument('-k', type=int, default=256, help='pseudo-classes')
    p.add_argument('--fit-samples', type=int, default=100_000, help='objects sampled to fit PCA / k-means')
    p.add_argument('--iters', type=int, default=50)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--refit', action='store_true', help='refit the PCA / k-means even if a fit exists')
    p.add_argument('--torch-ops', action='store_true', help="pure-PyTorch RoIAlignRotated instead of mmcv's")
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--no-progress', action='store_true')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    emb = ObjectEmbedder(a.weights, arch=a.arch, crop_size=a.crop_size, resize=a.resize or None,
                         use_mmcv=not a.torch_ops)
    r = build_embeddings(a.step1, a.out, emb, dim=a.dim, k=a.k, fit_samples=a.fit_samples, iters=a.iters,
                         seed=a.seed, refit=a.refit, progress=not a.no_progress)
    print(f'{r["objects"]} objects in {r["patches"]} patches, {r["used_classes"]} of {a.k} pseudo-classes used; '
          f'{r["out_dir"]}: embeddings/, labelTxt/, embedding_space.npz')
    return 0


def _options(pairs) -> dict:
    import ast
    out = {}
    for item in pairs:
        if '=' not in item:
            from geoperc.errors import SettingsError
            raise SettingsError(f'--cfg-options takes key=value pairs, got {item!r}')
        k, v = item.split('=', 1)
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def train_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='geoperc pretrain train', description='MutDet step 3: pre-training')
    p.add_argument('config')
    p.add_argument('--root', required=True, help='the chain folder (step1/ and step2/ inside)')
    p.add_argument('--work-dir')
    p.add_argument('--cfg-options', nargs='*', default=[], metavar='KEY=VALUE')
    a = p.parse_args(argv)
    from geoperc.runner import train
    train(a.config, work_dir=a.work_dir, cfg_options=dict(_options(a.cfg_options), data_root=a.root))
    return 0


def finetune_weights_main(argv=None) -> int:
    from geoperc.models.detection.convert_mutdet import convert_pretrained_file
    p = argparse.ArgumentParser(prog='geoperc pretrain finetune-weights',
                                description='MutDet step 4: pre-trained weights -> the fine-tuning detector')
    p.add_argument('src', help='MutDet pre-training checkpoint (geoperc or converted official)')
    p.add_argument('dst', help='output .pth (state_dict for the fine-tuning detector)')
    p.add_argument('--num-classes', type=int, default=20)
    p.add_argument('--encoder-layers', type=int, default=6)
    p.add_argument('--decoder-layers', type=int, default=6)
    a = p.parse_args(argv)
    report = convert_pretrained_file(a.src, a.dst, num_classes=a.num_classes, num_encoder_layers=a.encoder_layers,
                                     num_decoder_layers=a.decoder_layers)
    print(report['text'])
    return 0


STEPS = {'pseudo-boxes': pseudo_boxes_main, 'embeddings': embeddings_main, 'train': train_main,
         'finetune-weights': finetune_weights_main}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STEPS:
        print(__doc__.strip(), file=sys.stderr if not argv or argv[0] not in ('-h', '--help') else sys.stdout)
        return 0 if argv and argv[0] in ('-h', '--help') else 2
    return STEPS[argv[0]](argv[1:])


if __name__ == '__main__':
    from geoperc.cli.common import run
    raise SystemExit(run(main, None, prog='geoperc pretrain'))
