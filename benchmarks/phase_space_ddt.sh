#!/usr/bin/env bash
# DDT across pT (issue 22): each model's DDT map built from one half of the held-out mu = 40
# QCD (benchmarks/phase_space_samples.sh qcd: files 0 and 1, seeds 7101-7102; see BUILD) over fat jets
# of pT > 300 GeV, and its closure checked on the other half (files 2 and 3, seeds 7103-7104),
# an independent sample.  Results in runs/phase_space_ddt/<model>/ (map, closure.json and
# closure.png); summarised by benchmarks/ddt_closure_table.py.
# Usage: benchmarks/phase_space_ddt.sh MODEL.onnx [MODEL.onnx ...]
set -euo pipefail
cd "$(dirname "$0")/.."
J=${J:-.venv/bin/jetclr-coffea}
D=${DATA:-data/phase_space}
R=${RUNS:-runs/phase_space_ddt}
mkdir -p "$R"
# BUILD / CHECK: the held-out QCD parts of the map and of its check (default "0 1" and "2 3";
# BUILD="0 1 4 5 6 7 8 9 10 11" with `MUS=40 PARTS="4 5 6 7 8 9 10 11" benchmarks/phase_space_samples.sh
# qcd` for 50 000 events, as `make ddt-maps` does)
fileset() {  # parts... -> {"qcd": [absolute paths]}
    python3 -c 'import json, os, sys; print(json.dumps({"qcd": [os.path.abspath(f"{sys.argv[1]}/qcd_mu40_{p}.root") for p in sys.argv[2:]]}))' "$D" "$@"
}
# shellcheck disable=SC2086
fileset ${BUILD:-0 1} > "$R/build.json"
# shellcheck disable=SC2086
fileset ${CHECK:-2 3} > "$R/check.json"
for model in "$@"; do
    name=$(basename "$model" .onnx)
    out="$R/$name"
    [ -f "$out/closure.json" ] && continue
    mkdir -p "$out"
    $J ddt-map "$R/build.json" --model "$model" --output "$out/ddt_map.json" --pt-min 300 > "$out/map.txt" 2>&1 \
        || { cat "$out/map.txt"; exit 1; }
    $J ddt-closure "$R/check.json" --model "$model" --ddt-map "$out/ddt_map.json" --output "$out" \
        --pt-min 300 > "$out/closure.txt" 2>&1 || { cat "$out/closure.txt"; exit 1; }
    cat "$out/closure.txt"
done
