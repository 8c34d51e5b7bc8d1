"""Outputs of scene evaluation: metrics JSON/CSV, QGIS style sidecars and a PNG/HTML report.

Every file is written to a temporary name in the output folder and renamed into place, so a
reader never sees a half-written file.
"""
import csv
import html
import io
import json
import os
from typing import Dict, Sequence

import numpy as np

from geoperc.io.atomic import atomic_write

STYLE_DIR = os.path.join(os.path.dirname(__file__), 'styles')
CSV_COLUMNS = ('section', 'class_id', 'class_name', 'precision', 'recall', 'f1', 'iou', 'tp', 'fp', 'fn',
               'support')
CONFUSION_TITLE = 'pixel confusion matrix: counts and % of the reference row'
COLOURS = dict(true_positives='#00aa00', false_positives='#dc1e1e', misses='#1e5ae6', not_evaluated='#808080')


def row_normalised(cm) -> np.ndarray:
    """Each row of a confusion matrix divided by its sum (the share of each reference class's pixels)."""
    cm = np.asarray(cm, float)
    return cm / np.maximum(cm.sum(1, keepdims=True), 1)


def load_styles(names: Sequence[str]) -> Dict[str, str]:
    """QML text of the packaged style of each output layer."""
    out = {}
    for n in names:
        with open(os.path.join(STYLE_DIR, f'{n}.qml'), encoding='utf-8') as f:
            out[n] = f.read()
    return out


def write_style_sidecars(out_dir: str, names: Sequence[str]) -> None:
    """Copy the QML files to ``out_dir/styles/`` (for Layer Properties > Style > Load Style)."""
    for n, qml in load_styles(names).items():
        atomic_write(os.path.join(out_dir, 'styles', f'{n}.qml'), qml)


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f'not JSON serialisable: {type(o)}')


def csv_rows(result: Dict):
    """Long table: one row per (section, class), foreground/overall rows first."""
    rows = []
    for section, label in (('pixel', 'foreground'), ('object', 'all objects')):
        m = result[section]
        rows.append(dict(section=section, class_id='', class_name=label,
                         **{k: m.get(k) for k in CSV_COLUMNS[3:]}))
        for c in m.get('classes', []):
            rows.append(dict(section=section, class_id=c['id'], class_name=c['name'],
                             **{k: c.get(k) for k in CSV_COLUMNS[3:]}))
    return rows


def write_metrics(out_dir: str, result: Dict) -> None:
    """``metrics.json`` (everything) and ``metrics.csv`` (scores per section and class)."""
    atomic_write(os.path.join(out_dir, 'metrics.json'), json.dumps(result, indent=2, default=_jsonable) + '\n')
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator='\n')
    w.writeheader()
    for r in csv_rows(result):
        w.writerow({k: ('' if v is None else v) for k, v in r.items()})
    atomic_write(os.path.join(out_dir, 'metrics.csv'), buf.getvalue())


def _polys(geoms):
    out = []
    for g in geoms:
        for p in getattr(g, 'geoms', [g]):
            if p.geom_type == 'Polygon' and not p.is_empty:
                out.append(np.asarray(p.exterior.coords)[:, :2])
    return out


