#!/bin/sh
# test_prune_stream.sh - spz prune from a .spzm into a .spzm leaves the
# big weights in the input file and prunes each in one pass over it, a
# piece at a time (formats/README.md, "Deferred payloads"; a weight of
# 2^22 elements or more in two halves on two threads): the output
# must be what pruning in memory gives (prune into JSON, converted), for
# every mode, with weights left out (--exclude: read whole afterwards);
# NumPy's own magnitude and 2:4 pruning must agree with what is stored;
# and damage in the file is caught before any output exists.
. "$(dirname "$0")/lib.sh"

# fc1.weight [600, 1100] is 2.6 MB (deferred: at least 1 MiB); fc2's
# 600x10 is read as usual.
run gen mlp --dims 1100,600,10 --seed 9 -o "$T/big.spzm"
expect_rc 0 "gen mlp with a 2.6 MB weight"

i=0
for args in "--sparsity 0.91" "--sparsity 0.6 --scope global" \
            "--threshold 0.05" "--nm 2:4" "--nm 3:8 --nm-partial prune" "--sparsity 0" \
            "--sparsity 0.5 --exclude fc1.weight" \
            "--rule fc1.weight=0.97 --rule fc2.weight=0.3"; do
	i=$((i + 1))
	run prune -q $args "$T/big.spzm" -o "$T/s$i.spzm" --json="$T/s$i.rep"
	expect_rc 0 "prune $args into .spzm"
	run prune -q $args "$T/big.spzm" -o "$T/d$i.json" --json="$T/d$i.rep"
	run convert "$T/d$i.json" -o "$T/d$i.spzm"
	check "prune $args: .spzm as the in-memory result gives" cmp "$T/s$i.spzm" "$T/d$i.spzm"
	check "prune $args: the same report" cmp "$T/s$i.rep" "$T/d$i.rep"
done

# N:M into a .spzm puts the biggest deferred weight's kept values
# straight into the output (formats/README.md, "Values put in place");
# with two weights of 1 MiB or more the other is pruned in memory and
# shifts nothing: the bytes of pruning in memory, every pattern.
run gen mlp --dims 1100,600,500 --seed 3 -o "$T/two.spzm"
expect_rc 0 "gen mlp with two weights of 1 MiB or more"
for args in "--nm 2:4" "--nm 1:4" "--nm 3:7 --nm-partial keep" "--nm 5:16 --nm-partial prune"; do
	rm -f "$T/two-s.spzm" "$T/two-d.json" "$T/two-d.spzm"
	run prune -q $args "$T/two.spzm" -o "$T/two-s.spzm"
	expect_rc 0 "prune $args of two big weights into .spzm"
	run prune -q $args "$T/two.spzm" -o "$T/two-d.json"
	run convert "$T/two-d.json" -o "$T/two-d.spzm"
	check "prune $args of two big weights: the bytes of pruning in memory" cmp "$T/two-s.spzm" "$T/two-d.spzm"
done

# The input may be the output: the pass reads the old file, the new one
# takes its name at the end.
cp "$T/big.spzm" "$T/same.spzm"
run prune -q --sparsity 0.91 "$T/same.spzm" -o "$T/same.spzm"
expect_rc 0 "prune a .spzm over itself"
check "over itself: the bytes of a separate output" cmp "$T/same.spzm" "$T/s1.spzm"

# NumPy: magnitude 0.91 (a stable sort: ties keep the lower index) and
# 2:4 along the input (the 2 largest |w| of each group of 4, ties to the
# lower index) of fc1.weight, against what the streamed prune stored.
for c in big:big s1:p s4:nm; do
	run convert "$T/${c%%:*}.spzm" -o "$T/${c#*:}.json"
	expect_rc 0 "convert ${c%%:*}.spzm to JSON for NumPy"
done
check "NumPy prunes the 2.6 MB fc1.weight as spz stored it (0.91, 2:4)" /usr/bin/python3 -c "
import json, sys
import numpy as np
def w(path):
    m = json.load(open(path))
    t = [t for t in m['initializers'] if t['name'] == 'fc1.weight'][0]
    return np.array(t['data'], dtype=np.float32).reshape(t['dims'])
d, p, nm = w('$T/big.json'), w('$T/p.json'), w('$T/nm.json')
flat = d.ravel().copy()
k = int(round(0.91 * flat.size))
order = np.argsort(np.abs(flat), kind='stable')
flat[order[:k]] = 0
ok = np.array_equal(flat.view(np.uint32), p.ravel().view(np.uint32))
g = d.reshape(d.shape[0], -1, 4)
rank = np.argsort(-np.abs(g), axis=2, kind='stable')
keep = np.zeros(g.shape, bool)
np.put_along_axis(keep, rank[:, :, :2], True, axis=2)
want = np.where(keep, g, np.float32(0)).reshape(d.shape)
ok = ok and np.array_equal(want.view(np.uint32), nm.view(np.uint32))
sys.exit(0 if ok else 1)
"

