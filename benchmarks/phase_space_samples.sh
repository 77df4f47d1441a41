#!/usr/bin/env bash
# Held-out samples over an analysis's phase space (issue 21): broad pT-hat 300-1600 GeV
# with --flat-pthat, at mu = 0 and mu = 40 from the same seeds (the same hard events, so the
# pile-up response is measured jet by jet), premixed pile-up from one minimum-bias library.
# Seeds 7000-7999 are used nowhere else.  Each process is written as files of 5 000 events so
# an interrupted run keeps what it finished; rerun to resume (existing files are skipped).
# Usage: benchmarks/phase_space_samples.sh LANE   (LANE = qcd | top | svj | wprime | lib)
# MUS="0" or PARTS="0 1" restrict a lane to some pile-up values or files (default "40 0", "0 1 2 3").
set -euo pipefail
cd "$(dirname "$0")/.."
J=${J:-.venv/bin/jetclr-coffea}
D=${DATA:-data/phase_space}
mkdir -p "$D"
LIB="$D/minbias_lib.root"
lib() { [ -f "$LIB" ] || $J generate minbias --events 20000 --seed 7001 -o "$LIB"; }
wait_lib() { while [ ! -f "$LIB" ]; do sleep 10; done; }
gen() {  # process seed_base extra-args...
    local proc=$1 base=$2; shift 2
    for mu in ${MUS:-40 0}; do
        for part in ${PARTS:-0 1 2 3}; do
            local out="$D/${proc}_mu${mu}_${part}.root" seed=$((base + part))
            [ -f "$out" ] && continue
            if [ "$mu" = 0 ]; then
                $J generate "${proc%%_*}" --events 5000 --seed $seed "$@" -o "$out" -q
            else
                $J generate "${proc%%_*}" --events 5000 --seed $seed "$@" --pileup $mu \
                    --pileup-library "$LIB" -o "$out" -q
            fi
        done
    done
}
FLAT=(--flat-pthat --pthat-min 300 --pthat-max 1600)
case "${1:-all}" in
    lib) lib ;;
    qcd) lib; gen qcd 7101 "${FLAT[@]}" ;;
    top) wait_lib; gen top 7201 "${FLAT[@]}" ;;
    wprime) wait_lib; gen wprime-flat 7401 "${FLAT[@]}" ;;
    svj) wait_lib  # docs/phase_space.md's sample: 2 files a mass at mu = 0, 1 (2 for 2 TeV) at mu = 40
         for m in 1 2 3; do
             MUS=0 PARTS="0 1" gen svj_m${m}000 73${m}1 --mzprime ${m}000
             MUS=40 PARTS=0 gen svj_m${m}000 73${m}1 --mzprime ${m}000
         done
         MUS=40 PARTS=1 gen svj_m2000 7321 --mzprime 2000 ;;
    *) echo "usage: $0 lib|qcd|top|svj|wprime" >&2; exit 2 ;;
esac