def _figure(result: Dict, layers: Dict, extent):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    fig = Figure(figsize=(15, 10), dpi=100)
    FigureCanvasAgg(fig)
    px, ob = result['pixel'], result['object']
    # confusion matrix: raw counts, each with its share of the reference row (the row-normalised value
    # the colour shows), so the title says exactly what the numbers are
    ax = fig.add_subplot(2, 2, 1)
    if px.get('confusion_matrix'):
        cm = np.asarray(px['confusion_matrix'], float)
        norm = row_normalised(cm)
        ax.imshow(norm, cmap='Blues', vmin=0, vmax=1)
        names = [c['name'] for c in px['classes']]
        ax.set_xticks(range(len(names)), names, rotation=30, ha='right')
        ax.set_yticks(range(len(names)), names)
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, f'{int(v)}\n{100 * norm[i, j]:.1f}% of row', ha='center', va='center', fontsize=8,
                    color='white' if norm[i, j] > 0.5 else 'black')
        ax.set_xlabel('predicted')
        ax.set_ylabel('reference')
    else:
        ax.text(0.5, 0.5, px.get('skipped', 'no pixel metrics'), ha='center', va='center', wrap=True)
        ax.set_axis_off()
    ax.set_title(CONFUSION_TITLE, fontsize=10)
    # per-class bars
    ax = fig.add_subplot(2, 2, 2)
    groups = [(f'pixel: {c["name"]}', c) for c in px.get('classes', []) if c['id'] > 0]
    groups += [(f'object: {c["name"]}', c) for c in ob.get('classes', [])]
    keys = ('precision', 'recall', 'f1', 'iou')
    x = np.arange(len(groups))
    for k, key in enumerate(keys):
        ax.bar(x + (k - 1.5) * 0.2, [g[1].get(key) or 0 for g in groups], 0.2, label=key)
    ax.set_xticks(x, [g[0] for g in groups], rotation=20, ha='right')
    ax.set_ylim(0, 1.05)
    ax.legend(loc='lower right', fontsize=8)
    ax.set_title('per-class scores (object iou = mean IoU of matches)')
    # overview map
    ax = fig.add_subplot(2, 2, 3)
    ex = np.asarray(extent.exterior.coords)
    ax.plot(ex[:, 0], ex[:, 1], color='black', lw=1, label='prediction extent')
    for name, (geoms, _) in layers.items():
        p = _polys(geoms)
        if p:
            fill = name != 'not_evaluated'
            ax.add_collection(PolyCollection(p, facecolors=COLOURS[name] if fill else 'none',
                                             edgecolors=COLOURS[name], alpha=0.6 if fill else 1, lw=0.8))
        ax.plot([], [], color=COLOURS[name], lw=6, label=f'{name} ({len(geoms)})')
    ax.set_aspect('equal')
    ax.autoscale_view()
    ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1), fontsize=8, borderaxespad=0)
    ax.ticklabel_format(useOffset=False, style='plain')
    ax.set_title(f'overview ({result["notes"]["prediction_crs"]})', fontsize=9)
    ax.tick_params(labelsize=7)
    # headline + notes
    ax = fig.add_subplot(2, 2, 4)
    ax.set_axis_off()
    f = (lambda v: 'n/a' if v is None else f'{v:.3f}')
    lines = [f'PIXEL  precision {f(px["precision"])}  recall {f(px["recall"])}  F1 {f(px["f1"])}  '
             f'IoU {f(px["iou"])}',
             f'       OA {f(px.get("oa"))}  kappa {f(px.get("kappa"))}',
             f'       foreground: {px.get("foreground", "")}',
             f'OBJECT precision {f(ob["precision"])}  recall {f(ob["recall"])}  F1 {f(ob["f1"])}  '
             f'mean IoU {f(ob["iou"])}  (TP {ob["tp"]} FP {ob["fp"]} FN {ob["fn"]}, IoU >= {ob["iou_thr"]})',
             f'       objects: {ob.get("object_rule", "")}',
             f'areas in {result["notes"]["area_crs"]}', '']
    lines += [f'- {m}' for m in result['notes']['messages']]
    import textwrap
    text = '\n'.join(textwrap.fill(s, 100, subsequent_indent='   ') for s in lines)
    ax.text(0, 1, text, va='top', ha='left', family='monospace', fontsize=8)
    fig.tight_layout()
    return fig


def write_report(out_dir: str, result: Dict, layers: Dict, extent) -> None:
    """``report.png`` (confusion matrix, per-class bars, overview map, notes) and ``report.html``."""
    fig = _figure(result, layers, extent)
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    atomic_write(os.path.join(out_dir, 'report.png'), buf.getvalue())
    esc = html.escape

    def cell(v):
        return '' if v is None else (f'{v:.4f}' if isinstance(v, float) else esc(str(v)))

    rows = ''.join('<tr>' + ''.join(f'<td>{cell(r[k])}</td>' for k in CSV_COLUMNS) + '</tr>'
                   for r in csv_rows(result))
    notes = ''.join(f'<li>{esc(m)}</li>' for m in result['notes']['messages'])
    doc = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>geoperc scene evaluation</title>'
           '<style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style>'
           '</head><body><h1>Scene evaluation</h1>'
           f'<p>prediction CRS {esc(result["notes"]["prediction_crs"])}; areas and object IoU in '
           f'{esc(result["notes"]["area_crs"])}; objects: {esc(result["object"].get("object_rule", ""))}</p>'
           f'<table><tr>{"".join(f"<th>{c}</th>" for c in CSV_COLUMNS)}</tr>{rows}</table>'
           f'<h2>Notes</h2><ul>{notes}</ul><img src="report.png" width="100%"></body></html>\n')
    atomic_write(os.path.join(out_dir, 'report.html'), doc)