# Damage in the weight's payload: the structure reads, the pass over the
# payload finds the CRC mismatch; one line, exit 1, no output.
cp "$T/big.spzm" "$T/bad.spzm"
size=$(wc -c < "$T/big.spzm")
printf '\377' | dd of="$T/bad.spzm" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
for args in "--sparsity 0.9" "--nm 2:4" "--threshold 0.1"; do
	run prune $args "$T/bad.spzm" -o "$T/bad.out.spzm"
	expect_rc 1 "damaged payload, prune $args: exit 1"
	expect_err "^spz: '$T/bad.spzm': tensor 'fc1.weight': CRC mismatch \(the file is corrupt\)$" "damaged payload, prune $args: the CRC message"
	expect_one_line "damaged payload, prune $args: one line"
	expect_no_file "$T/bad.out.spzm" "damaged payload, prune $args: no output"
done
# The same file left out of pruning is read whole, and refused the same.
run prune --sparsity 0.5 --exclude fc1.weight "$T/bad.spzm" -o "$T/bad.out.spzm"
expect_rc 1 "damaged excluded weight: exit 1"
expect_err "CRC mismatch" "damaged excluded weight: the CRC message"
expect_no_file "$T/bad.out.spzm" "damaged excluded weight: no output"

# A file cut short is refused when read, as always.
head -c $((size - 100)) "$T/big.spzm" > "$T/short.spzm"
run prune --sparsity 0.9 "$T/short.spzm" -o "$T/short.out.spzm"
expect_rc 1 "truncated .spzm: exit 1"
expect_err "truncated" "truncated .spzm: says truncated"
expect_no_file "$T/short.out.spzm" "truncated .spzm: no output"

# From a pipe nothing can be left in the file: read as before, same bytes
# (standard input redirected from the file is the file, and deferred).
cat "$T/big.spzm" | "$SPZ" prune -q --sparsity 0.91 - -o "$T/pipe.spzm"
check "prune from a pipe: the same bytes" cmp "$T/pipe.spzm" "$T/s1.spzm"
run_in "$T/big.spzm" prune -q --sparsity 0.91 - -o "$T/redir.spzm"
expect_rc 0 "prune from standard input redirected from the file"
check "from a redirect: the same bytes" cmp "$T/redir.spzm" "$T/s1.spzm"

