#!/bin/sh
# test_spzm_bitmask.sh - pruned models stay small on disk: .spzm stores a
# mostly-zero tensor as a bitmask plus its non-zeros (formats/README.md),
# byte-identical round trips, files written before the encoding (kept in
# tests/cli/old_format/, written by spz before the change) still read,
# and a damaged bitmask payload is refused in one line.
. "$(dirname "$0")/lib.sh"
OLD=$(cd "$(dirname "$0")/old_format" && pwd)

size() { wc -c <"$1" | tr -d ' '; }
flags() { od -An -tu4 -j12 -N4 "$1" | tr -d ' '; }

run gen layer --rows 256 --cols 576 --seed 1 -o "$T/dense.spzm"
expect_rc 0 "gen layer 256x576"
run prune -q --sparsity 0.91 "$T/dense.spzm" -o "$T/p.spzm"
expect_rc 0 "prune --sparsity 0.91"
sz_d=$(size "$T/dense.spzm") sz_p=$(size "$T/p.spzm")
check "pruned file ($sz_p bytes) is at most 20% of the dense one ($sz_d)" test $((sz_p * 5)) -le "$sz_d"
check "header flag 1 marks the encodings" test "$(flags "$T/p.spzm")" = 1
check "the dense weight stays plain" test "$sz_d" -ge $((256 * 576 * 4))
check "the manifest records the encoding" grep -aq '"encoding": "bitmask"' "$T/p.spzm"
run info "$T/p.spzm"
expect_out '^  fc.weight +256x576 +float32 +weight +13271 +0.0900' "info reads the bitmask tensor"

run prune -q --nm 2:4 "$T/dense.spzm" -o "$T/nm.spzm"
expect_rc 0 "prune --nm 2:4"
sz_n=$(size "$T/nm.spzm")
check "2:4 file ($sz_n bytes) is at most 55% of the dense one" test $((sz_n * 100)) -le $((sz_d * 55))
run quantize -q --bits 4 "$T/p.spzm" -o "$T/q.spzm"
expect_rc 0 "quantize the pruned file"
check "4-bit codes of the pruned layer as a bitmask" grep -aq '"encoding": "bitmask"' "$T/q.spzm"
run pack -q "$T/q.spzm" -o "$T/q.eie"
expect_rc 0 "pack reads bitmask codes"

# Round trips: .spzm -> JSON -> .spzm is byte-identical; a pipe reads
# what a file does.
for k in p nm q; do
	run convert "$T/$k.spzm" -o "$T/$k.json"
	run convert "$T/$k.json" -o "$T/$k.2.spzm"
	check "$k: .spzm -> JSON -> .spzm byte-identical" cmp "$T/$k.spzm" "$T/$k.2.spzm"
	run_in "$T/$k.spzm" convert - --to json -o "$T/$k.pipe.json"
	check "$k: read from a pipe as from a file" cmp "$T/$k.json" "$T/$k.pipe.json"
done
# The values themselves, read by another reader (Python's json): the
# pruned weight is the dense one with its 91% smallest magnitudes zeroed.
run convert "$T/dense.spzm" -o "$T/dense.json"
check "pruned values are the dense ones where not zero" /usr/bin/python3 -c "
import json, sys
d = json.load(open('$T/dense.json'))['initializers'][0]['data']
p = json.load(open('$T/p.json'))['initializers'][0]['data']
kept = [i for i, v in enumerate(p) if v != 0]
ok = len(p) == len(d) == 256 * 576 and len(kept) == 13271
ok = ok and all(p[i] == d[i] for i in kept)
small = max(abs(d[i]) for i in range(len(d)) if p[i] == 0)
ok = ok and all(abs(d[i]) >= small for i in kept)
sys.exit(0 if ok else 1)"

# Files from before the encodings: read as before, written anew smaller.
for k in mlp_pruned_v1 mlp_quantized_v1; do
	check "$k is an old file (flags 0)" test "$(flags "$OLD/$k.spzm")" = 0
	run convert "$OLD/$k.spzm" -o "$T/$k.json"
	expect_rc 0 "$k: old file reads"
	run convert "$T/$k.json" -o "$T/$k.new.spzm"
	check "$k: written again with bitmasks" test "$(flags "$T/$k.new.spzm")" = 1
	check "$k: and smaller" test "$(size "$T/$k.new.spzm")" -lt "$(size "$OLD/$k.spzm")"
	run convert "$T/$k.new.spzm" -o "$T/$k.2.json"
	check "$k: same model either way" cmp "$T/$k.json" "$T/$k.2.json"
done

# Damage: a flipped byte in the mask (CRC), the flag cleared.
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
start=$(/usr/bin/python3 -c "
import struct; b = open('$T/p.spzm', 'rb').read(32)
print((32 + struct.unpack('<Q', b[16:24])[0] + 63) // 64 * 64)")
cp "$T/p.spzm" "$T/bad.spzm"; patch "$T/bad.spzm" $((start + 3)) '\377'
run convert "$T/bad.spzm" -o "$T/bad.json"
expect_rc 1 "damaged mask: exit 1"
expect_err "^spz: '$T/bad.spzm': tensor 'fc.weight': CRC mismatch \(the file is corrupt\)$" "damaged mask: CRC message"
expect_one_line "damaged mask: one line"
expect_no_file "$T/bad.json" "damaged mask: no output"
cp "$T/p.spzm" "$T/noflag.spzm"; patch "$T/noflag.spzm" 12 '\000'
run convert "$T/noflag.spzm" -o "$T/noflag.json"
expect_rc 1 "encoding without the flag: exit 1"
expect_err "^spz: '$T/noflag.spzm': tensor 'fc.weight': an \"encoding\" needs header flag 1$" "encoding without the flag: message"
expect_one_line "encoding without the flag: one line"
expect_no_file "$T/noflag.json" "encoding without the flag: no output"

done_testing
