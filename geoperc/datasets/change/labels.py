"""Change-label encodings: how the values of a label file map to unchanged / changed / not scored.

``label_encoding`` is one explicit setting of every change dataset and of ``LoadChangeLabel``:

======== ===================================================================================
``'01'``   0 = unchanged, 1 = changed; 255 (``ignore_index``), nodata and masked pixels are not
           scored. GeoTIFF label rasters written by geoperc (``geoperc.testing.make_change_scene``).
``'0255'`` 0 = unchanged, 255 = changed; nodata / masked pixels are not scored. The PNG releases
           (LEVIR-CD, CLCD, S2Looking, GZ-CD, SYSU-CD, WHU-CD) and most GeoTIFFs cut from them.
``'auto'`` decided from the label values (of every scene for a GeoTIFF pair dataset, of a sample
           of labels for a folder / list dataset): values in {0, 1, 255} with some 1 -> ``'01'``;
           a label whose only non-zero value is 255 -> ``'0255'``, and the decision is logged; any
           other value -> an error naming the file and the values.
======== ===================================================================================

Reading 0/255 data as ``'01'`` would turn every change pixel into "not scored" (the model would be
scored on unchanged pixels only, change recall 0 with no warning): :func:`check_encoding` raises a
:class:`~geoperc.errors.DatasetError` for a label whose only non-zero value is 255 read as ``'01'``, and
for 0/1 values read as ``'0255'``.
"""
import logging
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from geoperc.errors import DatasetError

LABEL_ENCODINGS = ('01', '0255', 'auto')


def _log(msg: str, level=logging.WARNING) -> None:
    try:
        from mmengine.logging import print_log
        print_log(msg, logger='current', level=level)
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).log(level, msg)


def check_name(encoding: Optional[str], what: str = 'label_encoding') -> Optional[str]:
    """``encoding`` if it is one of :data:`LABEL_ENCODINGS` (or None), else a :class:`DatasetError`."""
    if encoding is None or encoding in LABEL_ENCODINGS:
        return encoding
    raise DatasetError(f'{what}={encoding!r} is not one of {list(LABEL_ENCODINGS)} (0/1 labels: \'01\'; '
                       '0/255 labels: \'0255\'; decide from the values: \'auto\')')


def detect_encoding(values: Iterable[int], path: str, ignore_index: int = 255) -> Tuple[str, Optional[str]]:
    """``(encoding, note)`` for a label holding ``values`` (valid pixels only; nodata excluded).

    Raises:
        DatasetError: values that fit neither encoding.
    """
    vals = {int(v) for v in values}
    if vals <= {0, 1, ignore_index} and 1 in vals:
        return '01', None
    if vals <= {0, 255}:
        if 255 in vals:
            return '0255', (f'{path}: the only non-zero label value is 255: reading the label as the 0/255 '
                            "encoding (255 = changed); set label_encoding='01' if 255 means 'not scored'")
        return '01', None  # only 0: no change in this label, either encoding reads it the same
    raise DatasetError(f'{path}: label values {sorted(vals)[:8]} are neither 0/1 (255 = not scored) nor 0/255; '
                       'give LoadChangeLabel a mapping (or threshold=128 for JPEG labels)')


def check_encoding(values: Iterable[int], encoding: str, path: str, ignore_index: int = 255,
                   nodata: Optional[float] = None) -> None:
    """Refuse values that ``encoding`` would silently misread (see the module docstring)."""
    vals = {int(v) for v in values}
    if encoding == '01':
        if 255 in vals and 1 not in vals and ignore_index == 255:
            hint = (' (the file also declares nodata 255: if 255 marks change, unset it: gdal_edit.py -unsetnodata)'
                    if nodata == 255 else '')
            raise DatasetError(f"{path}: the only non-zero label value is 255, which label_encoding='01' reads as "
                               "'not scored': every change pixel would be ignored and change recall could not be "
                               f"measured; use label_encoding='0255' (or 'auto'){hint}")
        bad = sorted(vals - {0, 1, ignore_index})
        if bad:
            raise DatasetError(f"{path}: label values {bad[:8]} are not 0/1/{ignore_index} "
                               f"(label_encoding='01'); use '0255', 'auto' or a mapping")
    elif encoding == '0255':
        bad = sorted(vals - {0, 255})
        if bad:
            more = "; the label holds 0/1: use label_encoding='01'" if bad == [1] else \
                '; JPEG labels need LoadChangeLabel(threshold=128)'
            raise DatasetError(f"{path}: label values {bad[:8]} are not 0/255 (label_encoding='0255'){more}")


