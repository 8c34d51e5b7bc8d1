"""Evaluate a prediction against a scene exported from QGIS: pixel and object metrics, layers back.

:func:`evaluate_scene` runs the steps below, each a function of its own:

1. :class:`SceneSettings` -- every option, one dataclass (the command line of ``geoperc eval-scene``,
   ``geoperc/cli/eval_scene.py``, fills it);
2. :func:`load_inputs` -- the prediction (label / probability GeoTIFF, or a vector layer of predicted
   polygons) and the reference layer, read and cleaned by ``geoperc.io`` (null, empty, unreadable and
   non-polygonal records counted; multipart features exploded into parts with ``explode_multipart``);
3. :func:`align_inputs` -- the layers reprojected to the prediction CRS, overlap checked;
4. :func:`assign_classes` -- reference / prediction class ids;
5. :func:`score_pixels` -- the confusion matrix of the rasterised reference against the prediction on
   its grid, streamed strip by strip (``functional.confusion``, the code training uses), and the error
   map ``pixel_errors.tif``;
6. :func:`score_objects` -- one-to-one IoU matching (``functional.objects``);
7. :func:`write_outputs` -- ``metrics.json``, ``metrics.csv``, ``layers.gpkg`` (styled true positives /
   false positives / misses), QGIS style sidecars and the report (``report.py``).

Evaluation never imports inference: running a model first is the command line's job.
"""
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from geoperc.errors import SceneInputError
from geoperc.evaluation.functional.confusion import (binary_metrics_from_confusion, confusion_matrix,
                                                     metrics_from_confusion)
from geoperc.evaluation.functional.objects import match_polygons, object_metrics

__all__ = ['SceneSettings', 'SceneInputs', 'SceneInputError', 'ClassMap', 'evaluate_scene', 'load_inputs',
           'align_inputs', 'assign_classes', 'score_pixels', 'score_objects', 'write_outputs', 'main']

logger = logging.getLogger('geoperc.eval_scene')
LAYERS = ('true_positives', 'false_positives', 'misses', 'not_evaluated')


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


# --------------------------------------------------------------------------------------- steps
@dataclass
class SceneSettings:
    """Every option of a scene evaluation.

    Attributes:
        ref_layer, pred_layer: layer names inside multi-layer files.
        class_field: reference field holding the class; without it every feature is one foreground class
            and the prediction is binarised (any class > 0).
        pred_class_field: class field of a vector prediction (default ``class`` when present).
        classes: class names in prediction-id order (1..K).
        iou_thr: object match threshold.
        all_touched: rasterise every pixel a polygon touches (else pixel centres).
        threshold: probability threshold of a one-band probability raster.
        score_thr: drop vector predictions with ``score`` below this.
        grid: raster whose grid is used for pixel metrics of a vector prediction.
        ref_crs, pred_crs: CRS to assume for layers whose file carries none (from a QGIS project).
        min_valid_fraction: reference objects with less of their area on valid prediction pixels are not
            scored (layer ``not_evaluated``).
        rows: strip height for streaming (default: about 2 megapixels a strip).
        report: also write ``report.png`` / ``report.html``.
        ref_where, pred_where: OGR SQL filters (a QGIS layer's subset string).
        context: extra notes (e.g. the project the inputs came from).
        explode_multipart: each part of a multipart feature is an object (default: each feature is one).
        buffer_points: score a point prediction layer as discs of this radius (prediction CRS units);
            without it point and line predictions are refused.
    """
    ref_layer: Optional[str] = None
    pred_layer: Optional[str] = None
    class_field: Optional[str] = None
    pred_class_field: Optional[str] = None
    classes: Optional[Sequence[str]] = None
    iou_thr: float = 0.5
    all_touched: bool = False
    threshold: float = 0.5
    score_thr: float = 0.0
    grid: Optional[str] = None
    ref_crs: object = None
    pred_crs: object = None
    min_valid_fraction: float = 0.5
    rows: Optional[int] = None
    report: bool = True
    ref_where: Optional[str] = None
    pred_where: Optional[str] = None
    context: Optional[Dict] = None
    explode_multipart: bool = False
    buffer_points: Optional[float] = None


@dataclass
class SceneInputs:
    """What the steps pass on: the inputs, their common CRS and the notes gathered so far."""
    pred: str
    ref: str
    rvec: object                   # reference VectorLayer
    pvec: object = None            # prediction VectorLayer, or None for a raster prediction
    grid: object = None            # geoperc.io.scene.RasterGrid of the prediction (or --grid), or None
    target_crs: object = None
    extent: object = None          # shapely polygon of the prediction's extent
    messages: List[str] = field(default_factory=list)
    pred_class_field: Optional[str] = None

    def say(self, msg: str) -> None:
        logger.info(msg)
        self.messages.append(msg)


