"""Evaluate a prediction against a scene exported from QGIS: pixel and object metrics, layers back.

:func:`evaluate_scene` aligns the reference layer with the prediction (reprojection, repair and
rasterisation are done by ``geoperc.io``), scores pixels with the same confusion-matrix code as
training (``functional.confusion``) and objects with one-to-one IoU matching
(``functional.objects``), and writes ``metrics.json``, ``metrics.csv``, ``layers.gpkg`` (styled
true positives / false positives / misses), ``pixel_errors.tif`` and a report. :func:`main` is
the ``geoperc eval-scene`` / ``tools/eval_scene.py`` command line.
"""
import argparse
import logging
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from geoperc.evaluation.functional.confusion import (binary_metrics_from_confusion, confusion_matrix,
                                                     metrics_from_confusion)
from geoperc.evaluation.functional.objects import match_polygons, object_metrics

logger = logging.getLogger('geoperc.eval_scene')
LAYERS = ('true_positives', 'false_positives', 'misses', 'not_evaluated')


class SceneInputError(ValueError):
    """Input that cannot be evaluated; the message names the file and the problem (exit code 2)."""


# ------------------------------------------------------------------------------------- classes
def _int_like(v) -> Optional[int]:
    if isinstance(v, (bool, np.bool_)) or v is None:
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip('-').isdigit():
        return int(v.strip())
    return None


class ClassMap:
    """Maps attribute values to class ids (1..K; 0 is background) and ids to names.

    ``names`` (e.g. from ``--classes``) fixes ids 1..K in that order; otherwise integer values are
    their own ids and text values get ids 1..K in sorted order (stated in the notes).
    """

    def __init__(self, values: Sequence, names: Optional[Sequence[str]] = None, source: str = ''):
        vals = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
        self.id_of, self.name_of, self.note = {}, {0: 'background'}, None
        if names:
            self.id_of = {str(n): i + 1 for i, n in enumerate(names)}
            unknown = sorted({str(v) for v in vals} - set(self.id_of))
            if unknown:
                raise SceneInputError(f'{source}: class values {unknown} are not in --classes {list(names)}')
        elif vals and all(_int_like(v) is not None for v in vals):
            ids = sorted({_int_like(v) for v in vals})
            if ids[0] < 1:
                raise SceneInputError(f'{source}: class ids must be >= 1 (0 is background), found {ids[0]}')
            self.id_of = {str(i): i for i in ids}
        else:
            uniq = sorted({str(v) for v in vals})
            self.id_of = {n: i + 1 for i, n in enumerate(uniq)}
            if len(uniq) > 1:
                self.note = (f'class names mapped to prediction ids in sorted order: {self.id_of}; '
                             'pass --classes to set the order')
        self.name_of.update({i: n for n, i in self.id_of.items()})

    def ids(self, values: Sequence, extend: bool = False) -> List[int]:
        out = []
        for v in values:
            key = str(_int_like(v)) if _int_like(v) is not None and str(_int_like(v)) in self.id_of else str(v)
            if key not in self.id_of:
                if not extend:
                    raise KeyError(key)
                iv = _int_like(v)
                self.id_of[key] = iv if iv is not None and iv > 0 else max(self.name_of) + 1
                self.name_of[self.id_of[key]] = key
            out.append(self.id_of[key])
        return out

    def name(self, i: int) -> str:
        return self.name_of.get(int(i), f'class_{int(i)}')


# ------------------------------------------------------------------------------------- metrics
def pixel_section(cm: np.ndarray, classes: ClassMap, binary_fg: str) -> Dict:
    """Foreground scores (2x2 collapse of the confusion matrix) plus per-class table."""
    fg = np.array([[cm[0, 0], cm[0, 1:].sum()], [cm[1:, 0].sum(), cm[1:, 1:].sum()]])
    b = binary_metrics_from_confusion(fg, positive=1)
    m = metrics_from_confusion(cm)
    pc = m['per_class']
    tp = np.diag(cm)
    rows = [dict(id=i, name=classes.name(i), precision=pc['precision'][i], recall=pc['recall'][i],
                 f1=pc['f1'][i], iou=pc['iou'][i], tp=int(tp[i]), fp=int(cm[:, i].sum() - tp[i]),
                 fn=int(cm[i].sum() - tp[i]), support=pc['support'][i]) for i in range(len(cm))]
    return dict(precision=b['change_precision'], recall=b['change_recall'], f1=b['change_f1'],
                iou=b['change_iou'], tp=int(fg[1, 1]), fp=int(fg[0, 1]), fn=int(fg[1, 0]),
                oa=m['oa'], kappa=m['kappa'], macro_precision=m['macro_precision'],
                macro_recall=m['macro_recall'], macro_f1=m['macro_f1'], mean_iou=m['mean_iou'],
                pixels=m['pixels'], foreground=binary_fg, classes=rows, confusion_matrix=cm.tolist(),
                confusion_axes='rows = reference class, columns = predicted class')


