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

for c in pack unpack; do
	run "$c" --help; expect_rc 0 "$c --help"; expect_out "^usage: spz $c" "$c --help shows usage"
done
run help info; expect_out "--dump" "info --help lists --dump"

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
# --- spz info on images -------------------------------------------------
run info "$T/f3.eie"
expect_rc 0 "info of an EIE image"
expect_out "^EIE image 'eie-fig3': 1 layer on 4 PEs, 4-bit relative index" "info: header line"
expect_out "16x8, 35 non-zeros, 0 padding" "info: dims, non-zeros, padding"
expect_out "entries per PE: min 6, mean 8.75, max 13" "info: entries per PE"
expect_out "bytes: entries 35 \(8 bits each\), pointers 72 \(16 bits\),$" "info: bytes by part"; expect_out "^    codebook 32, bias 32" "info: bytes by part, second line"
run info --dump --layer fc --pe 0 "$T/f3.eie"
expect_out "virtual weight       1  9 13  5  1 13  1  5  1 13  1  9 13$" "dump: virtual weights of PE0 (Fig. 3)"
expect_out "relative row index   0  1  0  1  0  2  0  0  0  2  0  2  0$" "dump: relative row index of PE0"
expect_out "column pointer       0  3  4  6  6  8 10 11 13$" "dump: column pointers of PE0"
run info --dump --json --pe 3 "$T/f3.eie"
expect_out '"kind":	"eie"' "dump json: kind"
expect_out '"pes":	4' "dump json: pes"
expect_out '"codes":	\[1, 4, 1, 12, 4, 1\]' "dump json: PE3 codes"
expect_out '"index":	\[3, 0, 3, 2, 0, 3\]' "dump json: PE3 index"
expect_out '"pointers":	\[0, 1, 2, 2, 3, 4, 5, 5, 6\]' "dump json: PE3 pointers"
run info --json "$T/f3.eie"
check "no \"pe\" without --dump" sh -c "! '$SPZ' info --json '$T/f3.eie' | grep -q '\"pe\"'"
"$SPZ" info - <"$T/f3.eie" >/dev/null
check "info reads an image from stdin" test $? -eq 0
run info --dump --pe 4 "$T/f3.eie";  expect_rc 2 "--pe past the PEs"; expect_err "--pe takes 0..3" "--pe range named"
run info --dump --layer nope "$T/f3.eie"; expect_rc 2 "--layer unknown"; expect_one_line "--layer unknown: one line"
run info --dump "$FIG3";             expect_rc 2 "--dump on a model"
head -c 100 "$T/f3.eie" >"$T/bad.eie"
run info "$T/bad.eie";               expect_rc 1 "info of a truncated image"; expect_one_line "info truncated: one line"

# --- plain images -------------------------------------------------------
CSR="$SAMPLES/csr_4x4.json"
run pack "$CSR" --format csr -o "$T/m.csr"
expect_rc 0 "pack csr"
expect_out "packed 'csr-4x4' as CSR: 4 stored values" "csr summary"
run info --dump --json "$T/m.csr"
expect_out '"format":	"csr"' "csr dump: format"
expect_out '"values":	\[3, 4, 2, 1\]' "csr golden A"
expect_out '"indices":	\[0, 1, 2, 1\]' "csr golden JA"
expect_out '"pointers":	\[0, 0, 2, 3, 4\]' "csr golden IA"
run info --dump "$T/m.csr"
expect_out "values    3 4 2 1" "csr text dump"
for f in csr csc nm; do
	"$SPZ" pack "$CSR" --format $f -o "$T/m.$f" >/dev/null
	run unpack "$T/m.$f" -o "$T/m-$f.json"
	expect_rc 0 "unpack $f"
	"$SPZ" convert "$CSR" -o "$T/canon.json"
	check "$f: unpack gives the model back exactly" cmp "$T/canon.json" "$T/m-$f.json"
	"$SPZ" pack "$T/m-$f.json" --format $f -o "$T/m2.$f" >/dev/null
	check "$f: pack -> unpack -> pack is byte-identical" cmp "$T/m.$f" "$T/m2.$f"
