#!/bin/sh
# test_sparse_paths.sh - prune into a .spzm builds each pruned tensor as
# its bitmask (mask and non-zeros, the input only read), pack keeps a
# .spzm's bitmask codes as they are: the outputs must be the ones the
# dense paths give (prune into JSON, pack from JSON), and NumPy, pruning
# the same floats its own way, must agree with what is stored.
. "$(dirname "$0")/lib.sh"

run gen mlp --dims 304,128,72,16 --seed 4 -o "$T/mlp.spzm"
expect_rc 0 "gen mlp"
run convert "$T/mlp.spzm" -o "$T/mlp.json"
# A MatMul chain (weights [in, out], each with its Add), from NumPy.
/usr/bin/python3 - "$T/mm.json" <<'EOF'
import json, sys
import numpy as np
r = np.random.default_rng(3)
def t(name, dims):
    return {"name": name, "data_type": 1, "dims": dims,
            "data": [float(np.float32(v)) for v in r.standard_normal(int(np.prod(dims)))]}
m = {"format": "spz-model", "version": 1, "name": "mm", "inputs": ["x"], "outputs": ["y"],
     "nodes": [
         {"op": "MatMul", "name": "m1", "inputs": ["x", "w1"], "outputs": ["a1"], "attributes": {}},
         {"op": "Add", "name": "add1", "inputs": ["a1", "b1"], "outputs": ["s1"], "attributes": {}},
         {"op": "Relu", "name": "r1", "inputs": ["s1"], "outputs": ["h1"], "attributes": {}},
         {"op": "MatMul", "name": "m2", "inputs": ["h1", "w2"], "outputs": ["a2"], "attributes": {}},
         {"op": "Add", "name": "add2", "inputs": ["a2", "b2"], "outputs": ["y"], "attributes": {}}],
     "initializers": [t("w1", [96, 40]), t("b1", [40]), t("w2", [40, 12]), t("b2", [12])],
     "history": []}
json.dump(m, open(sys.argv[1], "w"))
EOF
check "NumPy wrote the MatMul chain" test -s "$T/mm.json"
run convert "$T/mm.json" -o "$T/mm.spzm"
expect_rc 0 "MatMul chain as .spzm"

# prune into .spzm (out of place) == prune into JSON (in place), then
# converted; the --json reports too.
i=0
for args in "--sparsity 0.91" "--sparsity 0.6 --scope global" \
            "--threshold 0.05" "--nm 2:4" "--nm 1:8" "--sparsity 0"; do
	for m in mlp mm; do
		i=$((i + 1))
		run prune -q $args "$T/$m.spzm" -o "$T/s$i.spzm" --json="$T/s$i.rep"
		expect_rc 0 "$m: prune $args into .spzm"
		run prune -q $args "$T/$m.spzm" -o "$T/d$i.json" --json="$T/d$i.rep"
		run convert "$T/d$i.json" -o "$T/d$i.spzm"
		check "$m: prune $args: .spzm as the in-place result gives" cmp "$T/s$i.spzm" "$T/d$i.spzm"
		check "$m: prune $args: the same report" cmp "$T/s$i.rep" "$T/d$i.rep"
	done
done

# NumPy's own magnitude pruning (a stable sort: ties keep the lower
# index) and 2:4 (per group of 4 along the input, the 2 largest |w|, ties
# to the lower index) of fc1.weight [128, 304], against the .spzm.
run prune -q --sparsity 0.91 "$T/mlp.spzm" -o "$T/p.spzm"
run convert "$T/p.spzm" -o "$T/p.json"
run prune -q --nm 2:4 "$T/mlp.spzm" -o "$T/nm.spzm"
run convert "$T/nm.spzm" -o "$T/nm.json"
check "NumPy prunes fc1.weight as spz stored it (magnitude 0.91, 2:4)" /usr/bin/python3 -c "
import json, sys
import numpy as np
def w(p):
    for t in json.load(open(p))['initializers']:
        if t['name'] == 'fc1.weight':
            return np.array(t['data'], dtype=np.float32)
d, p, nm = w('$T/mlp.json'), w('$T/p.json'), w('$T/nm.json')
e = d.copy()
k = int(round(0.91 * d.size))
e[np.argsort(np.abs(d), kind='stable')[:k]] = 0
g = d.reshape(-1, 4)
keep = np.argsort(-np.abs(g), axis=1, kind='stable')[:, :2]
f = np.zeros_like(g)
np.put_along_axis(f, keep, np.take_along_axis(g, keep, axis=1), axis=1)
sys.exit(0 if np.array_equal(p, e) and np.array_equal(nm, f.reshape(-1)) else 1)"

# pack from the bitmask .spzm (kept sparse) == pack from JSON (dense).
run quantize -q --bits 4 "$T/p.spzm" -o "$T/q.spzm"
run convert "$T/q.spzm" -o "$T/q.json"
run prune -q --sparsity 0.8 "$T/mm.spzm" -o "$T/mp.spzm"
run quantize -q --bits 5 "$T/mp.spzm" -o "$T/mq.spzm"
run convert "$T/mq.spzm" -o "$T/mq.json"
check "the quantized weights are bitmask payloads" grep -aq '"encoding": "bitmask"' "$T/mq.spzm"
for m in q mq; do
	for args in "" "--pes 3" "--pes 64 --index-bits 2" "--huffman"; do
		run pack -q $args "$T/$m.spzm" -o "$T/$m.s.eie"
		expect_rc 0 "$m: pack $args from .spzm"
		run pack -q $args "$T/$m.json" -o "$T/$m.d.eie"
		check "$m: pack $args: the image JSON input gives" cmp "$T/$m.s.eie" "$T/$m.d.eie"
	done
done

# Error path: a pruned but not quantized weight, kept sparse, is refused
# as the dense one is, in one line, with no image left.
run pack "$T/p.spzm" -o "$T/none.eie"
expect_rc 1 "pack of an unquantized .spzm: exit 1"
expect_err "^spz: node 'fc1': weight 'fc1.weight' is not quantized; run 'spz quantize' first$" "pack of an unquantized .spzm: message"
expect_one_line "pack of an unquantized .spzm: one line"
expect_no_file "$T/none.eie" "pack of an unquantized .spzm: no image"

done_testing
