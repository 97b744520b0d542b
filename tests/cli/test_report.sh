#!/bin/sh
# test_report.sh - spz report: every output form, budgets, activity and
# energy overrides, figures, and every error path of the issue.
. "$(dirname "$0")/lib.sh"

# The 16x8 matrix of EIE Fig. 3 (PE0 as in the paper; PEs 1-3 ours, as in
# tests/unit/test_report.c), quantized to 4-bit codes, 25 non-zeros.
cat >"$T/fig3.json" <<'JSON'
{"format": "spz-model", "version": 1, "name": "fig3",
 "inputs": ["input"], "outputs": ["output"],
 "nodes": [{"op": "Gemm", "name": "fc", "inputs": ["input", "fc.weight", "fc.bias"],
            "outputs": ["output"], "attributes": {"transB": 1}}],
 "initializers": [
  {"name": "fc.weight", "data_type": 1, "dims": [16, 8], "bits": 4,
   "codebook": [0, -1.75, -1.5, -1.25, -1, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2],
   "codes": [3,0,7,0,1,12,5,0, 2,0,0,0,0,0,9,0, 0,4,0,0,0,0,0,15, 0,0,0,0,0,0,0,0,
             0,6,0,0,8,0,0,0, 0,0,0,10,0,0,0,0, 0,11,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
             13,0,0,0,0,0,0,2, 0,0,0,1,0,0,0,0, 0,3,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
             5,0,14,0,0,4,0,6, 0,7,0,0,0,0,0,9, 0,12,0,0,3,0,0,0, 0,0,0,0,0,0,0,0]},
  {"name": "fc.bias", "data_type": 1, "dims": [16], "data": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}],
 "history": []}
JSON
F="$T/fig3.json"
jnum() { # KEY VALUE: a "key": value line of cJSON's output
	expect_out "\"$1\":[[:space:]]*$2,?\$" "$3"
}

# --- text -----------------------------------------------------------
# 80 columns by default: the tables split, the report ends with a summary.
run report "$F" --pes 4
expect_rc 0 "text report, 80 columns"
check "text: no line over 80 columns" sh -c "! printf '%s\n' \"\$1\" | awk 'length(\$0) > 80' | grep -q ." _ "$out"
expect_out "^total: 340 B, 1\.69x compression, 14 cycles, 208\.8 pJ, fits in SRAM\$" "text: one-line summary last"
check "text: the summary is the last line" sh -c "printf '%s\n' \"\$1\" | tail -1 | grep -q '^total: '" _ "$out"
expect_out "^fc +16 +8 +25 +0\.1953 +0 +200 +0\$" "text: split table keeps the layer column"
run report "$F" --pes 4 --wide
expect_rc 0 "text report (--wide)"
expect_out "^spz report of '.*fig3.json': model 'fig3', 1 layer, 4 PEs, 4-bit relative index, clock 800 MHz" "text: header line"
expect_out "^layer +rows +cols +nonzeros .* total \[bit\] .* ratio \[x\]" "text: units in the headers"
# Header: descriptor 44 + names 49 + CRC 4 bytes, per PE count + 2 CRCs
# 12 bytes: (97 + 48) x 8 = 1160 bits; the image header (34 bytes) is
# only in the total: 2448 + 272 = 2720 bits = 340 bytes.
expect_out "^fc +16 +8 +25 +0\.1953 +0 +200 +0 +576 +256 +256 +1160 +2448 +306 +4608 +1\.88" "text: storage of the Fig. 3 layer"
expect_out "^total +- +- +25 +0\.1953 +0 +200 +0 +576 +256 +256 +1432 +2720 +340 +4608 +1\.69" "text: storage total with the image header"
# dc+huffman: 1032 - 200 entry bits + 97 (codes) + 40 (indices) + 256
# (length tables) = 1225 bits, 4096 / 1225 = 3.34 (tests/cli/test_arch.sh
# checks the 137 against a heapq Huffman).
expect_out "^fc +1032 +516 +501 +531 +484 +3:4 +832 +1024 +4\.00 +1225 +3\.34 +4096 +bitmask" "text: other formats, smallest named"
expect_out "^fc +1\.000 +128 +25 +25 +10\.5 +14 +75\.0 +0\.018 +57142857" "text: cycles and balance"
expect_out "^fc +0 +6\.2 +13 +13 +18 +yes" "text: entries per PE and SRAM"
expect_out "^total +" "text: a total row"
check "text: the total comes last in each table" sh -c "printf '%s\n' \"\$1\" | grep -A1 '^fc ' | grep -c '^total ' | grep -qx 6" _ "$out"
expect_out "^fc +31\.2 +160\.0 +15\.5 +1\.2 +0\.8 +208\.8 +92160 +603 +92763 +444\.3" "text: energy by part"
check "text: no what-if for a quantized model" sh -c "! printf '%s' \"\$1\" | grep -q what-if" _ "$out"

