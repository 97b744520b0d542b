#!/bin/sh
# test_arch.sh - spz report --arch (EIE, Cnvlutin, 2:4 tensor cores,
# dense), the Huffman sizes against Python's heapq Huffman, activity-mask
# files written here by an independent Python writer of the format in
# formats/README.md, and every bad input of issue 15.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# The Fig. 3 model of test_report.sh.
sed -n '/^cat >"$T\/fig3.json"/,/^JSON/p' "$(dirname "$0")/test_report.sh" |
	sed '1d;$d' >"$T/fig3.json"
F="$T/fig3.json"

# --- designs ----------------------------------------------------------
run report "$F" --pes 4
expect_rc 0 "default designs"
expect_out "^designs: cycles, time, speedup" "text: the designs table"
check "default: cnvlutin left out (no conv layer)" sh -c "! printf '%s' \"\$1\" | grep -q '^fc  *cnvlutin'" _ "$out"
expect_out "^fc +eie +14 +0\.018 +0\.040 +2\.29$" "eie: 14 cycles against ceil(16/4) x 8 = 32 dense"
expect_out "^fc +dense +32 +0\.040 +0\.040 +1\.00$" "dense: 32 cycles"
check "text: the designs table fits 80 columns" sh -c "printf '%s\n' \"\$1\" | sed -n '/^designs:/,/^\$/p' | awk 'length > 80 { exit 1 }'" _ "$out"
run report "$F" --pes 4 --arch cnvlutin
expect_rc 0 "--arch cnvlutin"
# A fully connected layer runs as DaDianNao: ceil(8/16) x ceil(16/256) = 1.
expect_out "^fc +cnvlutin +1 +0\.002 +0\.002 +1\.00$" "cnvlutin: FC runs as DaDianNao"
check "--arch cnvlutin: only that design" sh -c "! printf '%s' \"\$1\" | grep -q '^fc  *eie'" _ "$out"

# --- Huffman against an outside oracle ----------------------------------
run report "$F" --pes 4 --json
expect_rc 0 "json"
printf '%s' "$out" >"$T/r.json"
check "dc+huffman: codes and indices against heapq Huffman" $PY -c '
import heapq, json, subprocess, sys, collections
j = json.load(open(sys.argv[1]))
h = j["layers"][0]["formats"]["dc_huffman"]
def cost(s):
    c = list(collections.Counter(s).values())
    if len(c) == 1: return len(s)
    heapq.heapify(c); t = 0
    while len(c) > 1:
        a = heapq.heappop(c); b = heapq.heappop(c); t += a + b
        heapq.heappush(c, a + b)
    return t
# The entries of spz info --dump (Fig. 3 on 4 PEs).
codes = [3,13,5,6,7,14,1,8,12,4,5,2,6, 2,7,10,1,9,9, 4,11,3,12,3,15]
idx = [0,1,0,1,0,2,0,0,0,2,0,2,0, 0,3,1,0,0,3, 0,0,0,0,3,0]
assert h["codes_bits"] == cost(codes) == 97, h
assert h["index_bits"] == cost(idx) == 40, h
assert h["table_bits"] == 256 and h["bits"] == 1032 - 200 + 97 + 40 + 256
assert abs(h["rate"] - 4096 / 1225) < 1e-12
assert j["total"]["formats"]["dc_huffman"]["bits"] == 1225
' "$T/r.json"
check "json: designs, batch, tc24 sweep 1..4096" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["designs"] == ["eie", "tc24", "dense"] and j["batch"] == 1
t = j["layers"][0]["designs"]["tc24"]
assert [p["batch"] for p in t["sweep"]] == [2 ** k for k in range(13)]
assert j["layers"][0]["designs"]["eie"]["speedup"] == 32 / 14
assert j["arch_table"]["tc24_dense_tflops"] == 312
' "$T/r.json"

# --- tc24: exactly 2 compute-bound, exactly 1 when not 2:4 ---------------
run gen layer --rows 1024 --cols 1024 --seed 3 -o "$T/big.spzm"
run prune "$T/big.spzm" --nm 2:4 -o "$T/big24.spzm"
run report "$T/big24.spzm" --arch tc24 --batch 4096 --json
expect_rc 0 "tc24 at batch 4096"
printf '%s' "$out" >"$T/t.json"
check "tc24: 2:4 at batch 4096 is compute-bound, speedup exactly 2" $PY -c '
import json, sys
t = json.load(open(sys.argv[1]))["layers"][0]["designs"]["tc24"]
assert t["sparse"] and not t["memory_bound_sparse"], t
assert t["speedup"] == 2.0, t["speedup"]
assert t["flops"] == 2 * 1024 ** 2 * 4096
' "$T/t.json"
run report "$T/big.spzm" --arch tc24 --batch 4096 --json
printf '%s' "$out" >"$T/t.json"
check "tc24: a dense layer runs dense, speedup exactly 1" $PY -c '
import json, sys
t = json.load(open(sys.argv[1]))["layers"][0]["designs"]["tc24"]
assert not t["sparse"] and t["speedup"] == 1.0
' "$T/t.json"

# --- CSV and Markdown carry the designs ---------------------------------
run report "$F" --pes 4 --csv
expect_rc 0 "csv"
printf '%s\n' "$out" >"$T/r.csv"
check "csv: every row as wide as the header, designs and huffman keys" $PY -c '
import csv, sys
r = list(csv.reader(open(sys.argv[1])))
assert len({len(x) for x in r}) == 1
h = r[0]
for k in ["dc_huffman_bits", "eie_speedup", "tc24_time_us", "cnvlutin_cycles", "dense_cycles"]:
    assert k in h, k
