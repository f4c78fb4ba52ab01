#!/usr/bin/env bash
# `make test` N times in a row (default 10) while a clean `swift build` of the same commit runs in a
# loop in a scratch clone, so that the tests meet a busy machine (issue 24's check). Prints one line
# per run and per load build, and exits non-zero when any run failed.
#   scripts/test-under-load.sh [N]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
scratch=$(mktemp -d /tmp/gpulse-load.XXXXXX)
git clone -q . "$scratch/clone"
stop="$scratch/stop"
(
    cd "$scratch/clone"
    i=0
    while [ ! -e "$stop" ]; do
        i=$((i + 1)); rm -rf .build; s=$(date +%s)
        swift build > "$scratch/load-$i.log" 2>&1
        echo "load build $i rc=$? $(( $(date +%s) - s )) s"
    done
) &
loader=$!
failed=0
for n in $(seq 1 "$runs"); do
    s=$(date +%s)
    make test > "$scratch/test-$n.log" 2>&1; rc=$?
    [ $rc -ne 0 ] && failed=$((failed + 1))
    echo "run $n rc=$rc $(( $(date +%s) - s )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)$([ $rc -ne 0 ] && echo ", log $scratch/test-$n.log")"
done
touch "$stop"
wait "$loader"
echo "$((runs - failed)) of $runs runs passed (logs in $scratch)"
[ $failed -eq 0 ]