# --- JSON -----------------------------------------------------------
run report "$F" --pes 4 --json
expect_rc 0 "json report"
expect_out '"format":[[:space:]]*"spz-report",' "json: format"
jnum nonzeros 25 "json: nonzeros"
jnum entries 200 "json: bits.entries"
jnum total 2448 "json: bits.total"
jnum cycles_estimate 14 "json: cycles_estimate"
jnum cycles_theoretical 10.5 "json: cycles_theoretical"
jnum load_balance 0.75 "json: load_balance"
jnum macs_dense 128 "json: macs_dense"
jnum macs_sparse 25 "json: macs_sparse"
jnum energy_pj 208.8 "json: energy_pj"
jnum dense_energy_pj 92763.2 "json: dense_energy_pj"
jnum words 67 "json: CSR words 2 NNZ + m + 1"
expect_out '"pe_entries":[[:space:]]*\[13, 6, 6, 0\]' "json: entries per PE"
expect_out '"pe_cycles":[[:space:]]*\[14, 9, 11, 8\]' "json: cycles per PE"
expect_out '"best_format":[[:space:]]*"bitmask"' "json: best format"
expect_out '"quantized":[[:space:]]*true' "json: the weight is quantized"
expect_out '"what_if_code_bits":[[:space:]]*null' "json: no what-if"
expect_out '"budgets":[[:space:]]*\[\]' "json: no budgets given"
run report "$F" --pes 4 --json --act-density 0.5
jnum cycles_estimate 7 "json: --act-density halves the cycles"
jnum macs_effective 12.5 "json: --act-density halves the effective MACs"
run report "$F" --pes 4 --json --clock-mhz 1400 --sram-matrix-kb 1 --sram-pointer-kb 1
jnum time_us 0.01 "json: --clock-mhz"
jnum matrix_bytes 1024 "json: --sram-matrix-kb"

# --- CSV and Markdown -----------------------------------------------
run report "$F" --pes 4 --csv
expect_rc 0 "csv report"
expect_out '^name,rows,cols,nonzeros,density,padding,bits_entries,' "csv: header of keys"
expect_out '^fc,16,8,25,0\.1953125,0,200,0,576,256,256,1160,2448,306,4608,' "csv: the layer row, exact numbers"
check "csv: 3 lines, total last" sh -c "printf '%s\n' \"\$1\" | sed -n '3p' | grep -q '^total,,,25,'" _ "$out"
check "csv: every line has the same number of fields" sh -c "printf '%s\n' \"\$1\" | awk -F, '{print NF}' | sort -u | wc -l | grep -qx 1" _ "$out"
run report "$F" --pes 4 --markdown
expect_rc 0 "markdown report"
expect_out '^\| layer \| rows \| cols \| nonzeros \| density \|' "markdown: header with units"
expect_out '^\| --- \| ---: \|' "markdown: alignment row"
expect_out '^\| \*\*total\*\* \|' "markdown: total row"

# --- output file, stdin, what-if ------------------------------------
run report "$F" --pes 4 --json -o "$T/r.json"
expect_rc 0 "-o writes a file"
check "-o: the file holds the JSON" grep -q '"cycles_estimate":' "$T/r.json"
run_in "$F" report - --pes 4 --csv
expect_rc 0 "report of standard input"
expect_out '^fc,16,8,25,' "stdin: same figures"
"$SPZ" gen layer --rows 64 --cols 96 --density 0.1 --seed 3 -o "$T/dense.spzm" 2>/dev/null
run report "$T/dense.spzm" --pes 8
expect_rc 0 "report of an unquantized model"
expect_out '^what-if: weights that are not quantized are taken as 4-bit codes' "what-if is stated"
run report "$T/dense.spzm" --pes 8 --bits 6 --index-bits 3 --json
expect_out '"what_if_code_bits":[[:space:]]*6' "json: what-if bits"
expect_out '"quantized":[[:space:]]*false' "json: the weight was not quantized"
jnum entry_bits 9 "json: 6-bit codes + 3-bit index"
jnum nonzeros 614 "json: non-zeros of the what-if = the model's"

