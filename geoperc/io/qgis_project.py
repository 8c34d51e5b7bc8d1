"""Read QGIS projects (``.qgs`` XML, ``.qgz`` zip) without QGIS: layers, providers, sources, CRS.

Only the parts evaluation needs are read: each ``<maplayer>``'s name, id, type, provider,
``<datasource>`` (resolved against the project file's folder when relative, as QGIS's
``QgsPathResolver`` does, with ``|layername=``/``|layerid=`` suffixes split off) and its CRS, plus
the project CRS.
"""
import os
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional
from xml.etree import ElementTree as ET

from geoperc.errors import ProjectError

from .vector import to_crs

#: legacy name of :class:`geoperc.errors.ProjectError`
QgisProjectError = ProjectError


@dataclass
class QgisLayer:
    """One map layer of a project.

    ``path`` is the absolute file path (``None`` for non-file providers), ``sublayer`` the
    ``layername=`` part of an OGR source, ``options`` any other ``|key=value`` parts (e.g.
    ``layerid`` = layer index, ``subset``).
    """
    name: str
    id: str
    type: str
    provider: str
    source: str
    path: Optional[str]
    sublayer: Optional[str]
    crs: object
    options: Dict[str, str] = field(default_factory=dict)


@dataclass
class QgisProject:
    path: str
    crs: object
    layers: List[QgisLayer]
    version: str = ''

    def layer(self, name: str, type: Optional[str] = None) -> QgisLayer:
        """The layer called ``name`` (or with that id); raises listing the available layers."""
        cands = [lyr for lyr in self.layers if lyr.name == name] or [lyr for lyr in self.layers if lyr.id == name]
        if type is not None:
            cands = [lyr for lyr in cands if lyr.type == type] or cands
        if not cands:
            avail = ', '.join(f'{lyr.name!r} ({lyr.type}, {lyr.provider})' for lyr in self.layers) or '(none)'
            raise QgisProjectError(f'{self.path}: no layer named {name!r}; available: {avail}')
        if len(cands) > 1:
            raise QgisProjectError(f'{self.path}: {len(cands)} layers are named {name!r}; pass a layer id '
                                   'instead: ' + ', '.join(lyr.id for lyr in cands))
        lyr = cands[0]
        if lyr.provider == 'memory':
            raise QgisProjectError(f'{self.path}: layer {name!r} is a temporary (memory) layer with no file; '
                                   'save it in QGIS (Export > Save Features As...) and add the saved file')
        if lyr.path is None:
            raise QgisProjectError(f'{self.path}: layer {name!r} has provider {lyr.provider!r} and source '
                                   f'{lyr.source!r}, not a local file geoperc can read')
        if not os.path.exists(lyr.path):
            raise QgisProjectError(f'{self.path}: layer {name!r} points to {lyr.path}, which does not exist')
        return lyr


FILE_PROVIDERS = ('ogr', 'gdal')


def split_source(source: str):
    """``'./a.gpkg|layername=x|subset=...'`` -> (``'./a.gpkg'``, ``{'layername': 'x', 'subset': ...}``)."""
    parts = source.split('|')
    opts = {}
    for p in parts[1:]:
        k, _, v = p.partition('=')
        opts[k.strip()] = v
    return parts[0], opts


def resolve_path(path: str, base_dir: str) -> str:
    """Resolve a QGIS-written path against the project folder (``./x``, ``../x``, ``x`` or absolute;
    ``file://`` URLs and ``/vsizip/``-style prefixes kept)."""
    if path.startswith('file://'):
        from urllib.parse import unquote, urlparse
        path = unquote(urlparse(path).path)
    for vsi in ('/vsizip/', '/vsigzip/', '/vsitar/'):
        if path.startswith(vsi):
            return vsi + os.path.normpath(os.path.join(base_dir, path[len(vsi):]))
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(base_dir, path))


def _crs_of(elem):
    """CRS from a ``<spatialrefsys>`` element (WKT, then authid, then proj4), or None."""
    if elem is None:
        return None
    for tag in ('wkt', 'authid', 'proj4'):
        text = (elem.findtext(tag) or '').strip()
        if text:
            try:
                return to_crs(text)
            except Exception:
                continue
    return None


def _read_xml(path: str) -> bytes:
    if not os.path.exists(path):
        raise QgisProjectError(f'{path}: project file not found')
    if path.lower().endswith('.qgz') or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.lower().endswith('.qgs')]
                if not names:
                    raise QgisProjectError(f'{path}: .qgz archive holds no .qgs project '
                                           f'(members: {", ".join(z.namelist()) or "none"})')
                return z.read(names[0])
        except zipfile.BadZipFile as e:
            raise QgisProjectError(f'{path}: not a readable .qgz (zip) file ({e})') from e
    with open(path, 'rb') as f:
        return f.read()


def read_qgis_project(path: str) -> QgisProject:
    """Parse a ``.qgs`` or ``.qgz`` project; raises :class:`QgisProjectError` if unreadable."""
    data = _read_xml(path)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise QgisProjectError(f'{path}: not a readable QGIS project (XML error: {e})') from e
    if root.tag != 'qgis':
        raise QgisProjectError(f'{path}: not a QGIS project (root element <{root.tag}>, expected <qgis>)')
    base = os.path.dirname(os.path.abspath(path))
    layers = []
    for ml in root.iter('maplayer'):
        source = (ml.findtext('datasource') or '').strip()
        provider = (ml.findtext('provider') or '').strip()
        ltype = ml.get('type', '')
        file_path, opts, sub = None, {}, None
        if provider in FILE_PROVIDERS and source:
            raw, opts = split_source(source)
            file_path = resolve_path(raw, base)
            sub = opts.pop('layername', None)
        layers.append(QgisLayer(name=(ml.findtext('layername') or '').strip(), id=(ml.findtext('id') or '').strip(),
                                type=ltype, provider=provider, source=source, path=file_path, sublayer=sub,
                                crs=_crs_of(ml.find('srs/spatialrefsys')), options=opts))
    if not layers:
        raise QgisProjectError(f'{path}: project has no map layers')
    return QgisProject(os.path.abspath(path), _crs_of(root.find('projectCrs/spatialrefsys')), layers,
                       root.get('version', ''))
