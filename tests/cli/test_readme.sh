#!/bin/sh
# test_readme.sh - the README's example output is what the commands print.
# An example block is marked by the HTML comment just before it:
#   <!-- output of: spz quantize --bits 4 pruned.spzm -o q4.spzm -->
# (invisible once rendered). Every marked command runs, in README order,
# in one folder that starts with the README's pipeline inputs (mlp.spzm
# from `spz gen mlp --dims 784,300,100,10 --seed 1`, q4.spzm, mlp.eie and
# the paper's Fig. 3 image fig3.eie, samples/ beside them); its standard
# output and error together must equal the indented block that follows,
# line by line (trailing blanks ignored); a line "..." in the block stands
# for any number of lines. A mismatch prints the first differing line:
# regenerate the block from the command's real output.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
README=$(cd "$(dirname "$0")/../.." && pwd)/README.md
W="$T/readme"
mkdir -p "$W"
ln -s "$SAMPLES" "$W/samples"
(
	cd "$W" &&
	"$SPZ" gen mlp --dims 784,300,100,10 --seed 1 -o mlp.spzm &&
	"$SPZ" prune mlp.spzm --rule 'fc1.weight=0.92' --rule 'fc2.weight=0.91' \
		--rule 'fc3.weight=0.74' -o pruned.spzm -q &&
	"$SPZ" quantize --bits 4 pruned.spzm -o q4.spzm -q &&
	"$SPZ" pack q4.spzm --pes 64 -o mlp.eie -q &&
	"$SPZ" pack samples/eie_fig3.json --pes 4 -o fig3.eie -q
) >"$T/setup.log" 2>&1
check "the README's pipeline inputs are made" test -f "$W/fig3.eie"

# Splits the README into $T/ex/N.cmd (the command) and N.want (the block).
mkdir -p "$T/ex"
"$PY" - "$README" "$T/ex" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
n = 0
i = 0
while i < len(lines):
    m = re.match(r"^<!-- output of: (spz .*) -->$", lines[i])
    i += 1
    if not m:
        continue
    while i < len(lines) and lines[i] == "":
        i += 1
    block = []
    while i < len(lines) and (lines[i].startswith("    ") or lines[i] == ""):
        block.append(lines[i][4:])
        i += 1
    while block and block[-1] == "":
        block.pop()
    n += 1
    open(f"{sys.argv[2]}/{n}.cmd", "w").write(m.group(1) + "\n")
    open(f"{sys.argv[2]}/{n}.want", "w", encoding="utf-8").write("\n".join(block) + "\n")

PY
count=$(ls "$T/ex" | grep -c '\.cmd$')
check "the README marks its example output (at least 6 blocks)" test "$count" -ge 6

k=1
while [ "$k" -le "$count" ]; do
	cmd=$(cat "$T/ex/$k.cmd")
	# The command as the README writes it, with spz being the one tested.
	(cd "$W" && spz() { "$SPZ" "$@"; } && eval "$cmd") >"$T/ex/$k.got" 2>&1
	diff=$("$PY" - "$T/ex/$k.want" "$T/ex/$k.got" <<'PY'
import sys
want = [l.rstrip() for l in open(sys.argv[1], encoding="utf-8").read().rstrip("\n").split("\n")]
got = [l.rstrip() for l in open(sys.argv[2], encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")]
def match(w, g):
    # "..." matches any run of lines (the shortest that lets the rest match).
    if not w:
        return None if not g else ("end of the example", g[0])
    if w[0] == "...":
        best = None
        for j in range(len(g) + 1):
            r = match(w[1:], g[j:])
            if r is None:
                return None
            best = best or r
        return best
    if not g:
        return (w[0], "end of the output")
    if w[0] != g[0]:
        return (w[0], g[0])
    return match(w[1:], g[1:])
sys.setrecursionlimit(10000)
r = match(want, got)
if r:
    print("README: %r / prints: %r" % r)
PY
)
	if [ -z "$diff" ]; then ok "README example $k: $cmd"
	else notok "README example $k: $cmd" "$diff"; fi
	k=$((k + 1))
done
done_testing