# --- activity and energy overrides ----------------------------------
printf '{"layers": [{"name": "fc", "cycles": 99, "act_density_in": 0.5, "act_density_out": 0.3}], "total": {}}\n' >"$T/run.json"
run report "$F" --pes 4 --json --activity "$T/run.json"
expect_rc 0 "--activity"
jnum cycles_estimate 7 "--activity: the layer's act_density_in applies"
expect_out '"activity":[[:space:]]*".*run.json"' "--activity is recorded"
printf '{"layers": [{"name": "fc2", "act_density_in": 0.5}]}\n' >"$T/other.json"
run report "$F" --activity "$T/other.json"
expect_rc 1 "--activity without the layer"
expect_err "'.*other.json': no activity for layer 'fc'" "--activity: names the layer"; expect_one_line "--activity missing layer: one line"
printf '{"layers": [{"name": "fc", "act_density_in": 1.5}]}\n' >"$T/bad.json"
run report "$F" --activity "$T/bad.json"
expect_rc 1 "--activity density out of range"; expect_one_line "--activity out of range: one line"
printf 'not json' >"$T/junk.json"
run report "$F" --activity "$T/junk.json"
expect_rc 1 "--activity not JSON"; expect_err "junk.json.: not JSON" "--activity: says it is not JSON"
run report "$F" --activity "$T/nope.json"
expect_rc 1 "--activity missing file"; expect_one_line "--activity missing file: one line"
printf '{"sram_read_32": 10}\n' >"$T/energy.json"
run report "$F" --pes 4 --json --energy "$T/energy.json"
expect_rc 0 "--energy"
jnum matrix_sram 62.5 "--energy: SRAM entry applies"
jnum sram_read_32 10 "--energy: the table is recorded"
printf '{"sram_read": 10}\n' >"$T/energy2.json"
run report "$F" --energy "$T/energy2.json"
expect_rc 1 "--energy unknown key"; expect_err "unknown energy entry 'sram_read'" "--energy: names the key"; expect_one_line "--energy: one line"

# --- images ---------------------------------------------------------
"$SPZ" pack "$SAMPLES/eie_fig3.json" --pes 4 -o "$T/f3.eie" >/dev/null 2>&1
run report "$T/f3.eie" --csv
expect_rc 0 "report of an EIE image"
check "image: the total is the file's size" sh -c "printf '%s\n' \"\$1\" | grep -q \"^total,.*,\$(wc -c <'$T/f3.eie' | tr -d ' '),4608,\"" _ "$out"
img_csv=$out
run report "$SAMPLES/eie_fig3.json" --pes 4 --csv
check "image: the same figures as its model's what-if" test "$out" = "$img_csv"
run report "$T/f3.eie" --json
expect_out '"kind":[[:space:]]*"eie"' "json: kind eie"
run report "$T/f3.eie" --wide
expect_out "^spz report of '.*f3.eie': EIE image 'eie-fig3', 1 layer, 4 PEs" "text: an image says so"
run_in "$T/f3.eie" report - --csv
expect_rc 0 "image on standard input"
check "image on stdin: same figures" test "$out" = "$img_csv"
run report "$T/f3.eie" --pes 8
expect_rc 2 "--pes with an image"; expect_err "'.*f3.eie' is an EIE image: --pes, --index-bits and --bits apply to models" "--pes with an image: says why"; expect_one_line "--pes with an image: one line"
head -c 100 "$T/f3.eie" >"$T/cut.eie"
run report "$T/cut.eie" -o "$T/o4.txt"
expect_rc 1 "truncated image"; expect_err "cut.eie" "truncated image: named"; expect_one_line "truncated image: one line"
expect_no_file "$T/o4.txt" "truncated image: no output"

# --- figures --------------------------------------------------------
run report "$F" --pes 4 --png "$T/fig" -o "$T/fig.txt"
expect_rc 0 "--png"
for f in fc-heatmap fc-histogram fc-pes; do
	check "--png: $f.png is a PNG" sh -c "head -c 8 '$T/fig/$f.png' | od -An -tx1 | tr -d ' \n' | grep -qx 89504e470d0a1a0a"
