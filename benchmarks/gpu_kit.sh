#!/usr/bin/env bash
# The GPU checks (pytest -m gpu, bench_gpu_inference.py, bench_training.py on CUDA) on a
# device machine lent to the session (see the device tool's README).  That machine has
# Python 3.12 with torch (CUDA 13), numpy and the CPU build of onnxruntime, but none of
# coffea's stack, no onnxruntime-gpu and no network; at most 64 MiB travel per call and
# an idle machine is given back after 30 s.  So:
#
#   here:        benchmarks/gpu_kit.sh pack
#                  -> .devkit/p0: the project's wheel and the cp312 wheels the device
#                     lacks (~50 MB); .devkit/p1 ... pN: onnxruntime-gpu in 55 MiB parts
#   device, one call per part, back to back (carry .devkit/pK):
#                benchmarks/gpu_kit.sh stage K       (K = 0 ... N; copies pK to /tmp/kit)
#   device, in the call that stages the last part (or the next one):
#                benchmarks/gpu_kit.sh check         (installs into /tmp/site, runs the
#                                                     checks, leaves logs and JSON in $OUT)
#
# onnxruntime-gpu 1.31 is built for CUDA 13 (libcublas.so.13, libcudart.so.13): the CUDA
# libraries come from the nvidia-* packages next to the device's torch.
set -euo pipefail
cd "$(dirname "$0")/.."

KIT=.devkit
PART_MIB=55
PYVER=${PYVER:-3.12}     # the device's Python (a dry run here: PYVER=3.11 DEVICE_PYTHON=...)
DEVICE_PYTHON=${DEVICE_PYTHON:-python3}
# the cp312 packages of the [gen,dask] install that the device image does not have
# (compare `pip freeze` here with the package list in the device tool's KINDS.md)
DEVICE_LACKS="annotated-types awkward awkward-cpp boost-histogram cachetools coffea correctionlib
cramjam dask dask-awkward dask-histogram distributed fastjet hist histoprint importlib-metadata
lazy-importer locket loky lz4 mplhep mplhep-data partd pydantic pydantic-core pythia8mc tblib
toml tornado typing-inspection tzdata uhi uproot vector zict"

pack() {
    local py=${PYTHON:-.venv/bin/python}
    rm -rf "$KIT" && mkdir -p "$KIT/p0" "$KIT/ort"
    # the versions installed here, so the device runs what the tests here ran
    "$py" -m pip freeze --exclude-editable | awk -F'==' -v want="$DEVICE_LACKS onnxruntime-gpu" '
        BEGIN { n = split(want, w, /[ \n]+/); for (i = 1; i <= n; i++) keep[w[i]] = 1 }
        { k = tolower($1); gsub("_", "-", k); if (k in keep) print }' >"$KIT/requirements.txt"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d "$KIT/p0" -r "$KIT/requirements.txt"
    "$py" -m pip wheel --quiet --no-deps --no-build-isolation -w "$KIT/p0" . 2>"$KIT/wheel.log"
    mv "$KIT"/p0/onnxruntime_gpu-*.whl "$KIT/ort/"
    (cd "$KIT/ort" && split -b "${PART_MIB}m" -d -a 1 onnxruntime_gpu-*.whl part. &&
        sha256sum onnxruntime_gpu-*.whl >SHA256 && basename onnxruntime_gpu-*.whl >NAME)
    local k=1
    for part in "$KIT"/ort/part.*; do
        mkdir -p "$KIT/p$k" && mv "$part" "$KIT/p$k/" && k=$((k + 1))
    done
    cp "$KIT/ort/SHA256" "$KIT/ort/NAME" "$KIT/p$((k - 1))/"
    rm -rf "$KIT/ort"
    du -sh "$KIT"/p*
    echo "stage p0 ... p$((k - 1)) one call each (carry $KIT/pK), then run: $0 check"
}

stage() {
    mkdir -p /tmp/kit && cp "$KIT/p$1"/* /tmp/kit/ && ls /tmp/kit
}

check() {
    local out=${OUT:-/tmp/gpu_kit_out}
    mkdir -p "$out"
    (cd /tmp/kit && cat part.* >"$(cat NAME)" && sha256sum -c SHA256)
    local python3=$DEVICE_PYTHON
    $python3 -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target /tmp/site \
        /tmp/kit/*.whl
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
    export PYTHIA8DATA=/tmp/site/share/Pythia8/xmldoc  # pythia8mc installed with --target
    # CUDA 13 libraries of the nvidia-* wheels beside torch, for onnxruntime-gpu
    LD_LIBRARY_PATH=$($python3 -c 'import glob, os, site
dirs = {os.path.dirname(p) for s in site.getsitepackages() for p in glob.glob(f"{s}/nvidia/**/lib*.so*", recursive=True)}
print(":".join(sorted(dirs)))'):${LD_LIBRARY_PATH:-}
    export LD_LIBRARY_PATH
    { nvidia-smi -L || echo "no nvidia-smi"; } | tee "$out/device.txt"
    $python3 -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers())' | tee -a "$out/device.txt"
    # -P: the installed package, not the source folder (jetclr_coffea.processors lives in processors/)
    $python3 -P -m pytest -m gpu -p no:cacheprovider -q tests/test_inference.py 2>&1 | tee "$out/pytest_gpu.log" ||
        echo "pytest -m gpu FAILED (see pytest_gpu.log)"
    mkdir -p /tmp/data
    jetclr-coffea generate qcd --events 1000 --seed 202 -o /tmp/data/qcd.root --quiet &
    jetclr-coffea generate top --events 1000 --seed 201 -o /tmp/data/top.root --quiet &
    wait
    $python3 -P benchmarks/bench_gpu_inference.py --files /tmp/data/qcd.root /tmp/data/top.root 2>&1 |
        tee "$out/bench_gpu_inference.log"
    $python3 -P benchmarks/bench_training.py 2>&1 | tee "$out/bench_training.log"
    cp benchmarks/results/gpu_inference.json benchmarks/results/training.json "$out/"
}

case "${1:-}" in
    pack) pack ;;
    stage) stage "${2:?stage needs the part number}" ;;
    check) check ;;
    *) echo "usage: $0 pack | stage K | check" >&2; exit 2 ;;
esac
