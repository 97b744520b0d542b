#!/bin/sh
# demo.sh - the main job on the bundled sample, as `make demo` runs it:
# Deep Compression's pipeline on a LeNet-300-100-shaped MLP, packed into an
# EIE image, costed, and executed on the EIE emulator.
# Usage: sh samples/demo.sh ./spz   (outputs go to $DEMO_DIR, default build/demo)
set -eu
SPZ=${1:-./spz}
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"
step() { printf '\n== %s ==\n' "$1"; }
show() { printf '$ spz'; printf ' %s' "$@"; printf '\n'; "$SPZ" "$@"; }

step "generate the sample MLP (784-300-100-10, He-initialized)"
show gen mlp --dims 784,300,100,10 --seed 1 -o "$out/mlp.spzm"

step "convert it both ways"
show convert "$out/mlp.spzm" -o "$out/mlp.json"
show convert "$out/mlp.json" -o "$out/mlp2.spzm"
cmp "$out/mlp.spzm" "$out/mlp2.spzm" && echo "spzm -> json -> spzm: byte-identical"

step "quantize: 4-bit k-means codebooks per layer, zero kept exact"
show quantize --bits 4 "$out/mlp.spzm" -o "$out/q4.spzm"

step "spz info of the quantized model"
show info "$out/q4.spzm"

step "pack into an EIE image on 64 PEs"
show pack "$out/q4.spzm" -o "$out/mlp.eie"

step "the cost report"
show report "$out/mlp.eie" --png "$out/figures"

step "run the image on the EIE emulator, checked against the float model"
show run "$out/mlp.eie" --random-input --batch 10 --check
