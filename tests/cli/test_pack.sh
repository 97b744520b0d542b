#!/bin/sh
# test_pack.sh - spz pack / unpack: the EIE image of the paper's Fig. 3
# sample, round trips, and every refusal (bad command lines, models that
# cannot be packed, crafted bad images), each with one line and no output.
. "$(dirname "$0")/lib.sh"

FIG3="$SAMPLES/eie_fig3.json"

# put FILE OFFSET BYTE...: overwrites bytes (decimal values) in place.
put() {
	f=$1; off=$2; shift 2; s=
	for b in "$@"; do s="$s$(printf '\\%03o' "$b")"; done
	printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
# crcfix FILE FROM TO: writes at TO the CRC32 of bytes FROM..TO-1 (gzip's
# trailer holds zlib's CRC32 of its input, little-endian).
crcfix() {
	dd if="$1" bs=1 skip="$2" count=$(($3 - $2)) 2>/dev/null | gzip -c |
		tail -c 8 | head -c 4 | dd of="$1" bs=1 seek="$3" conv=notrunc 2>/dev/null
}
# bad NAME PATTERN: unpack and info of $T/bad.eie fail with one line.
bad() {
	run unpack "$T/bad.eie" -o "$T/out.json"
	expect_rc 1 "$1: unpack exits 1"
	expect_err "^spz: '$T/bad.eie': $2" "$1: message"
	expect_one_line "$1: one line"
	expect_no_file "$T/out.json" "$1: no output"
}
fresh() { cp "$T/f3.eie" "$T/bad.eie"; }

# --- the Fig. 3 sample on 4 PEs ---------------------------------------
run pack "$FIG3" --pes 4 -o "$T/f3.eie"
expect_rc 0 "pack fig3"
expect_out "packed 'eie-fig3': 1 layer on 4 PEs, 35 entries \(0 padding\)" "summary on stdout"
check "image is 354 bytes (layout of formats/README.md)" test "$(wc -c <"$T/f3.eie")" -eq 354
check "starts with SPZI" sh -c "head -c 4 '$T/f3.eie' | grep -q SPZI"
# PE0's entries (v | z << 4) at offset 225: the paper's Fig. 3 column.
check "PE0 entries as in the paper" sh -c "od -An -tx1 -j225 -N13 '$T/f3.eie' | tr -d ' \n' | grep -qx 01190d15012d0105012d01290d"
run unpack "$T/f3.eie" -o "$T/f3.json"
expect_rc 0 "unpack to json"
run pack "$T/f3.json" --pes 4 -o "$T/f3b.eie"
check "pack -> unpack -> pack is byte-identical" cmp "$T/f3.eie" "$T/f3b.eie"
"$SPZ" unpack - -o - <"$T/f3.eie" | "$SPZ" pack --pes 4 -o "$T/f3c.eie" >/dev/null
check "through pipes too" cmp "$T/f3.eie" "$T/f3c.eie"
run pack "$FIG3" --pes 4 -o - </dev/null
expect_rc 0 "pack to stdout"
expect_err "^packed 'eie-fig3'" "summary goes to stderr when the image goes to stdout"
run pack "$FIG3" --pes 3 --index-bits 2 -o "$T/p3.eie"
expect_rc 0 "pack with 3 PEs and 2-bit indices"
run info "$T/f3.json"
expect_out "history \(1\)" "unpack records itself in the history"

# --- bad command lines --------------------------------------------------
run pack "$FIG3";                           expect_rc 2 "no -o"; expect_one_line "no -o: one line"
run pack "$FIG3" --pes 0 -o "$T/x.eie";     expect_rc 2 "--pes 0"; expect_err "--pes takes 1..4096" "--pes range named"
run pack "$FIG3" --pes 4097 -o "$T/x.eie";  expect_rc 2 "--pes 4097"
run pack "$FIG3" --index-bits 9 -o "$T/x.eie"; expect_rc 2 "--index-bits 9"; expect_err "--index-bits takes 2..8" "--index-bits range named"
run pack "$FIG3" --format foo -o "$T/x.eie";   expect_rc 2 "--format foo"; expect_one_line "--format foo: one line"
run pack "$FIG3" --format csr --pes 4 -o "$T/x.eie"; expect_rc 2 "--pes with csr"
run pack "$FIG3" --nm 2:4 -o "$T/x.eie";    expect_rc 2 "--nm without --format nm"
run pack "$FIG3" --bogus -o "$T/x.eie";     expect_rc 2 "unknown option"
run pack a b -o "$T/x.eie";                 expect_rc 2 "two inputs"
expect_no_file "$T/x.eie" "no image after usage errors"
run unpack "$T/f3.eie";                     expect_rc 2 "unpack without -o"
run unpack "$T/f3.eie" -o "$T/x.txt";       expect_rc 2 "unpack to an unknown extension"

# --- models that cannot be packed ---------------------------------------
"$SPZ" gen mlp --dims 6,4,2 -o "$T/dense.spzm"
run pack "$T/dense.spzm" -o "$T/x.eie"
expect_rc 1 "unquantized model"
expect_err "^spz: node 'fc1': weight 'fc1.weight' is not quantized; run 'spz quantize' first$" "unquantized: says what to do"
expect_one_line "unquantized: one line"
expect_no_file "$T/x.eie" "unquantized: no image"
sed 's/"Gemm"/"Conv"/' "$FIG3" >"$T/conv.json"
run pack "$T/conv.json" -o "$T/x.eie"
expect_rc 1 "a Conv layer"
expect_err "node 'fc' \(Conv\) is not a fully connected layer" "Conv: names the node"
expect_no_file "$T/x.eie" "Conv: no image"
run pack "$T/f3.eie" -o "$T/x.eie"
expect_rc 1 "an image is not a model"
expect_err "is a packed image, not a model \(use spz unpack\)" "image as model: says so"
run pack "$T/missing.json" -o "$T/x.eie"
expect_rc 1 "missing input"; expect_one_line "missing input: one line"
expect_no_file "$T/x.eie" "missing input: no image"
run unpack "$FIG3" -o "$T/x.json"
expect_rc 1 "unpack of a model"
expect_err "is not an spz image \(make one with spz pack\)" "unpack of a model: says so"

# --- crafted bad images (offsets: formats/README.md, Fig. 3 example) ----
fresh; put "$T/bad.eie" 5 0;        bad "wrong magic" "not an spz image \(wrong magic\)"
fresh; put "$T/bad.eie" 8 2;        bad "version 2" "image version 2 is not supported"
fresh; put "$T/bad.eie" 10 9;       bad "unknown kind" "unknown image kind 9"
head -c 20 "$T/f3.eie" >"$T/bad.eie";  bad "truncated header" "truncated in header"
head -c 120 "$T/f3.eie" >"$T/bad.eie"; bad "truncated descriptor" "truncated in layer 0 descriptor"
head -c 180 "$T/f3.eie" >"$T/bad.eie"; bad "truncated codebook/bias" "truncated in layer 0 'fc' descriptor"
head -c 210 "$T/f3.eie" >"$T/bad.eie"; bad "truncated pointers" "truncated in layer 0 'fc' PE 0 pointers"
head -c 230 "$T/f3.eie" >"$T/bad.eie"; bad "truncated entries" "truncated in layer 0 'fc' PE 0 entries"
head -c 350 "$T/f3.eie" >"$T/bad.eie"; bad "truncated last CRC" "truncated in layer 0 'fc' PE 3 entries"
head -c 60 "$T/f3.eie" >"$T/bad.eie";  bad "truncated layers" "truncated in layers \(22 bytes left, 1 layer needs at least 80\)"
fresh; put "$T/bad.eie" 230 255;    bad "wrong CRC" "CRC mismatch in layer 0 'fc' PE 0 entries \(the file is corrupt\)"
fresh; put "$T/bad.eie" 30 88;      bad "wrong header CRC" "CRC mismatch in header"
fresh; printf x >>"$T/bad.eie";     bad "trailing bytes" "trailing bytes after the last section"
fresh; put "$T/bad.eie" 12 0 0 0 0; crcfix "$T/bad.eie" 0 34
bad "PE count 0" "PE count 0 is outside 1..4096"
fresh; put "$T/bad.eie" 20 0 0 0 0; crcfix "$T/bad.eie" 0 34
bad "no layer" "the image has no layer"
fresh; put "$T/bad.eie" 43 1;       crcfix "$T/bad.eie" 38 195
bad "dims overflow" "layer 0 'fc' descriptor: dims 1099511627792x8 are out of range"
fresh; put "$T/bad.eie" 205 5 0;    crcfix "$T/bad.eie" 199 221
bad "pointer decreasing" "layer 'fc' PE 0: pointer 2 \(4\) is below pointer 1 \(5\)"
fresh; put "$T/bad.eie" 205 14 0;   crcfix "$T/bad.eie" 199 221
bad "pointer past the end" "layer 'fc' PE 0: pointer 1 \(14\) is past the end of its 13 entries"
# Codebook of 15 entries (drop entry 15 at 161..162): PE2's code 15 is out.
{ head -c 161 "$T/f3.eie"; tail -c +164 "$T/f3.eie"; } >"$T/bad.eie"
put "$T/bad.eie" 62 15;             crcfix "$T/bad.eie" 38 193
bad "code outside the codebook" "layer 'fc' PE 2 entry 2: code 15 is outside the codebook of 15"
# A padding code (0) with a small index: not something pack writes.
fresh; put "$T/bad.eie" 225 0;      crcfix "$T/bad.eie" 225 238
bad "code 0 not as padding" "layer 'fc' PE 0 entry 0: code 0 is only for padding"
# z = 3 on PE0's last entry: local row 2 + 1 + 3 of a PE that has 4.
fresh; put "$T/bad.eie" 237 61;     crcfix "$T/bad.eie" 225 238
bad "row past the PE" "layer 'fc' PE 0 column 7: entry 12 lands on local row 6, past the PE's 4 rows"
fresh; put "$T/bad.eie" 66 14;      crcfix "$T/bad.eie" 38 195
bad "wrong non-zero count" "layer 'fc': 14 non-zeros and 0 padding entries recorded, 35 and 0 stored"
done_testing
