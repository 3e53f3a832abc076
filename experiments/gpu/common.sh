# Shared by table1.sh and data_scarce.sh (sourced after REPO and OUT are set): the interpreter, the common
# environment overrides, and `run`, which trains one resumable run.

# Paths given by the user stay relative to where they called from; adainf runs from this source tree.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [[ -x $REPO/.venv/bin/python ]]; then PY=${PY:-$REPO/.venv/bin/python}; else PY=${PY:-python3}; fi
LAUNCH=${LAUNCH:-"$PY -m adainf"}
STEPS=${STEPS:-100000} BATCH=${BATCH:-512} BACKBONE=${BACKBONE:-resnet18} WIDTH=${WIDTH:-64}
DEVICE=${DEVICE:-auto} PRECISION=${PRECISION:-auto} SEED=${SEED:-0}
EVAL_EVERY=${EVAL_EVERY:-5000} CKPT_EVERY=${CKPT_EVERY:-5000} EXTRA=${EXTRA:-}

# run NAME ARGS...: train into OUT/NAME unless OUT/NAME.json already holds its result; resume an interrupted run.
run() {
  local name=$1 result="$OUT/$1.json"
  shift
  if [[ -s $result ]]; then
    echo "# $name: done, skipped ($result)" >&2
    return
  fi
  if [[ -f $OUT/$name/config.json ]]; then
    echo "# $name: resuming $OUT/$name" >&2
    $LAUNCH train --resume "$OUT/$name" --no-progress --json > "$result.tmp"
  else
    echo "# $name: training" >&2
    $LAUNCH train --name "$name" --out-dir "$OUT" "$@" --no-progress --json > "$result.tmp"
  fi
  mv "$result.tmp" "$result"
}
