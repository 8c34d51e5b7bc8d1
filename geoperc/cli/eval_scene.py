"""``geoperc eval-scene``: score a prediction against reference polygons exported from QGIS
(``tools/eval_scene.py`` is the same).

Argument parsing, QGIS project / source-string resolution and (with ``CONFIG CHECKPOINT``) running the
model first with tiled inference; the evaluation itself is :func:`geoperc.evaluation.scene.evaluate_scene`
(which never imports inference). Runs under :func:`geoperc.cli.common.run`: bad input ends in one line
``geoperc eval-scene: error: ...`` and exit 2.
"""
import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from geoperc.cli.common import run
from geoperc.errors import GeoPercError, SceneInputError

__all__ = ['build_parser', 'main']

logger = logging.getLogger('geoperc.eval_scene')


def build_parser(prog: str = 'geoperc eval-scene') -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Evaluate a prediction against reference polygons exported from QGIS: pixel and '
                    'object precision/recall/F1/IoU, plus layers of true/false positives and misses.',
        epilog='examples:\n'
               '  eval_scene.py --pred pred.tif --ref refs.gpkg --ref-layer buildings --out eval/\n'
               '  eval_scene.py --project scene.qgz --pred-layer prediction --ref-layer buildings --out eval/\n'
               '  eval_scene.py cfg.py model.pth --image a.tif b.tif --ref changes.shp --out eval/\n'
               'exit status: 0 ok, 2 bad input (message on stderr)')
    p.add_argument('model', nargs='*', metavar='CONFIG CHECKPOINT',
                   help='run this model over --image first and evaluate its output (in place of --pred)')
    g = p.add_argument_group('prediction')
    g.add_argument('--pred', help='prediction GeoTIFF (labels uint8 0=background, or float probabilities) '
                                  'or vector file of predicted polygons (fields class, score)')
    g.add_argument('--image', nargs='+', help='input raster(s) for CONFIG CHECKPOINT (two dates for change)')
    g.add_argument('--pred-layer', help='layer of a multi-layer --pred file, or the prediction layer name in '
                                        '--project')
    g.add_argument('--pred-class-field', help='class field of a vector prediction (default: class)')
    g.add_argument('--score-thr', type=float, default=0.0, help='drop vector predictions scoring below this')
    g.add_argument('--threshold', type=float, default=0.5, help='threshold of a one-band probability raster')
    g.add_argument('--grid', help='raster whose pixel grid is used for pixel metrics of a vector prediction')
    g.add_argument('--buffer-points', type=float, metavar='R',
                   help='score a point prediction layer as discs of radius R (prediction CRS units); '
                        'without it point and line predictions are refused')
    g.add_argument('--tile', type=int, default=512)
    g.add_argument('--overlap', type=int, default=64)
    g.add_argument('--batch-size', type=int, default=4)
    g = p.add_argument_group('reference')
    g.add_argument('--ref', help='reference vector file (GeoPackage, Shapefile, GeoJSON, ...)')
    g.add_argument('--ref-layer', help='layer of a multi-layer --ref file, or the reference layer name in '
                                       '--project')
    g.add_argument('--class-field', help='reference field holding the class (default: all one class)')
    g.add_argument('--classes', help='comma-separated class names in prediction-id order (1, 2, ...)')
    g.add_argument('--project', help='QGIS project (.qgs/.qgz) providing the layers named by --pred-layer '
                                     'and --ref-layer')
    g.add_argument('--explode-multipart', action='store_true',
                   help='each part of a multipart feature is an object (default: each feature is one object)')
    g = p.add_argument_group('evaluation')
    g.add_argument('--iou-thr', type=float, default=0.5, help='object match IoU threshold (default 0.5)')
    g.add_argument('--all-touched', action='store_true', help='rasterise every pixel a polygon touches')
    g.add_argument('--min-valid-fraction', type=float, default=0.5,
                   help='skip reference objects with less of their area on valid prediction pixels')
    g.add_argument('--rows', type=int, default=None,
                   help='strip height when streaming the raster (default: about 2 megapixels a strip)')
    g.add_argument('--out', required=True, help='output folder')
    g.add_argument('--no-report', action='store_true', help='skip report.png / report.html')
    g.add_argument('-q', '--quiet', action='store_true')
    return p


def _project_layer(project, name: str, what: str):
    """(path, sublayer, crs, subset filter, description) of a project layer."""
    from geoperc.io.vector import list_layers
    lyr = project.layer(name)
    sub = lyr.sublayer
    if sub is None and 'layerid' in lyr.options:
        names = list_layers(lyr.path)
        sub = names[int(lyr.options['layerid'])]
    subset = lyr.options.get('subset') or None
    return lyr.path, sub, lyr.crs, subset, dict(layer=lyr.name, provider=lyr.provider, source=lyr.source,
                                                path=lyr.path, sublayer=sub, subset=subset, role=what)


