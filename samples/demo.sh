#!/bin/sh
# demo.sh - the main job on the bundled sample, as `make demo` runs it.
# Usage: sh samples/demo.sh ./spz
set -eu
SPZ=${1:-./spz}
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"
echo "== generate the sample MLP (LeNet-300-100 shape) =="
echo "\$ spz gen mlp --dims 784,300,100,10 --seed 1 -o $out/mlp.spzm"
"$SPZ" gen mlp --dims 784,300,100,10 --seed 1 -o "$out/mlp.spzm"
echo "== convert it both ways =="
"$SPZ" convert "$out/mlp.spzm" -o "$out/mlp.json"
"$SPZ" convert "$out/mlp.json" -o "$out/mlp2.spzm"
cmp "$out/mlp.spzm" "$out/mlp2.spzm" && echo "spzm -> json -> spzm: byte-identical"
echo "== spz info =="
"$SPZ" info "$out/mlp.spzm"
