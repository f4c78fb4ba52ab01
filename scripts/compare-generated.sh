#!/usr/bin/env bash
# Shared by gen-proto.sh and gen-keda.sh: compares a freshly generated tree with the committed one.
#   compare-generated.sh NAME FRESH_DIR COMMITTED_DIR REGENERATE_COMMAND
# Exit 1, naming each stale file, when they differ.
set -euo pipefail
name=$1 fresh=$2 dest=$3 regen=$4
status=0
for f in $(cd "$fresh" && find . -type f | sort); do
  if ! cmp -s "$fresh/$f" "$dest/$f"; then
    echo "$name: $dest/${f#./} is stale; run $regen and commit the result" >&2
    status=1
  fi
done
exit $status