def _run_model(config, checkpoint, images, out_dir, args):
    """Run CONFIG CHECKPOINT over ``images`` with the tiled inferencer; returns (prediction, grid)."""
    from geoperc.inference import build_model, infer_geotiff
    from geoperc.io.scene import is_vector_path
    os.makedirs(out_dir, exist_ok=True)
    try:
        model = build_model(config, checkpoint)
        written = infer_geotiff(model, list(images), out=os.path.join(out_dir, 'prediction.tif'), tile=args.tile,
                                overlap=args.overlap, batch_size=args.batch_size, output='labels',
                                progress=not args.quiet)
    except (FileNotFoundError, RuntimeError, GeoPercError) as e:
        raise SceneInputError(f'running {config} with {checkpoint}: {e}') from e
    paths = [v for v in (written.values() if isinstance(written, dict) else [written]) if isinstance(v, str)]
    vec = [v for v in paths if is_vector_path(v)]
    ras = [v for v in paths if v.lower().endswith(('.tif', '.tiff'))]
    if not vec and not ras:
        raise SceneInputError(f'{config}: inference wrote no GeoTIFF or GeoPackage ({written})')
    logger.info(f'model: wrote {vec[0] if vec else ras[0]}')
    return (vec[0], images[0]) if vec else (ras[0], None)


def _check(parser, args):
    if args.model and len(args.model) != 2:
        parser.error('give CONFIG and CHECKPOINT (two positional arguments)')
    if args.model and (not args.image or args.pred):
        parser.error('CONFIG CHECKPOINT needs --image and replaces --pred')
    if not (args.pred or args.model or (args.project and args.pred_layer)):
        parser.error('give --pred, CONFIG CHECKPOINT --image, or --project with --pred-layer')
    if not (args.ref or (args.project and args.ref_layer)):
        parser.error('give --ref, or --project with --ref-layer')
    if args.buffer_points is not None and not args.buffer_points > 0:
        parser.error('--buffer-points R needs R > 0')


def _evaluate(args) -> int:
    from geoperc.evaluation.scene import SceneSettings, evaluate_scene
    from geoperc.io.qgis_project import read_qgis_project, split_source
    from geoperc.io.vector import crs_label
    context, pred_crs, ref_crs, grid = {}, None, None, args.grid
    ref_where = pred_where = None
    pred, pred_layer, ref, ref_layer = args.pred, args.pred_layer, args.ref, args.ref_layer
    if ref and '|' in ref:  # a QGIS source string copied from Layer Properties: path|layername=...
        ref, opts = split_source(ref)
        ref_layer, ref_where = ref_layer or opts.get('layername'), opts.get('subset') or None
    if pred and '|' in pred:
        pred, opts = split_source(pred)
        pred_layer, pred_where = pred_layer or opts.get('layername'), opts.get('subset') or None
    project = None
    if args.project:
        project = read_qgis_project(args.project)
        context['project'] = dict(path=project.path, version=project.version, crs=crs_label(project.crs))
    if project is not None and not args.ref:
        ref, ref_layer, ref_crs, ref_where, context['reference_layer'] = _project_layer(
            project, args.ref_layer, 'reference')
    if project is not None and not (args.pred or args.model):
        pred, pred_layer, pred_crs, pred_where, context['prediction_layer'] = _project_layer(
            project, args.pred_layer, 'prediction')
    if args.model:
        pred, img_grid = _run_model(args.model[0], args.model[1], args.image, args.out, args)
        grid = grid or img_grid
        pred_layer = None
        context['model'] = dict(config=args.model[0], checkpoint=args.model[1], images=args.image)
    settings = SceneSettings(
        ref_layer=ref_layer, pred_layer=pred_layer, class_field=args.class_field,
        pred_class_field=args.pred_class_field,
        classes=[c.strip() for c in args.classes.split(',')] if args.classes else None, iou_thr=args.iou_thr,
        all_touched=args.all_touched, threshold=args.threshold, score_thr=args.score_thr, grid=grid,
        ref_crs=ref_crs, pred_crs=pred_crs, min_valid_fraction=args.min_valid_fraction, rows=args.rows,
        report=not args.no_report, ref_where=ref_where, pred_where=pred_where, context=context or None,
        explode_multipart=args.explode_multipart, buffer_points=args.buffer_points)
    result = evaluate_scene(pred, ref, args.out, settings)
    px, ob = result['pixel'], result['object']
    fmt = (lambda v: 'n/a' if v is None else f'{v:.4f}')
    print(f'pixel  precision {fmt(px["precision"])} recall {fmt(px["recall"])} f1 {fmt(px["f1"])} '
          f'iou {fmt(px["iou"])}')
    print(f'object precision {fmt(ob["precision"])} recall {fmt(ob["recall"])} f1 {fmt(ob["f1"])} '
          f'mean IoU {fmt(ob["iou"])} (TP {ob["tp"]}, FP {ob["fp"]}, FN {ob["fn"]})'
          + ('; each part of a multipart feature is an object' if args.explode_multipart else ''))
    print(f'outputs in {os.path.abspath(args.out)}')
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: str = 'geoperc eval-scene') -> int:
    """Parse ``argv`` and evaluate; returns 0, or 2 for bad input (one line on stderr)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    _check(parser, args)
    if not logger.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter('eval-scene: %(message)s'))
        logger.addHandler(h)
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    return run(lambda _: _evaluate(args), None, prog=prog)


if __name__ == '__main__':
    sys.exit(main())
