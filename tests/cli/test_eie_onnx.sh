# test_eie_onnx.sh - EIE packing of exported graphs (issue 11 item 4) and
# conv layers in spz report (issue 15): models written by Debian's
# python3-onnx as PyTorch exports them (tests/onnx/make_eie_models.py);
# the unpacked model checked against the quantized one by python3-onnx
# (tests/onnx/compare_unpacked.py), Cnvlutin cycles against an independent
# Python model (tests/onnx/cnvlutin_ref.py).
. "$(dirname "$0")/lib.sh"
ONNX_DIR=$(cd "$(dirname "$0")/../onnx" && pwd)
PY=/usr/bin/python3
M="$T/models"
mkdir "$M"
if ! "$PY" "$ONNX_DIR/make_eie_models.py" "$M" 2>"$T/py.err"; then
	notok "python3-onnx makes the test models (make check installs it)" "$(cat "$T/py.err")"
	done_testing
	exit 0
fi
ok "python3-onnx makes the exported test models"

# ---- fully connected exports: pack, report, run, unpack ----------------
for f in pt_gemm pt_matmul pt_gemm_t0; do
	run prune "$M/$f.onnx" --sparsity 0.5 -o "$T/$f.p.onnx"
	run quantize "$T/$f.p.onnx" -o "$T/$f.q.onnx"
	expect_rc 0 "$f: prune and quantize"
	run pack "$T/$f.q.onnx" -o "$T/$f.eie"
	expect_rc 0 "$f: packs for EIE"
	expect_out "2 layers" "$f: both layers packed"
	run report "$T/$f.q.onnx"
	expect_rc 0 "$f: reports"
	run run "$T/$f.eie" --random-input --batch 16 --check
	expect_rc 0 "$f: runs on the emulator and matches the float model"
	expect_err "max rel error .* \(tolerance [0-9.e-]*\): ok$" "$f: check ok"
	run unpack "$T/$f.eie" -o "$T/$f.u.onnx"
	expect_rc 0 "$f: unpacks to ONNX"
	if "$PY" "$ONNX_DIR/compare_unpacked.py" "$T/$f.q.onnx" "$T/$f.u.onnx" >"$T/cmp.log" 2>&1; then
		ok "$f: the unpacked model equals the quantized model ($(cat "$T/cmp.log"))"
	else
		notok "$f: the unpacked model equals the quantized model" "$(cat "$T/cmp.log")"
	fi
	run pack "$T/$f.u.onnx" -o "$T/$f.u.eie"
	check "$f: pack -> unpack -> pack gives the same image" cmp "$T/$f.eie" "$T/$f.u.eie"
done
run info "$T/pt_matmul.eie"
expect_rc 0 "info reads an image with an Add and a Reshape"
# unnamed nodes take their weight's name
run report "$T/pt_gemm.q.onnx"
expect_out "^fc1.weight " "unnamed Gemm reported under its weight's name"

# ---- what cannot be packed --------------------------------------------
run pack "$T/pt_gemm.q.onnx" -o "$T/x.eie" --pes 4
expect_rc 0 "pack with 4 PEs"
run prune "$M/conv16.onnx" --sparsity 0.5 -o "$T/c.p.onnx"
run quantize "$T/c.p.onnx" -o "$T/c.q.onnx"
expect_rc 0 "conv net: prune (magnitude) and quantize"
run pack "$T/c.q.onnx" -o "$T/c.eie"
expect_rc 1 "pack of a conv net: exit 1"
expect_err "^spz: node '/conv/Conv' \(Conv\) is not a fully connected layer" "pack names the first node it cannot pack"
expect_one_line "pack of a conv net: one line"
expect_no_file "$T/c.eie" "pack of a conv net: no output"
run prune "$M/conv16.onnx" --nm 2:4 -o "$T/c24.onnx"
expect_rc 0 "conv net: N:M prune along input channels"

# ---- the conv net in spz report -----------------------------------------
run report "$T/c.q.onnx"
expect_rc 0 "report of a conv net"
expect_out "^/conv/Conv +Conv .*82944 .* not EIE" "Conv listed with its MACs (8x32x3x3 x 6x6 = 82944), not EIE"
expect_out "^/fc/Gemm " "the Gemm is an EIE layer"
expect_out "conv shapes from the graph input" "says where the shape came from"
for d in 1 0; do
	run report "$T/c.q.onnx" --json --act-density $d
	printf '%s\n' "$out" >"$T/r.json"
	want=$("$PY" "$ONNX_DIR/cnvlutin_ref.py" 32 6 6 8 3 1 1 $d)
	got=$("$PY" -c "import json; j=json.load(open('$T/r.json')); c=j['conv_layers'][0]['designs']; print(c['cnvlutin']['baseline_cycles'], c['cnvlutin']['cycles'], c['eie'], c['dense']['cycles'], [x for x in j['not_eie'] if x['op'] == 'Conv'][0]['macs_dense'])")
	if [ "$got" = "$want None 10368 82944" ]; then
		ok "density $d: Cnvlutin/DaDianNao cycles $want as computed in Python, EIE skipped, dense 10368"
	else
		notok "density $d: Cnvlutin cycles" "got $got" "wanted $want None 10368 82944"
	fi
done
run report "$M/conv16_noshape.onnx"
expect_rc 0 "report without a recorded input shape"
expect_out "give --input-shape" "asks for --input-shape"
run report "$M/conv16_noshape.onnx" --input-shape 32,6,6 --arch cnvlutin
expect_rc 0 "report with --input-shape"
expect_out "^/conv/Conv +cnvlutin +832 " "--input-shape gives the same Cnvlutin cycles"
run report "$M/conv16_noshape.onnx" --input-shape 32,0,6
expect_rc 2 "--input-shape 32,0,6: usage error"
expect_one_line "--input-shape: one line"
run report "$M/conv16_noshape.onnx" --input-shape 16,6,6 -o "$T/bad.txt"
expect_rc 1 "--input-shape that does not fit the weights: exit 1"
expect_one_line "--input-shape that does not fit: one line"
expect_no_file "$T/bad.txt" "--input-shape that does not fit: no output"
done_testing