def object_section(match, pred_cls, ref_cls, classes: ClassMap, iou_thr: float) -> Dict:
    m = object_metrics(match, pred_cls, ref_cls)
    rows = [dict(id=c, name=classes.name(c), **{k: v for k, v in s.items()}) for c, s in m.pop('per_class').items()]
    for r in rows:
        r['iou'] = r.pop('mean_iou')
    return dict(precision=m['precision'], recall=m['recall'], f1=m['f1'], iou=m['mean_iou'],
                mean_iou_of_matches=m['mean_iou'], tp=m['tp'], fp=m['fp'], fn=m['fn'], iou_thr=iou_thr,
                iou_definition='iou = mean IoU of the matched (true positive) pairs',
                matching='one-to-one, same class, IoU >= iou_thr, greedy by decreasing IoU (STRtree candidates)',
                classes=rows)


def _confusion(strips, n_classes: int, binarize: bool, error_map=None) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), np.int64)
    for s in strips:
        pred = (s.pred > 0).astype(np.int32) if binarize else s.pred
        cm += confusion_matrix(pred, s.ref, n_classes, ignore_index=None, valid=s.valid)
        if error_map is not None:
            error_map.write(s, pred, s.ref)
    used = np.flatnonzero(cm.sum(0) + cm.sum(1))
    k = max(2, int(used.max()) + 1 if len(used) else 2)
    return cm[:k, :k]