@dataclass
class ClassSetup:
    cmap: ClassMap
    ref_ids: List[int]
    binarize: bool
    pred_geoms: List = field(default_factory=list)
    pred_ids: List[int] = field(default_factory=list)
    scores: Optional[np.ndarray] = None


def _multipart_note(before, after, name: str, explode: bool, say: Callable[[str], None]) -> None:
    n = sum(1 for g in before.geometries if g.geom_type == 'MultiPolygon' and len(g.geoms) > 1)
    if explode and n:
        say(f'{name}: {n} multipart features exploded into {len(after)} objects of {len(before)} features '
            '(--explode-multipart: each part is an object)')
    elif n:
        say(f'{name}: {n} multipart features each count as one object; pass --explode-multipart to score '
            'each part as an object')


def _clean_note(lyr, name: str, say: Callable[[str], None]) -> None:
    c = lyr.counts
    if c['null'] or c['empty'] or c['non_polygonal'] or c['degenerate'] or c.get('unreadable'):
        say(f'{name}: skipped {c["null"]} null, {c["empty"]} empty, {c.get("unreadable", 0)} unreadable (corrupt), '
            f'{c["non_polygonal"]} non-polygonal and {c["degenerate"]} degenerate geometries of {c["features"]}'
            + (f' (unreadable records {c["unreadable_records"][:10]})' if c.get('unreadable') else ''))
    if c['repaired']:
        say(f'{name}: repaired {c["repaired"]} invalid polygons with make_valid')


def load_inputs(pred: str, ref: str, s: SceneSettings) -> SceneInputs:
    """Read the prediction and the reference layer (step 2); raises :class:`SceneInputError` /
    ``RasterError`` / ``VectorError`` naming the file for inputs that cannot be evaluated."""
    from geoperc.io import scene as gs
    from geoperc.io import vector as gv
    pvec, grid = None, None
    pred_class_field = s.pred_class_field
    if gs.is_vector_path(pred):
        pvec = gv.read_vector(pred, s.pred_layer, crs=s.pred_crs, where=s.pred_where, non_polygonal='refuse',
                              buffer_points=s.buffer_points)
        if pvec.counts.get('buffered_points') and pvec.crs is not None and pvec.crs.is_geographic:
            raise SceneInputError(f'{pred}: --buffer-points {s.buffer_points} would be in degrees: the layer CRS '
                                  f'{gv.crs_label(pvec.crs)} is geographic; reproject the layer to a projected CRS')
        fields = pvec.attributes
        if s.grid:
            grid = gs.open_grid(s.grid, kind='image')
        if pvec.crs is None and grid is None:
            raise SceneInputError(f'{pred}: prediction layer {pvec.layer!r} has no CRS')
        if pred_class_field and pred_class_field not in fields:
            raise SceneInputError(f'{pred} (layer {pvec.layer!r}): no field {pred_class_field!r}; available fields: '
                                  + (', '.join(fields) or '(none)'))
        pred_class_field = pred_class_field or ('class' if 'class' in fields else None)
    else:
        grid = gs.open_grid(pred, crs=s.pred_crs)
    rvec = gv.read_vector(ref, s.ref_layer, columns=[s.class_field] if s.class_field else [], crs=s.ref_crs,
                          where=s.ref_where)
    inp = SceneInputs(pred, ref, rvec, pvec, grid, grid.crs if grid is not None else pvec.crs,
                      pred_class_field=pred_class_field)
    c = rvec.counts
    _clean_note(rvec, 'reference', inp.say)
    if pvec is not None:
        _clean_note(pvec, 'prediction', inp.say)
        if pvec.counts.get('buffered_points'):
            inp.say(f'prediction: {pvec.counts["buffered_points"]} points scored as discs of radius '
                    f'{s.buffer_points} (--buffer-points)')
    if not len(rvec):
        raise SceneInputError(f'{ref}: reference layer {rvec.layer!r} has no usable polygons '
                              f'({c["features"]} features; {c["null"]} null, {c["empty"]} empty, '
                              f'{c.get("unreadable", 0)} unreadable, {c["non_polygonal"]} non-polygonal)')
    if rvec.crs is None:
        raise SceneInputError(f'{ref}: reference layer {rvec.layer!r} has no CRS; set it in QGIS '
                              '(Layer > Set CRS of Layer) and export again')
    if s.explode_multipart:
        inp.rvec = gv.explode_multipart(rvec)
        if pvec is not None:
            inp.pvec = gv.explode_multipart(pvec)
    _multipart_note(rvec, inp.rvec, 'reference', s.explode_multipart, inp.say)
    if pvec is not None:
        _multipart_note(pvec, inp.pvec, 'prediction', s.explode_multipart, inp.say)
    return inp