done
run info --dump --json "$T/m.csc"
expect_out '"values":	\[3, 4, 1, 2\]' "csc values by column"
run pack "$FIG3" --format nm -o "$T/x.nm"
expect_rc 1 "nm refused when the pattern does not hold"
expect_err "tensor 'fc.weight' does not satisfy 2:4: group 1 of row 0 has 3 non-zeros" "nm refusal names tensor and group"
expect_one_line "nm refusal: one line"
expect_no_file "$T/x.nm" "nm refusal: no image"
run pack "$FIG3" --format nm --nm 3:4 -o "$T/x.nm"
expect_rc 0 "nm 3:4 holds for the sample"
run pack "$FIG3" --format nm --nm 5:4 -o "$T/y.nm";  expect_rc 2 "--nm 5:4 is a usage error"
expect_no_file "$T/y.nm" "--nm 5:4: no image"
head -c 300 "$T/m.csr" >"$T/bad.csr"
run unpack "$T/bad.csr" -o "$T/out.json"; expect_rc 1 "truncated csr"; expect_err "truncated in" "truncated csr: says so"
expect_no_file "$T/out.json" "truncated csr: no output"
size=$(wc -c <"$T/m.csr")
cp "$T/m.csr" "$T/bad.csr"; put "$T/bad.csr" $((size - 3)) 99
run unpack "$T/bad.csr" -o "$T/out.json"; expect_rc 1 "csr payload corrupt"
expect_err "CRC mismatch in tensor 'fc.weight'" "csr CRC names the tensor"; expect_one_line "csr CRC: one line"
expect_no_file "$T/out.json" "csr CRC: no output"

# A 3-D MatMul weight [2, 8, 4] reduces along axis 1 (ndims - 2) for prune,
# info and pack alike: pruned 2:4, its N:M image stores half the values
# (pack grouped along axis 0 and stored all 64).
vals=$(seq -s ', ' 1 64)
cat >"$T/m3.json" <<JSON
{"format": "spz-model", "version": 1, "name": "m3", "inputs": ["x"], "outputs": ["y"],
 "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}],
 "initializers": [{"name": "w", "data_type": 1, "dims": [2, 8, 4], "data": [$vals]}],
 "history": []}
JSON
"$SPZ" prune --nm 2:4 "$T/m3.json" -o "$T/m3p.spzm" 2>/dev/null
run info "$T/m3p.spzm"
expect_out 'satisfies 2:4 along dim 1' "3-D MatMul: info sees 2:4 along dim 1"
run pack --format nm "$T/m3p.spzm" -o "$T/m3.nm"
expect_rc 0 "3-D MatMul: pack --format nm"
expect_out "packed 'm3' as N:M: 32 stored values" "3-D MatMul: half the values stored"
run info "$T/m3.nm"
expect_out "2:4 along axis 1" "3-D MatMul: the image groups along axis 1"
run unpack "$T/m3.nm" -o "$T/m3u.json"
expect_rc 0 "3-D MatMul: unpack"
run info "$T/m3u.json"
expect_out 'w +2x8x4 +float32 +[a-z]+ +32 ' "3-D MatMul: unpacked weight has its 32 non-zeros"

# A layer of 2100x2048 weights (4.3 million: past the size where pack
# splits the PEs over two threads), dense and from a bitmask .spzm: unpack
# gives back the quantized codes exactly (the codebook as 16-bit fixed
# point holds it, within 2^-16), and 3 PEs (one thread takes PE
# 1, the other 2) and 64 PEs pack the same way from either input.
run gen layer --rows 2100 --cols 2048 --density 0.12 --seed 5 -o "$T/big.spzm"
run quantize -q --bits 4 "$T/big.spzm" -o "$T/bigq.spzm"
expect_rc 0 "big layer: quantize"
run convert "$T/bigq.spzm" -o "$T/bigq.json"
check "big layer: its codes are a bitmask payload" grep -aq '"encoding": "bitmask"' "$T/bigq.spzm"
for p in 3 64; do
	run pack -q --pes $p "$T/bigq.spzm" -o "$T/big$p.eie"
	expect_rc 0 "big layer, $p PEs: pack"
	run pack -q --pes $p "$T/bigq.json" -o "$T/bigj$p.eie"
	check "big layer, $p PEs: the same image from JSON (dense codes)" cmp "$T/big$p.eie" "$T/bigj$p.eie"
	run unpack "$T/big$p.eie" -o "$T/bigu$p.spzm"
	expect_rc 0 "big layer, $p PEs: unpack"
	run pack -q --pes $p "$T/bigu$p.spzm" -o "$T/bigr$p.eie"
	check "big layer, $p PEs: pack -> unpack -> pack is byte-identical" cmp "$T/big$p.eie" "$T/bigr$p.eie"
	run convert "$T/bigu$p.spzm" -o "$T/bigu$p.json"
	check "big layer, $p PEs: unpack gives back the codes and codebook" /usr/bin/python3 -c "
import json, sys
a = json.load(open('$T/bigq.json')); b = json.load(open('$T/bigu$p.json'))
def w(m):
    return [t for t in m['initializers'] if t['name'] == 'fc.weight'][0]
x, y = w(a), w(b)
ok = x['codes'] == y['codes'] and len(x['codebook']) == len(y['codebook'])
ok = ok and all(abs(p - q) <= 2 ** -16 for p, q in zip(x['codebook'], y['codebook']))
sys.exit(0 if ok else 1)
"
done
done_testing