def encode(lab: np.ndarray, encoding: str, path: str, ignore_index: int = 255) -> np.ndarray:
    """File values -> ``(H, W)`` uint8 0 / 1 / ``ignore_index`` under ``encoding`` (``'01'`` or ``'0255'``).

    Only values outside the encoding are refused here (a window may hold just 0 and not-scored pixels);
    the "every positive ignored" check is :func:`check_encoding` on a whole label."""
    values = np.unique(lab).tolist()
    allowed = {0, 255} if encoding == '0255' else {0, 1, ignore_index}
    bad = [v for v in values if v not in allowed]
    if bad:
        check_encoding(bad, encoding, path, ignore_index)
    if encoding == '0255':
        return (lab == 255).astype(np.uint8)
    return lab.astype(np.uint8)


def raster_label_values(path: str, rows: int = 1024) -> Tuple[np.ndarray, Optional[float]]:
    """The distinct values of the valid pixels of band 1 of a label raster (read in strips of ``rows``),
    and its nodata value. Bounded memory: one strip at a time."""
    from geoperc.io.raster import GridReader
    seen: Dict[int, bool] = {}
    with GridReader(path, bands=[1]) as rd:
        H, W = rd.grid.shape
        for r0 in range(0, H, rows):
            data, valid = rd.read((0, r0, W, min(rows, H - r0)))
            v = data[0][valid]
            if v.dtype == np.uint8:
                seen.update({int(i): True for i in np.flatnonzero(np.bincount(v, minlength=256))})
            else:
                seen.update({int(i): True for i in np.unique(v)})
        nodata = rd.nodata
    return np.asarray(sorted(seen), np.int64), nodata


def resolve(encoding: str, labels: Sequence[Tuple[str, Iterable[int], Optional[float]]],
            ignore_index: int = 255, what: str = '') -> str:
    """The encoding of a *set* of labels ``(path, values of its valid pixels, nodata)``.

    ``'auto'``: ``'01'`` when some label holds a 1 (255 is then "not scored"), else ``'0255'`` when some
    label holds 255 (logged: the only non-zero value is 255), else ``'01'`` (no change anywhere).
    Explicit ``'01'``: refused when no label holds a 1 but some hold 255 (every positive would be
    ignored) and for values outside 0/1/255. Explicit ``'0255'``: refused for values outside 0/255.
    """
    check_name(encoding)
    labels = [(p, {int(v) for v in vals}, nd) for p, vals, nd in labels]
    for p, vals, _ in labels:
        if not vals <= {0, 1, 255, ignore_index}:
            if encoding == 'auto':
                detect_encoding(vals, p, ignore_index)  # raises, naming the values
            check_encoding(vals, encoding, p, ignore_index)
    with_one = [p for p, v, _ in labels if 1 in v]
    with_255 = [(p, nd) for p, v, nd in labels if 255 in v]
    if encoding == '0255':
        for p, vals, nd in labels:
            check_encoding(vals, '0255', p, ignore_index, nd)
        return '0255'
    if encoding == '01':
        if not with_one and with_255:
            check_encoding({0, 255}, '01', what + with_255[0][0], ignore_index, with_255[0][1])
        return '01'
    if with_one or not with_255:
        return '01'
    n = len(with_255)
    _log(detect_encoding({0, 255}, with_255[0][0], ignore_index)[1]
         + (f' ({n} labels checked hold 0/255 only)' if n > 1 else ''))
    return '0255'