done
check "--png: nothing else in the folder" sh -c "ls '$T/fig' | wc -l | grep -qx 4"
printf 'x' >"$T/afile"
run report "$F" --png "$T/afile" -o "$T/nofig.txt"
expect_rc 1 "--png onto a file"; expect_err "not a directory" "--png onto a file: says why"; expect_one_line "--png onto a file: one line"
expect_no_file "$T/nofig.txt" "--png failure leaves no report file"

# --- budgets --------------------------------------------------------
run report "$F" --pes 4 --max-bytes 340 --max-cycles 14 --min-compression 1.6
expect_rc 0 "budgets met"
expect_out '^budgets: all met' "text: budgets met"
run report "$F" --pes 4 --max-bytes 339 -o "$T/b.txt"
expect_rc 3 "--max-bytes exceeded"
expect_err '^spz report: budget exceeded: 340 bytes > --max-bytes 339$' "--max-bytes: names the budget"; expect_one_line "--max-bytes: one line"
check "--max-bytes: the report is still written" grep -q '^budgets: 340 bytes' "$T/b.txt"
run report "$F" --pes 4 --max-cycles 13
expect_rc 3 "--max-cycles exceeded"; expect_err 'budget exceeded: 14 cycles > --max-cycles 13$' "--max-cycles: names the budget"
run report "$F" --pes 4 --min-compression 1.7
expect_rc 3 "--min-compression missed"; expect_err 'budget exceeded: compression 1\.69x < --min-compression 1\.7x$' "--min-compression: numbers as people write them"
run report "$F" --pes 4 --min-compression 200
expect_err 'budget exceeded: compression 1\.69x < --min-compression 200x$' "--min-compression 200: '1.69x < 200x'"
run report "$F" --pes 4 --min-compression 1.6949
expect_err 'compression 1\.694x < --min-compression 1\.6949x$' "--min-compression: digits enough to tell the two apart"
run report "$F" --pes 4 --json --max-bytes 1 --max-cycles 1
expect_rc 3 "two budgets exceeded"
expect_err 'budget exceeded: 340 bytes > --max-bytes 1; 14 cycles > --max-cycles 1$' "two budgets: both named"; expect_one_line "two budgets: one line"
expect_out '"ok":[[:space:]]*false' "json: budgets listed"

# --- usage errors (exit 2, one line) --------------------------------
for args in "--pes 0" "--pes x" "--pes 4097" "--index-bits 9" "--bits 0" "--act-density 2" \
	"--act-density 0.5 --activity $T/run.json" "--json --csv" "--clock-mhz 0" \
	"--sram-matrix-kb 0" "--sram-pointer-kb x" "--max-bytes -1" "--max-cycles x" \
	"--min-compression -1" "--frobnicate" "--png"; do
	# shellcheck disable=SC2086
	run report "$F" $args
	expect_rc 2 "usage: $args"; expect_one_line "usage: $args: one line"
done
run report
expect_rc 2 "no input"; expect_err "expected one input file" "no input: says so"
run report "$F" "$F"
expect_rc 2 "two inputs"

# --- data errors (exit 1, one line, no output) ----------------------
run report "$T/missing.spzm" -o "$T/o1.txt"
expect_rc 1 "missing input"; expect_err "cannot open '.*missing.spzm'" "missing input: named"; expect_one_line "missing input: one line"
expect_no_file "$T/o1.txt" "missing input: no output"
printf 'garbage' >"$T/garbage"
run report "$T/garbage" -o "$T/o2.txt"
expect_rc 1 "not a model"; expect_one_line "not a model: one line"; expect_no_file "$T/o2.txt" "not a model: no output"
sed 's/"op": "Gemm"/"op": "Conv"/' "$F" >"$T/conv.json"
run report "$T/conv.json" -o "$T/o3.txt"
expect_rc 1 "a model that cannot be packed"; expect_err "node 'fc' \(Conv\)" "unpackable: names the node"; expect_one_line "unpackable: one line"
expect_no_file "$T/o3.txt" "unpackable: no output"
run report "$F" -o "$T/no/such/dir/r.txt"
expect_rc 1 "unwritable output"; expect_one_line "unwritable output: one line"
run report --help
expect_rc 0 "report --help"; expect_out "^usage: spz report FILE" "report --help: usage"
expect_out "--max-bytes" "report --help lists the budgets"
done_testing