# --------------------------------------------------------------------------------------- scene
def evaluate_scene(pred: str, ref: str, out_dir: str, ref_layer: Optional[str] = None,
                   pred_layer: Optional[str] = None, class_field: Optional[str] = None,
                   pred_class_field: Optional[str] = None, classes: Optional[Sequence[str]] = None,
                   iou_thr: float = 0.5, all_touched: bool = False, threshold: float = 0.5,
                   score_thr: float = 0.0, grid: Optional[str] = None, ref_crs=None, pred_crs=None,
                   min_valid_fraction: float = 0.5, rows: Optional[int] = None, report: bool = True,
                   ref_where: Optional[str] = None, pred_where: Optional[str] = None,
                   context: Optional[Dict] = None) -> Dict:
    """Score a prediction (label/probability GeoTIFF, or a GeoPackage of predicted polygons) against
    a reference vector layer and write the outputs to ``out_dir``.

    Args:
        pred (str): prediction raster, or vector file of predicted polygons (``class``, ``score``).
        ref (str): reference vector file (GeoPackage, Shapefile, GeoJSON, ...).
        out_dir (str): output folder (created).
        ref_layer, pred_layer (str, optional): layer names inside multi-layer files.
        class_field (str, optional): reference field holding the class; without it every feature
            is one foreground class and the prediction is binarised (any class > 0).
        pred_class_field (str, optional): class field of a vector prediction (default ``class``).
        classes (list[str], optional): class names in prediction-id order (1..K).
        iou_thr (float): object match threshold. all_touched (bool): rasterisation rule.
        threshold (float): probability threshold for a single-band probability raster.
        score_thr (float): drop vector predictions with ``score`` below this.
        grid (str, optional): raster whose grid is used for pixel metrics of a vector prediction.
        ref_crs, pred_crs (optional): CRS to assume for layers whose file carries none (from a
            QGIS project).
        min_valid_fraction (float): reference objects with less of their area inside the
            prediction's valid data are not scored (listed in ``not_evaluated``).
        rows (int, optional): strip height for streaming (default: about 2 megapixels a strip).
        ref_where, pred_where (str, optional): OGR SQL filters (a QGIS layer's subset string).
        report (bool): also write ``report.png`` / ``report.html``.
        context (dict, optional): extra notes (e.g. the project the inputs came from).

    Returns:
        dict: the content of ``metrics.json``.
    """
    from geoperc.io import scene as gs
    from geoperc.io import vector as gv
    messages: List[str] = []

    def say(msg):
        logger.info(msg)
        messages.append(msg)

    # ---- prediction
    pvec, grid_obj = None, None
    if gs.is_vector_path(pred):
        pvec = gv.read_vector(pred, pred_layer, crs=pred_crs, where=pred_where)
        fields = pvec.attributes
        if grid:
            grid_obj = gs.open_grid(grid, kind='image')
        if pvec.crs is None and grid_obj is None:
            raise SceneInputError(f'{pred}: prediction layer {pvec.layer!r} has no CRS')
        if pred_class_field and pred_class_field not in fields:
            raise SceneInputError(f'{pred} (layer {pvec.layer!r}): no field {pred_class_field!r}; available fields: '
                                  + (', '.join(fields) or '(none)'))
        pred_class_field = pred_class_field or ('class' if 'class' in fields else None)
    else:
        grid_obj = gs.open_grid(pred, crs=pred_crs)
    target_crs = grid_obj.crs if grid_obj is not None else pvec.crs

    # ---- reference
    rvec = gv.read_vector(ref, ref_layer, columns=[class_field] if class_field else [], crs=ref_crs,
                          where=ref_where)
    c = rvec.counts
    if c['null'] or c['empty'] or c['non_polygonal'] or c['degenerate']:
        say(f'reference: skipped {c["null"]} null, {c["empty"]} empty, {c["non_polygonal"]} non-polygonal and '
            f'{c["degenerate"]} degenerate geometries of {c["features"]}')
    if c['repaired']:
        say(f'reference: repaired {c["repaired"]} invalid polygons with make_valid')
    if not len(rvec):
        raise SceneInputError(f'{ref}: reference layer {rvec.layer!r} has no usable polygons '
                              f'({c["features"]} features; {c["null"]} null, {c["empty"]} empty, '
                              f'{c["non_polygonal"]} non-polygonal)')
    if rvec.crs is None:
        raise SceneInputError(f'{ref}: reference layer {rvec.layer!r} has no CRS; set it in QGIS '
                              '(Layer > Set CRS of Layer) and export again')
    for name, lyr in (('reference', rvec), ('prediction', pvec)):
        if lyr is not None and not gv.same_crs(lyr.crs, target_crs):
            say(f'{name}: reprojected {lyr.path} from {gv.crs_label(lyr.crs)} to the prediction CRS '
                f'{gv.crs_label(target_crs)}')
    rvec = rvec.to_crs(target_crs)
    if pvec is not None:
        pvec = pvec.to_crs(target_crs)

    # ---- overlap
    import shapely
    extent = grid_obj.footprint() if grid_obj is not None else shapely.box(*pvec.bounds())
    ref_box = shapely.box(*rvec.bounds())
    if not shapely.intersects(np.asarray(rvec.geometries, object), extent).any():
        raise SceneInputError(f'{ref}: reference layer {rvec.layer!r} does not overlap the prediction {pred} '
                              f'(reference bounds {tuple(round(v, 3) for v in ref_box.bounds)}, prediction '
                              f'bounds {tuple(round(v, 3) for v in extent.bounds)}, both in '
                              f'{gv.crs_label(target_crs)})')

    # ---- classes
    if class_field:
        vals = rvec.attributes[class_field]
        null = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in vals], bool)
        if null.all():
            raise SceneInputError(f'{ref}: field {class_field!r} of layer {rvec.layer!r} is empty (null) for every '
                                  'feature')
        if null.any():
            say(f'reference: skipped {int(null.sum())} features with no {class_field!r} value')
            keep = np.flatnonzero(~null)
            rvec = type(rvec)(rvec.path, rvec.layer, rvec.crs, [rvec.geometries[i] for i in keep],
                              np.asarray(rvec.fids)[keep], {k: v[keep] for k, v in rvec.attributes.items()},
                              dict(rvec.counts, null_class=int(null.sum())), rvec.reprojected_from)
    cmap = ClassMap(rvec.attributes[class_field] if class_field else ['foreground'] * len(rvec), classes,
                    source=f'{ref} field {class_field!r}')
    if cmap.note:
        say(cmap.note)
    ref_ids = cmap.ids(rvec.attributes[class_field]) if class_field else [1] * len(rvec)
    binarize = class_field is None
    pred_geoms, pred_ids, scores, nodata_polys = [], [], None, []
    if pvec is not None:
        keep = np.ones(len(pvec), bool)
        if 'score' in pvec.attributes:
            scores = pvec.attributes['score'].astype(float)
            keep = scores >= score_thr
            if (~keep).any():
                say(f'prediction: dropped {int((~keep).sum())} objects with score < {score_thr}')
            scores = scores[keep]
        pred_geoms = [g for g, k in zip(pvec.geometries, keep) if k]
        if binarize or pred_class_field is None:
            pred_ids = [1] * len(pred_geoms)
            if not binarize:
                say(f'prediction: {pvec.path} has no class field; every predicted object is {cmap.name(1)!r}')
        else:
            pred_ids = cmap.ids(pvec.attributes[pred_class_field][keep], extend=True)

    # ---- pixel metrics
    os.makedirs(out_dir, exist_ok=True)
    pixel = dict(precision=None, recall=None, f1=None, iou=None, classes=[],
                 skipped='a vector prediction needs --grid RASTER for pixel metrics')
    fg = 'class 1 (all reference features are one class; prediction binarised: any class > 0)' if binarize \
        else 'any class > 0 against background (class-agnostic); per-class scores in classes'
    if grid_obj is not None:
        n_cls = max(256, max(ref_ids) + 1, max(pred_ids, default=0) + 1)
        strips = gs.aligned_strips(grid_obj, rvec.geometries, ref_ids, pred_geoms, pred_ids, all_touched,
                                   threshold, rows)
        with gs.ErrorMapWriter(os.path.join(out_dir, 'pixel_errors.tif'), grid_obj) as em:
            cm = _confusion(strips, n_cls, binarize and pvec is None, em)
        pixel = pixel_section(cm, cmap, fg)
        pixel['all_touched'] = all_touched
        if grid_obj.kind == 'probs':
            say('prediction: probabilities ' + (f'thresholded at {threshold}' if grid_obj.count == 1
                                                  else 'arg-maxed over bands (band 1 = background)'))
        if binarize and pvec is None and cm.shape[0] > 2:
            say(f'prediction has classes up to {cm.shape[0] - 1}; binarised (any class > 0) since the '
                'reference has no --class-field')

    # ---- objects
    if pvec is None:
        pred_geoms, pred_ids, nodata_polys = gs.vectorize_labels(grid_obj, threshold, rows, binarize)
        say(f'prediction: vectorised {len(pred_geoms)} objects from the mask (4-connected regions)')
    elif grid_obj is not None:
        nodata_polys = gs.vectorize_labels(grid_obj, rows=rows)[2]
    valid_area = extent.difference(shapely.union_all(nodata_polys)) if nodata_polys else extent
    if grid_obj is not None:
        frac = shapely.area(shapely.intersection(np.asarray(rvec.geometries, object), valid_area)) / \
            shapely.area(np.asarray(rvec.geometries, object))
    else:
        frac = np.ones(len(rvec))
    scored = frac >= min_valid_fraction
    if (~scored).any():
        say(f'reference: {int((~scored).sum())} objects not scored: less than {min_valid_fraction:.0%} of their '
            'area lies on valid prediction pixels (outside the raster or in nodata); see layer not_evaluated')
    ref_geoms = [g for g, k in zip(rvec.geometries, scored) if k]
    ref_ids_s = [i for i, k in zip(ref_ids, scored) if k]
    if target_crs.is_geographic:
        area_crs = gv.local_metric_crs(extent.bounds, target_crs)
        say(f'prediction CRS {gv.crs_label(target_crs)} is geographic: areas and object IoU are computed '
            f'in the local UTM zone {gv.crs_label(area_crs)}')
        m_pred, m_ref = gv.reproject(pred_geoms, target_crs, area_crs), gv.reproject(ref_geoms, target_crs, area_crs)
    else:
        area_crs, m_pred, m_ref = target_crs, pred_geoms, ref_geoms
    match = match_polygons(m_pred, m_ref, iou_thr, pred_ids, ref_ids_s, scores)
    obj = object_section(match, pred_ids, ref_ids_s, cmap, iou_thr)

    # ---- notes and outputs
    unit = area_crs.axis_info[0].unit_name if area_crs.axis_info else 'unit'
    notes = dict(messages=messages, prediction_crs=gv.crs_label(target_crs), area_crs=gv.crs_label(area_crs),
                 area_unit=f'square {unit}', reference=dict(path=os.path.abspath(ref), layer=rvec.layer,
                 crs=rvec.reprojected_from or gv.crs_label(rvec.crs), reprojected=rvec.reprojected_from is not None,
                 counts=rvec.counts, scored_objects=len(ref_geoms), not_scored_objects=int((~scored).sum()),
                 class_field=class_field, classes={str(k): v for k, v in cmap.name_of.items()}),
                 prediction=dict(path=os.path.abspath(pred), layer=pvec.layer if pvec else None,
                                 objects=len(pred_geoms),
                                 grid=gs.describe_grid(grid_obj) if grid_obj is not None else None),
                 assumptions=['the reference layer is exhaustive: prediction pixels/objects outside every '
                              'reference polygon count as false positives'])
    if context:
        notes['context'] = context
    result = dict(pixel=pixel, object=obj, notes=notes)
    from geoperc.evaluation import report as rp
    m_area = shapely.area(np.asarray(m_pred, object)) if len(m_pred) else np.zeros(0)
    r_area = shapely.area(np.asarray(m_ref, object)) if len(m_ref) else np.zeros(0)
    layers = _output_layers(match, pred_geoms, pred_ids, scores, m_area, rvec, ref_geoms, ref_ids_s, r_area,
                            scored, cmap)
    gv.write_styled_gpkg(os.path.join(out_dir, 'layers.gpkg'), layers, target_crs, rp.load_styles(LAYERS))
    rp.write_style_sidecars(out_dir, LAYERS)
    rp.write_metrics(out_dir, result)
    if report:
        rp.write_report(out_dir, result, layers, extent)
    return result


