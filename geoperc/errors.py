"""One root for every error a *user* can cause: bad files, bad settings, bad scenes.

Every geoperc CLI catches :class:`GeoPercError` (and only it), prints its message on one line and exits 2.
Any other exception is a programming error and raises with its traceback. Messages name the file (or the
setting) and the problem; raise them from ``geoperc.io`` / datasets / tools at the point the input is read.

The hierarchy (each also derives from the builtin a caller would naturally catch, so existing
``except ValueError`` code keeps working)::

    GeoPercError
    ├── RasterError          a raster cannot be used (missing, unreadable, no georeferencing, band count)
    │   └── RasterReadError  a read failed mid-file (truncated / corrupt), names the window
    ├── VectorError          a vector layer cannot be read or has the wrong geometry type
    ├── ProjectError         a .qgs/.qgz project cannot be read or names missing layers
    ├── SettingsError        an option or config value is invalid (inference settings, --cfg-options, codecs)
    │   └── InferenceError   the model and the inputs do not fit (bands, dates, checkpoint keys)
    ├── SceneInputError      scene evaluation inputs do not fit together (grids, CRS, empty references)
    ├── DatasetError         a dataset on disk is missing, incomplete or has the wrong layout / labels
    └── CheckpointError      a checkpoint cannot be read safely or does not fit the model
"""

__all__ = ['GeoPercError', 'RasterError', 'RasterReadError', 'VectorError', 'ProjectError', 'SettingsError',
           'InferenceError', 'SceneInputError', 'DatasetError', 'CheckpointError', 'EXIT_USER_ERROR']

#: exit status of every CLI for a :class:`GeoPercError`
EXIT_USER_ERROR = 2


class GeoPercError(Exception):
    """Root of the user-input errors: one line, exit 2, no traceback."""


class RasterError(GeoPercError, ValueError):
    """A raster cannot be used as given."""


class RasterReadError(RasterError, OSError):
    """Reading a raster failed mid-file (truncated or corrupt); the message names the file and window."""


class VectorError(GeoPercError, ValueError):
    """A vector layer cannot be read, or its geometries are not of the kind needed."""


class ProjectError(GeoPercError, ValueError):
    """A QGIS project cannot be read or names layers that cannot be found."""


class SettingsError(GeoPercError, ValueError):
    """An option, config key or value is invalid."""


class InferenceError(SettingsError):
    """The model and the inference inputs or settings do not fit together."""


class SceneInputError(GeoPercError, ValueError):
    """Scene-evaluation inputs do not fit together."""


class DatasetError(GeoPercError, ValueError):
    """A dataset on disk is missing, incomplete, or laid out / labelled differently than configured."""


class CheckpointError(GeoPercError, ValueError):
    """A checkpoint cannot be loaded safely or its weights do not fit the model."""