# A weight of 2^22 elements or more is pruned N:M by two threads, each
# reading, pruning and building half of it; the file is read as two
# parts of one verified pass. Same bytes and report as the pass in
# memory (standard input), tails of partial groups included; damage and
# a NaN in the second half are caught as in the first, before any output.
run gen layer --rows 1024 --cols 4100 --density 1 --seed 4 -o "$T/wide.spzm"
expect_rc 0 "gen a 4.2-million-weight layer"
# Magnitude pruning splits its pass the same way; its values rounded to
# 4 and to 2 decimals make ties at the threshold (the bracket holds) and
# ties everywhere (it misses: the weight is read whole after all).
/usr/bin/python3 - "$T/wide.spzm" "$T/tie4.spzm" "$T/tie2.spzm" <<'PY'
import json, struct, sys, zlib
import numpy as np
b = open(sys.argv[1], 'rb').read()
L = struct.unpack_from('<Q', b, 16)[0]
man = json.loads(b[32:32 + L])
data = (32 + L + 63) // 64 * 64
for out, d in ((sys.argv[2], 4), (sys.argv[3], 2)):
    m = json.loads(json.dumps(man))
    body = bytearray(b[data:])
    for t in m['initializers']:
        if t['name'] == 'fc.weight':
            w = np.frombuffer(body, '<f4', t['length'] // 4, t['offset'])
            r = np.round(w, d).astype('<f4').tobytes()
            body[t['offset']:t['offset'] + len(r)] = r
            t['crc32'] = zlib.crc32(r)
    mt = json.dumps(m, indent=2).encode()
    h = b[:16] + struct.pack('<QII', len(mt), zlib.crc32(mt), 0)
    pad = b'\0' * ((32 + len(mt) + 63) // 64 * 64 - 32 - len(mt))
    open(out, 'wb').write(h + mt + pad + bytes(body))
PY
run info "$T/tie2.spzm"
expect_rc 0 "a tie-heavy 4.2 M-weight layer reads"
for c in "wide:--nm 2:4" "wide:--nm 3:8 --nm-partial prune" \
         "wide:--nm 5:16 --nm-partial keep" "wide:--sparsity 0.91" \
         "wide:--sparsity 0.5" "tie4:--sparsity 0.91" "tie2:--sparsity 0.7"; do
	f=${c%%:*}
	args=${c#*:}
	run prune -q $args "$T/$f.spzm" -o "$T/w.spzm" --json="$T/w.rep"
	expect_rc 0 "prune $args of 4.2 M weights ($f) in two halves"
	cat "$T/$f.spzm" | "$SPZ" prune -q $args - -o "$T/wm.spzm" --json="$T/wm.rep"
	check "prune $args ($f), two halves: the bytes of one pass in memory (a pipe)" cmp "$T/w.spzm" "$T/wm.spzm"
	check "prune $args ($f), two halves: the same report" cmp "$T/w.rep" "$T/wm.rep"
	case "$c" in wide:--nm\ 2:4|wide:--sparsity\ 0.91) cp "$T/w.spzm" "$T/w-${args##* }.spzm" ;; esac
done
# NumPy, from the file bytes (the dense payload, the bitmask payload:
# mask words, then the kept values): 2:4 and 0.91 of the 4.2 M weights
# as the two halves stored them.
check "NumPy prunes the 4.2 M-weight layer as the two halves stored it (2:4, 0.91)" /usr/bin/python3 - "$T/wide.spzm" "$T/w-2:4.spzm" "$T/w-0.91.spzm" <<'PY'
import json, struct, sys
import numpy as np
def weight(path):
    b = open(path, 'rb').read()
    L = struct.unpack_from('<Q', b, 16)[0]
    t = [t for t in json.loads(b[32:32 + L])['initializers']
         if t['name'] == 'fc.weight'][0]
    at = (32 + L + 63) // 64 * 64 + t['offset']
    n = int(np.prod(t['dims']))
    if t.get('encoding') != 'bitmask':
        return np.frombuffer(b, '<f4', n, at).reshape(t['dims'])
    words = (n + 63) // 64
    bits = np.unpackbits(np.frombuffer(b, np.uint8, 8 * words, at),
                         bitorder='little')[:n].astype(bool)
    w = np.zeros(n, np.float32)
    w[bits] = np.frombuffer(b, '<f4', int(bits.sum()), at + 8 * words)
    return w.reshape(t['dims'])
d, nm, p = weight(sys.argv[1]), weight(sys.argv[2]), weight(sys.argv[3])
g = d.reshape(d.shape[0], -1, 4)
rank = np.argsort(-np.abs(g), axis=2, kind='stable')
keep = np.zeros(g.shape, bool)
np.put_along_axis(keep, rank[:, :, :2], True, axis=2)
want = np.where(keep, g, np.float32(0)).reshape(d.shape)
ok = np.array_equal(want.view(np.uint32), nm.view(np.uint32))
flat = d.ravel().copy()
flat[np.argsort(np.abs(flat), kind='stable')[:int(round(0.91 * flat.size))]] = 0
ok = ok and np.array_equal(flat.view(np.uint32), p.ravel().view(np.uint32))
sys.exit(0 if ok else 1)
PY
# Damage at three quarters (the second half), then a NaN there with the
# CRCs made to match it.
nan_at=$(/usr/bin/python3 - "$T/wide.spzm" "$T/wbad.spzm" "$T/wnan.spzm" <<'PY'
import json, struct, sys, zlib
b = bytearray(open(sys.argv[1], 'rb').read())
L = struct.unpack_from('<Q', b, 16)[0]
man = json.loads(b[32:32 + L])
t = [t for t in man['initializers'] if t['name'] == 'fc.weight'][0]
at = (32 + L + 63) // 64 * 64 + t['offset']
n = t['length'] // 4
bad = bytearray(b)
bad[at + 4 * (3 * n // 4) + 1] ^= 0x40
open(sys.argv[2], 'wb').write(bad)
i = 3 * n // 4
while True:
    c = bytearray(b)
    struct.pack_into('<I', c, at + 4 * i, 0x7fc00000)
    crc = zlib.crc32(c[at:at + 4 * n])
    if len(str(crc)) == len(str(t['crc32'])):
        break
    i += 1
m = bytes(c[32:32 + L]).replace(b'"crc32": %d' % t['crc32'], b'"crc32": %d' % crc)
assert len(m) == L and m != bytes(c[32:32 + L])
c[32:32 + L] = m
struct.pack_into('<I', c, 24, zlib.crc32(m))
open(sys.argv[3], 'wb').write(c)
print(i)
PY
)
for args in "--nm 2:4" "--sparsity 0.91"; do
	run prune $args "$T/wbad.spzm" -o "$T/wbad.out.spzm"
	expect_rc 1 "$args, damage in the second half: exit 1"
	expect_err "^spz: '$T/wbad.spzm': tensor 'fc.weight': CRC mismatch \(the file is corrupt\)$" "$args, damage in the second half: the CRC message"
	expect_one_line "$args, damage in the second half: one line"
	expect_no_file "$T/wbad.out.spzm" "$args, damage in the second half: no output"
	run prune $args "$T/wnan.spzm" -o "$T/wnan.out.spzm"
	expect_rc 1 "$args, a NaN in the second half: exit 1"
	expect_err "^spz: '$T/wnan.spzm': tensor 'fc.weight': NaN value at index $nan_at$" "$args, a NaN in the second half: named by its index"
	expect_no_file "$T/wnan.out.spzm" "$args, a NaN in the second half: no output"
done

done_testing