def _output_layers(match, pred_geoms, pred_ids, scores, p_area, rvec, ref_geoms, ref_ids, r_area, scored, cmap):
    pairs = match.pairs
    ref_fids = np.asarray(rvec.fids)[scored]
    score = (lambda idx: np.asarray(scores, float)[idx]) if scores is not None else \
        (lambda idx: np.full(len(idx), np.nan))

    def pred_layer(idx, iou):
        idx = np.asarray(idx, np.int64)
        return ([pred_geoms[i] for i in idx],
                dict(class_id=np.asarray([pred_ids[i] for i in idx], np.int64),
                     **{'class': np.asarray([cmap.name(pred_ids[i]) for i in idx], dtype=object)},
                     iou=np.asarray(iou, float), pred_id=idx, area=p_area[idx] if len(idx) else np.zeros(0),
                     score=score(idx)))

    tp = pred_layer(pairs[:, 0], match.ious)
    tp[1]['ref_fid'] = ref_fids[pairs[:, 1]].astype(np.int64) if len(pairs) else np.zeros(0, np.int64)
    fp = pred_layer(match.unmatched_pred, match.best_iou_pred[match.unmatched_pred])
    mi = match.unmatched_ref
    misses = ([ref_geoms[i] for i in mi],
              dict(class_id=np.asarray([ref_ids[i] for i in mi], np.int64),
                   **{'class': np.asarray([cmap.name(ref_ids[i]) for i in mi], dtype=object)},
                   iou=match.best_iou_ref[mi].astype(float), ref_fid=ref_fids[mi].astype(np.int64),
                   area=r_area[mi] if len(mi) else np.zeros(0)))
    ne = np.flatnonzero(~scored)
    not_eval = ([rvec.geometries[i] for i in ne],
                dict(ref_fid=np.asarray(rvec.fids)[ne].astype(np.int64),
                     reason=np.asarray(['outside the prediction or in nodata'] * len(ne), dtype=object)))
    return dict(zip(LAYERS, (tp, fp, misses, not_eval)))


