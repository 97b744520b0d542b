#!/bin/sh
# test_mmap.sh - SPZ_MMAP=1: float32 payloads used where they lie in a
# mapped model file (.spzm dense payloads, 4-aligned ONNX raw_data) give
# the same outputs as the copying default, also when a command writes
# over the very file it read (the output is a new file renamed into
# place, so the mapped old one stays whole), from standard input too
# (copied), and prune (which copies what it rewrites in place);
# and a file truncated before it is read still gets its one-line error.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

run gen layer --rows 256 --cols 576 --seed 3 -o "$T/d.spzm"
expect_rc 0 "gen layer 256x576"
run convert "$T/d.spzm" -o "$T/u.onnx"
expect_rc 0 "convert to .onnx"
# Python's onnx writes it again with a doc_string whose length puts the
# weight's raw_data at a multiple of 4 in the file (mapped), and one
# byte longer (copied).
if "$PY" - "$T/u.onnx" "$T/a.onnx" "$T/n.onnx" >"$T/py.out" 2>&1 <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1])
w = next(t for t in m.graph.initializer if t.name == "fc.weight")
for k in range(8):
    m.doc_string = "d" * k
    b = m.SerializeToString()
    if b.find(w.raw_data[:64]) % 4 == 0:
        break
onnx.save(m, sys.argv[2])
m.doc_string = "d" * (k + 1)
onnx.save(m, sys.argv[3])
print(k)
PYEOF
then ok "python3-onnx writes an aligned and an unaligned model"
else notok "python3-onnx writes an aligned and an unaligned model" "$(cat "$T/py.out")"
fi

for f in d.spzm a.onnx n.onnx; do
	ext=${f#*.}
	run prune -q --sparsity 0.6 "$T/$f" -o "$T/copy_$f"
	expect_rc 0 "prune $f (copying)"
	export SPZ_MMAP=1
	run prune -q --sparsity 0.6 "$T/$f" -o "$T/map_$f"
	expect_rc 0 "prune $f (mapped)"
	check "prune of $f: mapped = copied" cmp "$T/copy_$f" "$T/map_$f"
	run quantize -q --bits 4 "$T/$f" -o "$T/mq_$f"
	unset SPZ_MMAP
	run quantize -q --bits 4 "$T/$f" -o "$T/cq_$f"
	check "quantize of $f: mapped = copied" cmp "$T/cq_$f" "$T/mq_$f"
	# Output over the input it maps.
	cp "$T/$f" "$T/same_$f"
	export SPZ_MMAP=1
	run prune -q --sparsity 0.6 "$T/same_$f" -o "$T/same_$f"
	expect_rc 0 "prune $f -o the same file (mapped)"
	check "the file it replaced was read whole" cmp "$T/copy_$f" "$T/same_$f"
	# prune copies the weights it rewrites even so; quantize maps them.
	cp "$T/$f" "$T/sameq_$f"
	run quantize -q --bits 4 "$T/sameq_$f" -o "$T/sameq_$f"
	expect_rc 0 "quantize $f -o the same file (mapped)"
	check "quantize over its mapped input = copied" cmp "$T/cq_$f" "$T/sameq_$f"
	cp "$T/$f" "$T/samec_$f"
	run convert "$T/samec_$f" -o "$T/samec_$f"
	check "convert $f -o the same file (mapped) keeps its bytes" cmp "$T/$f" "$T/samec_$f"
	run convert "$T/$f" -o "$T/conv.$ext"
	check "convert of $f mapped is byte-identical" cmp "$T/$f" "$T/conv.$ext"
	run_in "$T/$f" info -
	expect_rc 0 "info - <$f (standard input is copied)"
	unset SPZ_MMAP
done

# Truncated before it is read: the size is known, the lengths are
# checked against it, no page past the end is touched.
export SPZ_MMAP=1
sz=$(wc -c <"$T/d.spzm" | tr -d ' ')
head -c $((sz - 100)) "$T/d.spzm" >"$T/cut.spzm"
run prune -q --sparsity 0.5 "$T/cut.spzm" -o "$T/cut_out.spzm"
expect_rc 1 "truncated .spzm: exit 1"
expect_one_line "truncated .spzm: one line"
expect_err "truncated in tensor 'fc.weight'" "truncated .spzm: says where"
expect_no_file "$T/cut_out.spzm" "truncated .spzm: no output"
sz=$(wc -c <"$T/a.onnx" | tr -d ' ')
head -c $((sz / 2)) "$T/a.onnx" >"$T/cut.onnx"
run info "$T/cut.onnx"
expect_rc 1 "truncated .onnx: exit 1"
expect_one_line "truncated .onnx: one line"
unset SPZ_MMAP

done_testing
