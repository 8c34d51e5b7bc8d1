#!/usr/bin/env bash
# Install geoperc and its OpenMMLab matrix into .venv (see ../shared/design/DEPENDENCIES.md).
# Idempotent: a stamp file keyed by this script + setup.cfg skips everything when nothing changed.
# The mmcv 2.1.0 wheel (built from source with ops, C++20) is cached outside the checkout,
# keyed by the torch version: $GEOPERC_CACHE/mmcv/torch-<version>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
CACHE=${GEOPERC_CACHE:-$HOME/.cache/geoperc}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

stamp_key() { { cat tools/install.sh setup.cfg 2>/dev/null; echo "qgis=${GEOPERC_QGIS:-0}"; } | sha256sum | cut -c1-16; }
STAMP=$VENV/.geoperc-installed

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_key)" ]; then
  log "up to date ($VENV)"; exit 0
fi

# System packages: libusb for open3d's import, mesa/EGL/vulkan for headless rendering, gdal-bin for
# gdalinfo/ogrinfo checks. Only when root and only what is missing.
APT_PKGS="libusb-1.0-0 libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri mesa-vulkan-drivers libvulkan1 libgomp1"
if [ "${GEOPERC_QGIS:-0}" = 1 ]; then APT_PKGS="$APT_PKGS qgis python3-qgis qgis-providers gdal-bin"; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    log "apt-get install$missing"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
else
  log "not root: make sure these Debian packages are present: $APT_PKGS"
fi

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install -U "pip>=24" >/dev/null

have() { "$VENV/bin/python" - "$@" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
name, want = sys.argv[1], sys.argv[2]
try:
    sys.exit(0 if version(name) == want else 1)
except PackageNotFoundError:
    sys.exit(1)
PYEOF
}

# 1. torch + torchvision first, alone (both lie on this machine's disk).
if ! have torch $TORCH_VERSION || ! have torchvision $TORCHVISION_VERSION; then
  log "torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
  $PIP install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
# 2. setuptools that still has pkg_resources (mmcv's setup.py) but is new enough for torch.
$PIP install "setuptools>=77,<81" wheel ninja

# 3. mmcv 2.1.0 with ops, from source, C++20; wheel cached by torch version.
if ! have mmcv $MMCV_VERSION; then
  TV=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
  WHEELDIR=$CACHE/mmcv/torch-$TV
  mkdir -p "$WHEELDIR"
  if ! ls "$WHEELDIR"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops against torch $TV (one-off, ~15-30 min on 2 cores)"
    SRC=$(mktemp -d)
    $PIP download --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$SRC" >/dev/null
    tar -xzf "$SRC"/mmcv-$MMCV_VERSION.tar.gz -C "$SRC"
    sed -i 's/-std=c++17/-std=c++20/g; s/-std=c++14/-std=c++20/g' "$SRC/mmcv-$MMCV_VERSION/setup.py"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} FORCE_CUDA=0 "$VENV/bin/python" -m pip wheel --no-cache-dir \
      --no-build-isolation --no-deps -w "$SRC/wheel" "$SRC/mmcv-$MMCV_VERSION"
    mv "$SRC"/wheel/mmcv-*.whl "$WHEELDIR/"
    rm -rf "$SRC"
  fi
  log "mmcv from $WHEELDIR"
  $PIP install --no-deps "$WHEELDIR"/mmcv-$MMCV_VERSION-*.whl
  $PIP install addict packaging yapf opencv-python-headless
fi

# 4. The rest of the OpenMMLab stack; mmrotate without its stale pins (see geoperc/compat.py).
$PIP install "mmengine==0.10.7" "mmdet==3.2.0"
have mmrotate 1.0.0rc1 || $PIP install --no-deps "mmrotate==1.0.0rc1"
$PIP install e2cnn

# 5. Geo and the project itself (install_requires in setup.cfg; [test] extra).
$PIP install -e ".[test]"

"$VENV/bin/python" -c "import mmcv.ops, mmdet.models, rasterio, shapely, open3d; import geoperc.compat as c; c.import_mmrotate()" \
  || { log "import check failed"; exit 1; }
stamp_key > "$STAMP"
log "done: $VENV"
