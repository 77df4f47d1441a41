#!/usr/bin/env bash
# Training runs on a GPU machine lent to the session (see the device tool's README), in
# parallel on its one GPU, bringing back each run's best.pt and log.csv.
# That machine has Python 3.12 with torch (CUDA) and numpy but not the project's reading stack,
# and at most 64 MiB travel per call (the working tree, ~5 MB, included), so:
#
#   here:    benchmarks/gpu_train.sh pack
#              -> .devkit/train: the project's wheel and the small cp312 wheels that training
#                 reads ROOT with (taken from gpu_kit.sh's .devkit/p0; ~17 MB)
#   device:  benchmarks/gpu_train.sh stage FILE...   (optional, carry the FILEs: data that
#              would not fit in one call, kept in /tmp/stage while the machine stays warm)
#            benchmarks/gpu_train.sh run SECONDS CONFIG...   (carry .devkit/train and the
#              rest of the data files the configs' filesets name; each run is stopped after
#              SECONDS and keeps its best.pt: the lowest validation loss so far)
#
# The checkpoints come back under $OUT/<run name>/; export and evaluate them here, e.g.
#   jetclr-coffea export runs/<name>/best.pt -o runs/<name>/model.onnx
set -euo pipefail
cd "$(dirname "$0")/.."

KIT=.devkit
# what jetclr_coffea.training imports beyond the device image (awkward and uproot for the
# files, coffea for the fileset reader, the rest their dependencies; pythia8mc, fastjet and
# mplhep_data stay behind)
NEEDS="awkward awkward_cpp uproot cramjam lz4 vector lazy_importer importlib_metadata hist
boost_histogram uhi histoprint coffea cachetools correctionlib toml loky dask dask_awkward
dask_histogram distributed partd locket zict tblib tornado pydantic pydantic_core
annotated_types typing_inspection tzdata mplhep"

pack() {
    local py=${PYTHON:-.venv/bin/python}
    [[ -d $KIT/p0 ]] || { echo "gpu_train.sh: no $KIT/p0; run benchmarks/gpu_kit.sh pack first" >&2; exit 1; }
    rm -rf "$KIT/train" && mkdir -p "$KIT/train"
    for name in $NEEDS; do
        cp "$KIT"/p0/"$name"-[0-9]*.whl "$KIT/train/"
    done
    "$py" -m pip wheel --quiet --no-deps --no-build-isolation -w "$KIT/train" . >"$KIT/train.log" 2>&1
    du -sh "$KIT/train"
}

stage() {
    mkdir -p /tmp/stage && cp --parents "$@" /tmp/stage/ && find /tmp/stage -type f
}

run() {
    local seconds=$1 out=${OUT:-/tmp/gpu_train_out} pids=() cfg name
    shift
    mkdir -p "$out"
    [[ -d /tmp/stage ]] && cp -r /tmp/stage/. .
    python3 -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target /tmp/site \
        "$KIT"/train/*.whl
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
    { nvidia-smi -L || echo "no nvidia-smi"; python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())'; } |
        tee "$out/device.txt"
    for cfg in "$@"; do  # each run's log and folder by its config's name (runs/<name>)
        name=$(awk '/^name:/ {print $2; exit}' "$cfg")
        timeout "$seconds" jetclr-coffea train "$cfg" --quiet >"$out/$name.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || echo "a run ended with $? (124: stopped at ${seconds} s)"; done
    for cfg in "$@"; do
        name=$(awk '/^name:/ {print $2; exit}' "$cfg")
        mkdir -p "$out/$name"
        cp runs/"$name"/{best.pt,log.csv} "$out/$name/" 2>/dev/null || echo "$name: no checkpoint"
    done
    tail -n 3 "$out"/*.log
}

case ${1:-} in
    pack) pack ;;
    stage) shift; stage "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 pack | stage FILE... | run SECONDS CONFIG..." >&2; exit 2 ;;
esac