def align_inputs(inp: SceneInputs) -> SceneInputs:
    """Reproject the layers to the prediction CRS and check that the reference overlaps the prediction
    (step 3)."""
    import shapely

    from geoperc.io import vector as gv
    for name, lyr in (('reference', inp.rvec), ('prediction', inp.pvec)):
        if lyr is not None and not gv.same_crs(lyr.crs, inp.target_crs):
            inp.say(f'{name}: reprojected {lyr.path} from {gv.crs_label(lyr.crs)} to the prediction CRS '
                    f'{gv.crs_label(inp.target_crs)}')
    inp.rvec = inp.rvec.to_crs(inp.target_crs)
    if inp.pvec is not None:
        inp.pvec = inp.pvec.to_crs(inp.target_crs)
        if not len(inp.pvec) and inp.grid is None:
            raise SceneInputError(f'{inp.pred}: prediction layer {inp.pvec.layer!r} has no polygons; give --grid '
                                  'RASTER to score an empty prediction')
    inp.extent = inp.grid.footprint() if inp.grid is not None else shapely.box(*inp.pvec.bounds())
    ref_box = shapely.box(*inp.rvec.bounds())
    if not shapely.intersects(np.asarray(inp.rvec.geometries, object), inp.extent).any():
        raise SceneInputError(f'{inp.ref}: reference layer {inp.rvec.layer!r} does not overlap the prediction '
                              f'{inp.pred} (reference bounds {tuple(round(v, 3) for v in ref_box.bounds)}, '
                              f'prediction bounds {tuple(round(v, 3) for v in inp.extent.bounds)}, both in '
                              f'{gv.crs_label(inp.target_crs)})')
    return inp


def assign_classes(inp: SceneInputs, s: SceneSettings) -> ClassSetup:
    """Class ids of the reference features and of the vector predictions (step 4); drops reference features
    without a class value and vector predictions under ``score_thr``."""
    rvec = inp.rvec
    if s.class_field:
        vals = rvec.attributes[s.class_field]
        null = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in vals], bool)
        if null.all():
            raise SceneInputError(f'{inp.ref}: field {s.class_field!r} of layer {rvec.layer!r} is empty (null) for '
                                  'every feature')
        if null.any():
            inp.say(f'reference: skipped {int(null.sum())} features with no {s.class_field!r} value')
            keep = np.flatnonzero(~null)
            inp.rvec = rvec = type(rvec)(rvec.path, rvec.layer, rvec.crs, [rvec.geometries[i] for i in keep],
                                         np.asarray(rvec.fids)[keep], {k: v[keep] for k, v in rvec.attributes.items()},
                                         dict(rvec.counts, null_class=int(null.sum())), rvec.reprojected_from)
    cmap = ClassMap(rvec.attributes[s.class_field] if s.class_field else ['foreground'] * len(rvec), s.classes,
                    source=f'{inp.ref} field {s.class_field!r}')
    if cmap.note:
        inp.say(cmap.note)
    ref_ids = cmap.ids(rvec.attributes[s.class_field]) if s.class_field else [1] * len(rvec)
    setup = ClassSetup(cmap, ref_ids, binarize=s.class_field is None)
    pvec = inp.pvec
    if pvec is not None:
        keep = np.ones(len(pvec), bool)
        if 'score' in pvec.attributes:
            scores = pvec.attributes['score'].astype(float)
            keep = scores >= s.score_thr
            if (~keep).any():
                inp.say(f'prediction: dropped {int((~keep).sum())} objects with score < {s.score_thr}')
            setup.scores = scores[keep]
        setup.pred_geoms = [g for g, k in zip(pvec.geometries, keep) if k]
        if setup.binarize or inp.pred_class_field is None:
            setup.pred_ids = [1] * len(setup.pred_geoms)
            if not setup.binarize:
                inp.say(f'prediction: {pvec.path} has no class field; every predicted object is {cmap.name(1)!r}')
        else:
            setup.pred_ids = cmap.ids(pvec.attributes[inp.pred_class_field][keep], extend=True)
    return setup


