#!/bin/sh
# test_huffman.sh - spz pack --huffman: the Huffman image round-trips to
# the same model as the plain EIE image, runs to the same outputs and
# cycles, dumps the same entries, reports its own file size, and every
# damaged table or stream is refused with one line and no output.
. "$(dirname "$0")/lib.sh"

FIG3="$SAMPLES/eie_fig3.json"

put() {
	f=$1; off=$2; shift 2; s=
	for b in "$@"; do s="$s$(printf '\\%03o' "$b")"; done
	printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
crcfix() {
	dd if="$1" bs=1 skip="$2" count=$(($3 - $2)) 2>/dev/null | gzip -c |
		tail -c 8 | head -c 4 | dd of="$1" bs=1 seek="$3" conv=notrunc 2>/dev/null
}

run pack "$FIG3" --pes 4 --huffman -o "$T/f3.huf"
expect_rc 0 "pack --huffman"
expect_out "Huffman-coded" "pack says Huffman-coded"
"$SPZ" pack "$FIG3" --pes 4 -o "$T/f3.eie" >/dev/null
run unpack "$T/f3.huf" -o "$T/h.json"; expect_rc 0 "unpack a Huffman image"
"$SPZ" unpack "$T/f3.eie" -o "$T/p.json"
check "fig3: unpack of the Huffman image = unpack of the EIE image" cmp "$T/h.json" "$T/p.json"
"$SPZ" pack "$T/h.json" --pes 4 --huffman -o "$T/f3b.huf" >/dev/null
check "fig3: pack --huffman -> unpack -> pack --huffman is byte-identical" cmp "$T/f3.huf" "$T/f3b.huf"
"$SPZ" info --dump "$T/f3.eie" | tail -n +2 >"$T/d1"
"$SPZ" info --dump "$T/f3.huf" | tail -n +2 >"$T/d2"
check "info --dump: the same entries and pointers" cmp "$T/d1" "$T/d2"
run info --dump "$T/f3.huf"; expect_out "Huffman-coded entries" "info names the kind"

# A model with padding entries (2-bit indices) and two layers.
"$SPZ" gen mlp --dims 64,48,10 --seed 7 -o "$T/m.json" >/dev/null
"$SPZ" prune "$T/m.json" --sparsity 0.9 -o "$T/mp.json" >/dev/null 2>&1
"$SPZ" quantize "$T/mp.json" --bits 3 -o "$T/mq.json" >/dev/null 2>&1
"$SPZ" pack "$T/mq.json" --pes 3 --index-bits 2 -o "$T/m.eie" >/dev/null
run pack "$T/mq.json" --pes 3 --index-bits 2 --huffman -o "$T/m.huf"
expect_rc 0 "pack --huffman with padding"
"$SPZ" unpack "$T/m.eie" -o "$T/m1.json"; "$SPZ" unpack "$T/m.huf" -o "$T/m2.json"
check "mlp: the same model back" cmp "$T/m1.json" "$T/m2.json"
/usr/bin/python3 -c 'import json,random
random.seed(5)
print(json.dumps([[round(random.uniform(-1,1),3) for _ in range(64)] for _ in range(4)]))' >"$T/x.json"
"$SPZ" run "$T/m.eie" --input "$T/x.json" -o "$T/y1.json" --json="$T/r1.json" >/dev/null 2>&1
run run "$T/m.huf" --input "$T/x.json" -o "$T/y2.json" --json="$T/r2.json"
expect_rc 0 "run a Huffman image"
check "run: the same outputs" cmp "$T/y1.json" "$T/y2.json"
grep '"cycles"' "$T/r1.json" >"$T/c1"; grep '"cycles"' "$T/r2.json" >"$T/c2"
check "run: the same cycles" cmp "$T/c1" "$T/c2"
run report --json "$T/m.huf"
size=$(wc -c <"$T/m.huf")
total=$(printf '%s\n' "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["bytes"])')
if [ "$total" = "$size" ]; then ok "report: total bytes = the file's size"; else notok "report: total bytes = the file's size" "$total vs $size"; fi
expect_out '"kind":	"eie-huffman"' "report: kind eie-huffman"

run pack "$FIG3" --format csr --huffman -o "$T/x.csr"
expect_rc 2 "--huffman with --format csr is a usage error"; expect_one_line "--huffman csr: one line"
expect_no_file "$T/x.csr" "--huffman csr: no image"

# Damage: the index table of fig3 (4-bit codes and indices) is at 215..230,
# its CRC at 231. z = 0, 1, 2, 3 have lengths 1, 3, 2, 3.
cp "$T/f3.huf" "$T/bad.huf"; put "$T/bad.huf" 216 2; crcfix "$T/bad.huf" 199 231
run unpack "$T/bad.huf" -o "$T/out.json"; expect_rc 1 "over-subscribed table"
expect_err "'.*bad.huf': layer 0 'fc' Huffman tables: the index table: huffman: the code lengths are over-subscribed" "over-subscribed: says so"
expect_one_line "over-subscribed: one line"; expect_no_file "$T/out.json" "over-subscribed: no output"
cp "$T/f3.huf" "$T/bad.huf"; put "$T/bad.huf" 216 4; crcfix "$T/bad.huf" 199 231
run run "$T/bad.huf" --input "$T/x.json"; expect_rc 1 "incomplete table"
expect_err "the code lengths are incomplete" "incomplete: says so"; expect_one_line "incomplete: one line"
cp "$T/f3.huf" "$T/bad.huf"; put "$T/bad.huf" 216 9
run info "$T/bad.huf"; expect_rc 1 "table CRC"; expect_err "CRC mismatch in layer 0 'fc' Huffman tables" "table CRC: names the section"
head -c 300 "$T/f3.huf" >"$T/bad.huf"
run unpack "$T/bad.huf" -o "$T/out.json"; expect_rc 1 "truncated"; expect_err "truncated in layer 0 'fc' PE" "truncated: names the section"
expect_one_line "truncated: one line"; expect_no_file "$T/out.json" "truncated: no output"
done_testing
