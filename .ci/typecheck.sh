#!/usr/bin/env bash
# mypy --strict over the package as it installs: processors/, training/ and onnx_models/
# become jetclr_coffea.processors, .training and .models (setuptools package-dir), which
# mypy cannot follow from the source tree.  A tree of symlinks in .typecheck/ lays them out
# as installed, so every import between them is typed (no override that turns them to Any).
set -euo pipefail
cd "$(dirname "$0")/.."
MYPY=${MYPY:-.venv/bin/mypy}
rm -rf .typecheck
mkdir -p .typecheck/jetclr_coffea
for f in jetclr_coffea/*; do
  ln -s "../../$f" ".typecheck/jetclr_coffea/$(basename "$f")"
done
ln -s ../../processors .typecheck/jetclr_coffea/processors
ln -s ../../training .typecheck/jetclr_coffea/training
ln -s ../../onnx_models .typecheck/jetclr_coffea/models
MYPYPATH=.typecheck "$MYPY" .typecheck/jetclr_coffea "$@"