def score_pixels(inp: SceneInputs, cls: ClassSetup, s: SceneSettings, out_dir: str) -> Dict:
    """Pixel metrics on the prediction's grid (or ``--grid``) and ``pixel_errors.tif`` (step 5)."""
    from geoperc.io import scene as gs
    if inp.grid is None:
        return dict(precision=None, recall=None, f1=None, iou=None, classes=[],
                    skipped='a vector prediction needs --grid RASTER for pixel metrics')
    fg = 'class 1 (all reference features are one class; prediction binarised: any class > 0)' if cls.binarize \
        else 'any class > 0 against background (class-agnostic); per-class scores in classes'
    n_cls = max(256, max(cls.ref_ids) + 1, max(cls.pred_ids, default=0) + 1)
    strips = gs.aligned_strips(inp.grid, inp.rvec.geometries, cls.ref_ids, cls.pred_geoms, cls.pred_ids,
                               s.all_touched, s.threshold, s.rows)
    binarize = cls.binarize and inp.pvec is None
    with gs.ErrorMapWriter(os.path.join(out_dir, 'pixel_errors.tif'), inp.grid) as em:
        cm = _confusion(strips, n_cls, binarize, em)
    pixel = pixel_section(cm, cls.cmap, fg)
    pixel['all_touched'] = s.all_touched
    if inp.grid.kind == 'probs':
        inp.say('prediction: probabilities ' + (f'thresholded at {s.threshold}' if inp.grid.count == 1
                                                 else 'arg-maxed over bands (band 1 = background)'))
    if binarize and cm.shape[0] > 2:
        inp.say(f'prediction has classes up to {cm.shape[0] - 1}; binarised (any class > 0) since the '
                'reference has no --class-field')
    return pixel


@dataclass
class ObjectScores:
    section: Dict
    match: object
    pred_geoms: List
    pred_ids: List[int]
    ref_geoms: List
    ref_ids: List[int]
    scored: np.ndarray
    area_crs: object
    pred_area: np.ndarray
    ref_area: np.ndarray


def score_objects(inp: SceneInputs, cls: ClassSetup, s: SceneSettings) -> ObjectScores:
    """Object metrics (step 6): a raster prediction is vectorised (4-connected regions), reference objects
    mostly outside the valid prediction are set aside, and predictions are matched one-to-one by IoU,
    measured in a metric CRS (the local UTM zone when the prediction CRS is geographic)."""
    import shapely

    from geoperc.io import scene as gs
    from geoperc.io import vector as gv
    pred_geoms, pred_ids, nodata_polys = cls.pred_geoms, cls.pred_ids, []
    if inp.pvec is None:
        pred_geoms, pred_ids, nodata_polys = gs.vectorize_labels(inp.grid, s.threshold, s.rows, cls.binarize)
        inp.say(f'prediction: vectorised {len(pred_geoms)} objects from the mask (4-connected regions)')
    elif inp.grid is not None:
        nodata_polys = gs.vectorize_labels(inp.grid, rows=s.rows)[2]
    rg = np.asarray(inp.rvec.geometries, object)
    if inp.grid is not None:
        valid_area = inp.extent.difference(shapely.union_all(nodata_polys)) if nodata_polys else inp.extent
        frac = shapely.area(shapely.intersection(rg, valid_area)) / shapely.area(rg)
    else:
        frac = np.ones(len(rg))
    scored = frac >= s.min_valid_fraction
    if (~scored).any():
        inp.say(f'reference: {int((~scored).sum())} objects not scored: less than {s.min_valid_fraction:.0%} of '
                'their area lies on valid prediction pixels (outside the raster or in nodata); see layer '
                'not_evaluated')
    ref_geoms = [g for g, k in zip(inp.rvec.geometries, scored) if k]
    ref_ids = [i for i, k in zip(cls.ref_ids, scored) if k]
    crs = inp.target_crs
    if crs.is_geographic:
        area_crs = gv.local_metric_crs(inp.extent.bounds, crs)
        inp.say(f'prediction CRS {gv.crs_label(crs)} is geographic: areas and object IoU are computed '
                f'in the local UTM zone {gv.crs_label(area_crs)}')
        m_pred, m_ref = gv.reproject(pred_geoms, crs, area_crs), gv.reproject(ref_geoms, crs, area_crs)
    else:
        area_crs, m_pred, m_ref = crs, pred_geoms, ref_geoms
    match = match_polygons(m_pred, m_ref, s.iou_thr, pred_ids, ref_ids, cls.scores)
    section = object_section(match, pred_ids, ref_ids, cls.cmap, s.iou_thr)
    section['object_rule'] = ('each part of a multipart feature is one object (--explode-multipart)'
                              if s.explode_multipart else 'each feature is one object (multipart features '
                              'count once; --explode-multipart scores each part)')
    p_area = shapely.area(np.asarray(m_pred, object)) if len(m_pred) else np.zeros(0)
    r_area = shapely.area(np.asarray(m_ref, object)) if len(m_ref) else np.zeros(0)
    return ObjectScores(section, match, pred_geoms, pred_ids, ref_geoms, ref_ids, scored, area_crs, p_area, r_area)


