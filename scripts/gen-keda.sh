#!/usr/bin/env bash
# Regenerates the Swift code for KEDA's external scaler (Sources/GPulseKEDA/Generated) from
# proto/keda/externalscaler.proto, with protoc and the two plugins built from the exact
# swift-protobuf and grpc-swift-protobuf versions Package.resolved pins (in .build-gen, 2-3 min once).
#   scripts/gen-keda.sh           write the generated files into the tree
#   scripts/gen-keda.sh --check   exit 1 when the committed files differ from what the plugins make now
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "gen-keda: protoc not found (apt-get install protobuf-compiler)" >&2; exit 2; }
swift package resolve >/dev/null
checkout=.build/checkouts/grpc-swift-protobuf
[ -d "$checkout" ] || { echo "gen-keda: $checkout missing after 'swift package resolve'" >&2; exit 2; }
echo "gen-keda: building protoc-gen-swift and protoc-gen-grpc-swift-2 (.build-gen)" >&2
swift build -c release -q --package-path "$checkout" --scratch-path .build-gen --product protoc-gen-grpc-swift-2 >&2
swift build -c release -q --package-path "$checkout" --scratch-path .build-gen --product protoc-gen-swift >&2
bin=$(swift build -c release --package-path "$checkout" --scratch-path .build-gen --show-bin-path)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Internal visibility: the generated types stay inside GPulseKEDA (no gRPC type in its public API).
protoc -I proto/keda \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_out="$tmp" --swift_opt=Visibility=Internal \
  --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" --grpc-swift_out="$tmp" \
  --grpc-swift_opt=Visibility=Internal,Client=false,Server=true \
  externalscaler.proto

dest=Sources/GPulseKEDA/Generated
if [ "${1:-}" = "--check" ]; then
  scripts/compare-generated.sh gen-keda "$tmp" "$dest" scripts/gen-keda.sh
  echo "gen-keda: generated gRPC code is current ($(protoc --version))"
  exit 0
fi
mkdir -p "$dest"
cp -R "$tmp/." "$dest/"
echo "gen-keda: wrote $(cd "$tmp" && find . -type f | wc -l) files under $dest"
