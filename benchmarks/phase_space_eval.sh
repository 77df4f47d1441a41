#!/usr/bin/env bash
# The shipped models over an analysis's phase space (issue 21's "before" table): evaluate
# --pt-bins at mu = 0 and mu = 40 and the pile-up response, on the held-out samples of
# benchmarks/phase_space_samples.sh.  Results in runs/phase_space/ (summarised by
# benchmarks/phase_space_table.py).  The OT and VAE models read at most MAXJ jets a file
# (default 1 000 and 3 000) and their pile-up response the first MAXE events a file (150,
# 600): their Sinkhorn graphs run at 41 and ~130 jets/s on one core (issue 23).
# Usage: benchmarks/phase_space_eval.sh MODEL   (jetclr_top | ot_medoids_qcd | vae_emd_qcd | codec_twoprong | darkclr_qcd)
# ONNX=path evaluates another file as MODEL (a retrained candidate); NAME=... names its results.
set -euo pipefail
cd "$(dirname "$0")/.."
J=${J:-.venv/bin/jetclr-coffea}
D=${DATA:-data/phase_space}
R=${RUNS:-runs/phase_space}
BINS=(300 450 600 800 1000 1500)
mkdir -p "$R"
files() { ls "$D"/$1_mu$2_*.root; }  # pattern mu
twins() { for f in $(files "$1" 40); do [ -f "${f/_mu40_/_mu0_}" ] && echo "${f/_mu40_/_mu0_}"; done; }  # mu = 0 files with a mu = 40 twin
paired() { for f in $(files "$1" 40); do [ -f "${f/_mu40_/_mu0_}" ] && echo "$f"; done; }  # and those twins
model=$1
onnx=${ONNX:-onnx_models/$model.onnx}
name=${NAME:-$model}
maxe=${MAXE:-0}
case "$model" in
    jetclr_top) sig=top; label=top; extra=() ;;
    ot_medoids_qcd) sig=top; label=top; extra=(--max-jets "${MAXJ:-1000}"); maxe=${MAXE:-150} ;;
    vae_emd_qcd) sig=top; label=top; extra=(--max-jets "${MAXJ:-3000}"); maxe=${MAXE:-600} ;;
    codec_twoprong) sig=wprime-flat; label=two_prong; extra=() ;;
    darkclr_qcd) sig=svj; label=dark; extra=() ;;
    *) echo "unknown model $model" >&2; exit 2 ;;
esac
for mu in 0 40; do
    out="$R/${name}_mu$mu"
    [ -f "$out/metrics.json" ] && continue
    # shellcheck disable=SC2046
    $J evaluate "$onnx" --signal $(files "$sig*" $mu) --background $(files qcd $mu) \
        --signal-label $label --pt-bins "${BINS[@]}" "${extra[@]}" --output-dir "$out" -q \
        > "$out.txt" 2>&1 || { cat "$out.txt"; exit 1; }
done
resp="$R/${name}_pileup.json"
if [ ! -f "$resp" ]; then
    # shellcheck disable=SC2046
    $J pileup-response "$onnx" --signal $(twins "$sig*") --signal-pileup $(paired "$sig*") \
        --background $(twins qcd) --background-pileup $(paired qcd) --signal-label $label \
        --pt-min 300 --pt-max 1500 --eta-max 2.0 --max-events "$maxe" -o "$resp" -q > "$resp.txt" 2>&1 \
        || { cat "$resp.txt"; exit 1; }
fi