def _notes(inp: SceneInputs, cls: ClassSetup, obj: ObjectScores, s: SceneSettings) -> Dict:
    from geoperc.io import scene as gs
    from geoperc.io import vector as gv
    rvec, pvec = inp.rvec, inp.pvec
    unit = obj.area_crs.axis_info[0].unit_name if obj.area_crs.axis_info else 'unit'
    notes = dict(messages=inp.messages, prediction_crs=gv.crs_label(inp.target_crs),
                 area_crs=gv.crs_label(obj.area_crs), area_unit=f'square {unit}',
                 object_rule=obj.section['object_rule'],
                 reference=dict(path=os.path.abspath(inp.ref), layer=rvec.layer,
                                crs=rvec.reprojected_from or gv.crs_label(rvec.crs),
                                reprojected=rvec.reprojected_from is not None, counts=rvec.counts,
                                scored_objects=len(obj.ref_geoms), not_scored_objects=int((~obj.scored).sum()),
                                class_field=s.class_field, classes={str(k): v for k, v in cls.cmap.name_of.items()}),
                 prediction=dict(path=os.path.abspath(inp.pred), layer=pvec.layer if pvec else None,
                                 objects=len(obj.pred_geoms), counts=pvec.counts if pvec else None,
                                 grid=gs.describe_grid(inp.grid) if inp.grid is not None else None),
                 assumptions=['the reference layer is exhaustive: prediction pixels/objects outside every '
                              'reference polygon count as false positives'])
    if s.context:
        notes['context'] = s.context
    return notes


def write_outputs(out_dir: str, result: Dict, inp: SceneInputs, cls: ClassSetup, obj: ObjectScores,
                  report: bool = True) -> None:
    """``layers.gpkg`` with QGIS styles, style sidecars, ``metrics.json`` / ``metrics.csv`` and the report
    (step 7); every file is written to a temporary name and renamed."""
    from geoperc.evaluation import report as rp
    from geoperc.io import vector as gv
    layers = _output_layers(obj.match, obj.pred_geoms, obj.pred_ids, cls.scores, obj.pred_area, inp.rvec,
                            obj.ref_geoms, obj.ref_ids, obj.ref_area, obj.scored, cls.cmap)
    gv.write_styled_gpkg(os.path.join(out_dir, 'layers.gpkg'), layers, inp.target_crs, rp.load_styles(LAYERS))
    rp.write_style_sidecars(out_dir, LAYERS)
    rp.write_metrics(out_dir, result)
    if report:
        rp.write_report(out_dir, result, layers, inp.extent)


def evaluate_scene(pred: str, ref: str, out_dir: str, settings: Optional[SceneSettings] = None,
                   **options) -> Dict:
    """Score a prediction (label/probability GeoTIFF, or a GeoPackage of predicted polygons) against
    a reference vector layer and write the outputs to ``out_dir``.

    Args:
        pred (str): prediction raster, or vector file of predicted polygons (``class``, ``score``).
        ref (str): reference vector file (GeoPackage, Shapefile, GeoJSON, ...).
        out_dir (str): output folder (created).
        settings (SceneSettings, optional): the options; or give them as keywords (the fields of
            :class:`SceneSettings`).

    Returns:
        dict: the content of ``metrics.json`` (``pixel``, ``object``, ``notes``).
    """
    s = settings if settings is not None else SceneSettings(**options)
    if settings is not None and options:
        s = SceneSettings(**dict(asdict(settings), **options))
    inp = align_inputs(load_inputs(pred, ref, s))
    cls = assign_classes(inp, s)
    os.makedirs(out_dir, exist_ok=True)
    pixel = score_pixels(inp, cls, s, out_dir)
    obj = score_objects(inp, cls, s)
    result = dict(pixel=pixel, object=obj.section, notes=_notes(inp, cls, obj, s))
    write_outputs(out_dir, result, inp, cls, obj, s.report)
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Legacy entry point; the command line is :func:`geoperc.cli.eval_scene.main`."""
    from geoperc.cli.eval_scene import main as cli_main
    return cli_main(argv)