assert r[1][h.index("dc_huffman_bits")] == "1225"
assert r[1][h.index("dense_cycles")] == "32"
' "$T/r.csv"
run report "$F" --pes 4 --markdown
expect_out "^\| \*\*total\*\* \| \*\*eie\*\* \| \*\*14\*\* " "markdown: designs total in bold"

# --- activity masks ------------------------------------------------------
# mkact FILE FLIP CUT LAYERS...: each LAYERS item is name:c:h:w:bits for
# every sample, e.g. fc:8:1:1:10110000,11111111 (bit strings per sample).
cat >"$T/mkact.py" <<'PY'
import struct, sys, zlib
out, flip, cut, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
samples = len(layers[0].split(":")[4].split(","))
b = bytearray(b"SPZACT\r\n" + struct.pack("<HHII", 1, 0, len(layers), samples))
b += struct.pack("<I", zlib.crc32(b))
for l in layers:
    name, c, h, w, bits = l.split(":")
    sec = bytearray(struct.pack("<H", len(name)) + name.encode())
    sec += struct.pack("<III", int(c), int(h), int(w))
    for s in bits.split(","):
        row = bytearray((len(s) + 7) // 8)
        for i, ch in enumerate(s):
            if ch == "1":
                row[i // 8] |= 1 << (i % 8)
        sec += row
    sec += struct.pack("<I", zlib.crc32(sec))
    b += sec
if flip >= 0:
    b[flip] ^= 0x01
if cut > 0:
    b = b[:cut]
open(out, "wb").write(b)
PY
$PY "$T/mkact.py" "$T/a.act" -1 0 fc:8:1:1:10110000,11111111
run report "$F" --pes 4 --activity "$T/a.act" --json
expect_rc 0 "--activity: a mask file"
printf '%s' "$out" >"$T/a.json"
check "mask file: the measured density (11 of 16) drives EIE" $PY -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["layers"][0]["act_density"] == 11 / 16, j["layers"][0]["act_density"]
assert j["activity_samples"] == 2
' "$T/a.json"
$PY "$T/mkact.py" "$T/shape.act" -1 0 fc:4:1:2:10110000
run report "$F" --activity "$T/shape.act" -o "$T/o.txt"
expect_rc 1 "mask file: another shape"
expect_one_line "mask file: another shape: one line"
expect_err "layer 'fc' has an input of 4x1x2, the model's takes 8x1x1" "mask file: says which shape"
expect_no_file "$T/o.txt" "mask file: no report left"
$PY "$T/mkact.py" "$T/other.act" -1 0 fc:8:1:1:10110000 fc9:8:1:1:10110000
run report "$F" --activity "$T/other.act"
expect_rc 1 "mask file: a layer the model lacks"
expect_err "layer 'fc9' is not in the model" "mask file: names the layer"
$PY "$T/mkact.py" "$T/none.act" -1 0 fc2:8:1:1:10110000
run report "$F" --activity "$T/none.act"
expect_rc 1 "mask file: no entry for the model's layer"
$PY "$T/mkact.py" "$T/crc.act" 30 0 fc:8:1:1:10110000
run report "$F" --activity "$T/crc.act"
expect_rc 1 "mask file: a flipped byte"
expect_one_line "mask file: a flipped byte: one line"
$PY "$T/mkact.py" "$T/cut.act" -1 35 fc:8:1:1:10110000
run report "$F" --activity "$T/cut.act"
expect_rc 1 "mask file: truncated"
expect_err "truncated|CRC" "mask file: truncated: says so"
$PY "$T/mkact.py" "$T/pad.act" -1 0 fc:5:1:1:10111
run report "$F" --activity "$T/pad.act"
expect_rc 1 "mask file: shape of 5 channels refused for the 8-input layer"

# --- bad options ---------------------------------------------------------
run report "$F" --arch eie,tpu -o "$T/o.txt"
expect_rc 2 "--arch with an unknown name"
expect_one_line "--arch unknown: one line"
expect_err "unknown design 'tpu'" "--arch unknown: names it"
expect_no_file "$T/o.txt" "--arch unknown: no output"
run report "$F" --batch 0
expect_rc 2 "--batch 0"
expect_one_line "--batch 0: one line"
run report "$F" --batch x
expect_rc 2 "--batch x"
printf '{"tc24_bandwidth_gbps": 0}' >"$T/t0.json"
run report "$F" --arch-table "$T/t0.json"
expect_rc 1 "--arch-table: a zero"
expect_err "'tc24_bandwidth_gbps' must be a finite number above 0" "--arch-table: zero named"
printf '{"tc24_bandwith_gbps": 2000}' >"$T/t1.json"
run report "$F" --arch-table "$T/t1.json"
expect_rc 1 "--arch-table: an unknown key"
expect_err "unknown architecture entry 'tc24_bandwith_gbps'" "--arch-table: key named"
printf '{"tc24_bandwidth_gbps": -1e999}' >"$T/t2.json"
run report "$F" --arch-table "$T/t2.json"
expect_rc 1 "--arch-table: not finite"
printf '{"tc24_bandwidth_gbps": 2039}' >"$T/t3.json"
run report "$F" --arch-table "$T/t3.json" --json
expect_rc 0 "--arch-table: an override"
expect_out '"tc24_bandwidth_gbps":[[:space:]]*2039' "--arch-table: the override is in the JSON"
run report "$F" --png "$T/fig"
expect_rc 0 "--png: the designs chart"
check "--png: fig3-designs.png is a PNG" sh -c "head -c 8 '$T/fig/fig3-designs.png' | od -An -tx1 | grep -q '89 50 4e 47'"
done_testing
