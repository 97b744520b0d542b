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

step "prune with Deep Compression's LeNet-300-100 rates (fc1 92%, fc2 91%, fc3 74%)"
show prune "$out/mlp.spzm" --rule 'fc1.weight=0.92' --rule 'fc2.weight=0.91' \
	--rule 'fc3.weight=0.74' -o "$out/pruned.spzm"

step "quantize: 4-bit k-means codebooks per layer, zero kept exact"
show quantize --bits 4 "$out/pruned.spzm" -o "$out/q4.spzm"

step "spz info of the quantized model"
show info "$out/q4.spzm"

step "pack into an EIE image on 64 PEs"
show pack "$out/q4.spzm" -o "$out/mlp.eie"

step "pack -> unpack -> pack is byte-identical"
show unpack "$out/mlp.eie" -o "$out/back.spzm"
"$SPZ" pack "$out/back.spzm" -o "$out/mlp2.eie" >/dev/null
cmp "$out/mlp.eie" "$out/mlp2.eie" && echo "byte-identical"

step "the EIE paper's Fig. 3: a 16x8 matrix on 4 PEs, PE 0 as the paper draws it"
show pack samples/eie_fig3.json --pes 4 -o "$out/fig3.eie"
show info "$out/fig3.eie" --dump --pe 0

step "the cost report"
show report "$out/mlp.eie" --png "$out/figures"

step "run the image on the EIE emulator, checked against the float model"
show run "$out/mlp.eie" --random-input --batch 10 --check