# ----------------------------------------------------------------------------------------- CLI
def _input_errors():
    from geoperc.io.qgis_project import QgisProjectError
    from geoperc.io.scene import RasterReadError
    from geoperc.io.vector import VectorReadError
    return (SceneInputError, QgisProjectError, RasterReadError, VectorReadError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='geoperc eval-scene', formatter_class=argparse.RawDescriptionHelpFormatter,
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
    from geoperc.inference import InferenceError, build_model, infer_geotiff
    from geoperc.io.raster import RasterError
    from geoperc.io.scene import is_vector_path
    os.makedirs(out_dir, exist_ok=True)
    try:
        model = build_model(config, checkpoint)
        written = infer_geotiff(model, list(images), out=os.path.join(out_dir, 'prediction.tif'), tile=args.tile,
                                overlap=args.overlap, batch_size=args.batch_size, output='labels',
                                progress=not args.quiet)
    except (FileNotFoundError, RuntimeError, InferenceError, RasterError) as e:
        raise SceneInputError(f'running {config} with {checkpoint}: {e}') from e
    paths = [v for v in (written.values() if isinstance(written, dict) else [written]) if isinstance(v, str)]
    vec = [v for v in paths if is_vector_path(v)]
    ras = [v for v in paths if v.lower().endswith(('.tif', '.tiff'))]
    if not vec and not ras:
        raise SceneInputError(f'{config}: inference wrote no GeoTIFF or GeoPackage ({written})')
    logger.info(f'model: wrote {vec[0] if vec else ras[0]}')
    return (vec[0], images[0]) if vec else (ras[0], None)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``geoperc eval-scene``: returns 0 on success, 2 on bad input (message on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model and len(args.model) != 2:
        parser.error('give CONFIG and CHECKPOINT (two positional arguments)')
    if args.model and (not args.image or args.pred):
        parser.error('CONFIG CHECKPOINT needs --image and replaces --pred')
    if not (args.pred or args.model or (args.project and args.pred_layer)):
        parser.error('give --pred, CONFIG CHECKPOINT --image, or --project with --pred-layer')
    if not (args.ref or (args.project and args.ref_layer)):
        parser.error('give --ref, or --project with --ref-layer')
    if not logger.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter('eval-scene: %(message)s'))
        logger.addHandler(h)
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    errors = _input_errors()
    try:
        context, pred_crs, ref_crs, grid = {}, None, None, args.grid
        ref_where = pred_where = None
        pred, pred_layer, ref, ref_layer = args.pred, args.pred_layer, args.ref, args.ref_layer
        from geoperc.io.qgis_project import split_source
        if ref and '|' in ref:  # a QGIS source string copied from Layer Properties: path|layername=...
            ref, opts = split_source(ref)
            ref_layer, ref_where = ref_layer or opts.get('layername'), opts.get('subset') or None
        if pred and '|' in pred:
            pred, opts = split_source(pred)
            pred_layer, pred_where = pred_layer or opts.get('layername'), opts.get('subset') or None
        project = None
        if args.project:
            from geoperc.io.qgis_project import read_qgis_project
            from geoperc.io.vector import crs_label
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
        classes = [c.strip() for c in args.classes.split(',')] if args.classes else None
        result = evaluate_scene(pred, ref, args.out, ref_layer=ref_layer, pred_layer=pred_layer,
                                class_field=args.class_field, pred_class_field=args.pred_class_field,
                                classes=classes, iou_thr=args.iou_thr, all_touched=args.all_touched,
                                threshold=args.threshold, score_thr=args.score_thr, grid=grid, ref_crs=ref_crs,
                                pred_crs=pred_crs, min_valid_fraction=args.min_valid_fraction, rows=args.rows,
                                report=not args.no_report, ref_where=ref_where, pred_where=pred_where,
                                context=context or None)
    except errors as e:
        print(f'geoperc eval-scene: error: {e}', file=sys.stderr)
        return 2
    px, ob = result['pixel'], result['object']
    fmt = (lambda v: 'n/a' if v is None else f'{v:.4f}')
    print(f'pixel  precision {fmt(px["precision"])} recall {fmt(px["recall"])} f1 {fmt(px["f1"])} '
          f'iou {fmt(px["iou"])}')
    print(f'object precision {fmt(ob["precision"])} recall {fmt(ob["recall"])} f1 {fmt(ob["f1"])} '
          f'mean IoU {fmt(ob["iou"])} (TP {ob["tp"]}, FP {ob["fp"]}, FN {ob["fn"]})')
    print(f'outputs in {os.path.abspath(args.out)}')
    return 0
