"""Write files so that a reader never sees half of one: a temporary file beside the target, renamed over it.

One helper for every writer of the package (reports, patches, labels, point clouds, embeddings, manifests):

* :func:`atomic_path` — a context manager yielding a temporary path in the target's folder (same
  extension, so writers that pick the format from it, e.g. ``np.savez`` or open3d, behave); renamed over
  the target when the block ends, removed if it raises;
* :func:`atomic_write` — text or bytes in one call;
* :func:`atomic_call` — ``write(tmp_path)`` by any writer, then the rename.
"""
import contextlib
import os
import os.path as osp
import tempfile

__all__ = ['atomic_path', 'atomic_write', 'atomic_call']


@contextlib.contextmanager
def atomic_path(path: str, fsync: bool = False):
    """Yield a temporary path for ``path``; on success rename it over ``path`` (after an fsync when
    ``fsync``), on failure remove it. The folder is created if needed."""
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    base = osp.basename(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f'.{base}.', suffix='.tmp' + osp.splitext(base)[1])
    os.close(fd)
    try:
        yield tmp
        if fsync:
            with open(tmp, 'rb+') as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str, data) -> str:
    """Write text (UTF-8) or bytes to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data.encode('utf-8') if isinstance(data, str) else data)
    return path


def atomic_call(path: str, write) -> str:
    """Run ``write(tmp_path)`` (any writer that takes a path), then rename over ``path``; a writer that
    returns ``False`` (open3d's failure flag) raises ``OSError``. Returns ``path``."""
    with atomic_path(path) as tmp:
        if write(tmp) is False:
            raise OSError(f'{path}: the writer reported a failure')
    return path
