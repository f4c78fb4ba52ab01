#!/usr/bin/env bash
# Regenerates the protobuf-c code in Sources/CGPulseProto from proto/gpulse/v1/*.proto.
#   scripts/gen-proto.sh           write the generated files into the tree
#   scripts/gen-proto.sh --check   exit 1 when the committed files differ from what protoc-c makes now
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc-c >/dev/null || { echo "gen-proto: protoc-c not found (apt-get install protobuf-c-compiler)" >&2; exit 2; }

protos=(gpulse/v1/metrics.proto gpulse/v1/decision.proto)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

protoc-c -I proto --c_out="$tmp" "${protos[@]}"

# SwiftPM wants public headers under include/ and sources beside it.
mkdir -p "$tmp/tree/include/gpulse/v1" "$tmp/tree/gpulse/v1"
for p in "${protos[@]}"; do
  base=${p%.proto}
  mv "$tmp/$base.pb-c.h" "$tmp/tree/include/$base.pb-c.h"
  mv "$tmp/$base.pb-c.c" "$tmp/tree/$base.pb-c.c"
done

dest=Sources/CGPulseProto
if [ "${1:-}" = "--check" ]; then
  scripts/compare-generated.sh gen-proto "$tmp/tree" "$dest" scripts/gen-proto.sh
  echo "gen-proto: generated protobuf-c code is current ($(protoc-c --version | head -1))"
  exit 0
fi

mkdir -p "$dest"
cp -R "$tmp/tree/." "$dest/"
echo "gen-proto: wrote $(cd "$tmp/tree" && find . -type f | wc -l) files under $dest"
