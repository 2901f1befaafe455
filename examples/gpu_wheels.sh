#!/usr/bin/env bash
# Download the wheels examples/gpu_run.sh installs on a GPU machine without network.
#
#   bash examples/gpu_wheels.sh PYTHON_VERSION [HAVE.txt]     e.g. 3.11 have.txt
#
# PYTHON_VERSION is the GPU machine's (python3 -V there). HAVE.txt is its `pip freeze`: the
# packages named there are not downloaded, so only what the machine lacks travels (the device
# tool carries 64 MiB at most; the whole list below is about 130 MB, llvmlite alone 40). Get it
# with a first, short call there: python3 -V; python3 -m pip freeze > "$OUT/have.txt".
# torch, lightning, numpy, scipy, pandas and h5py are never downloaded: a CUDA build of torch
# must come with the machine.
#
# The list is scvi-tools 1.5.1's dependency closure (with scanpy[skmisc]) plus pytest and
# matplotlib, at the versions of this project's uv.lock. Writes examples/wheels/ (git-ignored: pass
# it to the device tool with carry: ["examples/wheels"]). Exit 2 on a usage error, 1 when the wheels
# exceed 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${1:?usage: gpu_wheels.sh PYTHON_VERSION [HAVE.txt]}
HAVE=${2:-}
PACKAGES="absl-py==2.5.1 anndata==0.13.4 array-api-compat==1.16.0 certifi==2026.10.19.post1
cloudpickle==3.1.3 contourpy==1.4.0 cycler==0.12.1 docrep==0.3.2 donfig==0.8.1.post1
fast-array-utils==1.5.1 fonttools==4.68.0 formulaic==1.2.2 google-crc32c==1.9.0
grpcio==1.85.3 iniconfig==2.3.1 interface-meta==2.0.1 joblib==1.6.0 kiwisolver==1.5.1
legacy-api-wrap==1.5 lightning-utilities==0.15.3 llvmlite==0.50.0 markdown==3.11.3
markdown-it-py==4.3.0 markupsafe==3.0.4 matplotlib==3.11.2 mdurl==0.1.2 ml-collections==1.1.0
msgspec==0.22.0 mudata==0.4.1 narwhals==2.29.0 natsort==8.4.0 networkx==3.7 numba==0.68.1
numcodecs==0.17.1 opt-einsum==3.4.0 packaging==26.4 patsy==1.0.3 pillow==13.0.0 pluggy==1.7.0
protobuf==7.36.2 pygments==2.21.0 pynndescent==0.7.0 pyparsing==3.3.3 pyro-api==0.1.2
pyro-ppl==1.9.2 pytest==9.2.0 python-dateutil==4.0.0 pyyaml==6.0.4 rich==15.0.0
scanpy==1.12.4 scikit-learn==1.9.1 scikit-misc scverse-misc==0.1.7 scvi-tools==1.5.1
seaborn==0.13.2 session-info2==0.4.2 six==1.17.0 sparse==0.19.3 statsmodels==0.15.0
tensorboard==2.21.0 tensorboard-data-server==0.7.2 threadpoolctl==3.8.0 torchmetrics==1.9.0
tqdm==4.70.1 typing-extensions==4.16.0 tzdata==2026.6 umap-learn==0.5.12 werkzeug==3.1.9
wrapt==2.5.2 xarray==2026.9.0 zarr==3.4.2"
normalize() { tr 'A-Z_.' 'a-z--'; }
mkdir -p examples/wheels
for spec in $PACKAGES; do
    name=$(echo "${spec%%==*}" | normalize)
    if [ -n "$HAVE" ] && cut -d= -f1 "$HAVE" | cut -d' ' -f1 | normalize | grep -qx "$name"; then
        continue
    fi
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest examples/wheels \
        --python-version "$PYVER" --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 "$spec" 2>/dev/null ||
        # sdist-only packages (docrep) are pure Python: build their wheel here.
        python3 -m pip wheel --quiet --no-deps --wheel-dir examples/wheels "$spec"
done
size=$(du -sm examples/wheels | cut -f1)
echo "examples/wheels/: $(ls examples/wheels | wc -l) files, $size MiB"
if [ "$size" -gt 64 ]; then
    echo "Error: examples/wheels/ is $size MiB; the device tool carries 64 MiB in all." >&2
    echo "  Pass the machine's pip freeze as HAVE.txt, or drop optional packages." >&2
    exit 1
fi
