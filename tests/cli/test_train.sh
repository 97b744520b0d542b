#!/bin/sh
# test_train.sh - spz train and spz finetune on a Fashion-MNIST subset:
# a short run must learn (test accuracy checked against NumPy's forward
# pass of the written model), two runs give the same bytes, finetune keeps
# pruned zeros and quantization codes, and every refusal is one line with
# its exit code and no output file.
. "$(dirname "$0")/lib.sh"
D=${SPZ_DATA:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
# One BLAS thread: the bytes of a run depend on the thread count.
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS

run train --dims 784,64,10 --data "$D" --limit 3000 --epochs 3 --batch 32 \
	--seed 5 -o "$T/a.spzm" --json="$T/a.json"
expect_rc 0 "train: a short run on 3000 samples"
expect_err '^spz train: 3 epochs on 3000 samples in .*test [0-9.]+% on 10000$' \
	"train: one summary line off a terminal"
check "train: the log has three epochs" $PY -c "
import json, sys
j = json.load(open('$T/a.json'))
assert [e['epoch'] for e in j['epochs']] == [1, 2, 3]
assert j['train_samples'] == 3000 and j['test_samples'] == 10000
# 3000 samples, 3 epochs: a 784-64-10 MLP reaches about 80%.
assert j['epochs'][-1]['test_accuracy'] >= 0.75, j['epochs'][-1]
"
run convert "$T/a.spzm" -o "$T/a.model.json"
# NumPy's forward pass of the written model on the 10,000 test images
# gives the accuracy spz reported for the last epoch.
check "train: NumPy agrees with the reported test accuracy" $PY -c "
import json, gzip, numpy as np
m = json.load(open('$T/a.model.json'))
t = {i['name']: np.array(i['data'], dtype=np.float32).reshape(i['dims'])
     for i in m['initializers']}
x = np.frombuffer(gzip.open('$D/t10k-images-idx3-ubyte.gz').read()[16:],
                  np.uint8).reshape(-1, 784).astype(np.float32) / 255
y = np.frombuffer(gzip.open('$D/t10k-labels-idx1-ubyte.gz').read()[8:], np.uint8)
h = np.maximum(x @ t['fc1.weight'].T + t['fc1.bias'], 0)
z = h @ t['fc2.weight'].T + t['fc2.bias']
acc = float((z.argmax(1) == y).mean())
rep = json.load(open('$T/a.json'))['epochs'][-1]['test_accuracy']
assert abs(acc - rep) <= 0.0005, (acc, rep)
"
run info "$T/a.spzm"
expect_out 'train' "train: the history records the run"

"$SPZ" train --dims 784,64,10 --data "$D" --limit 3000 --epochs 3 --batch 32 \
	--seed 5 -o "$T/b.spzm" -q
check "train: same seed, data and threads give the same bytes" cmp "$T/a.spzm" "$T/b.spzm"
"$SPZ" train --dims 784,64,10 --data "$D" --limit 3000 --epochs 1 --batch 32 \
	--seed 6 --optimizer sgd -o "$T/c.spzm" -q
check "train: another seed and SGD give other weights" sh -c "! cmp -s '$T/a.spzm' '$T/c.spzm'"

# Finetune keeps the zeros of pruning ...
"$SPZ" prune "$T/a.spzm" --sparsity 0.9 -o "$T/p.spzm" 2>/dev/null
run finetune "$T/p.spzm" --data "$D" --limit 2000 --epochs 1 -o "$T/pf.spzm"
expect_rc 0 "finetune: a pruned model"
expect_err 'fc1.weight +mask kept: 5018 of 50176 non-zero' "finetune: says the mask was kept"
expect_err 'fc1.bias +trained freely' "finetune: biases train freely"
"$SPZ" convert "$T/p.spzm" -o "$T/p.json"
"$SPZ" convert "$T/pf.spzm" -o "$T/pf.json"
check "finetune: zeros stay zero, non-zeros move" $PY -c "
import json
a = {i['name']: i for i in json.load(open('$T/p.json'))['initializers']}
b = {i['name']: i for i in json.load(open('$T/pf.json'))['initializers']}
for n in ('fc1.weight', 'fc2.weight'):
    za = [v == 0 for v in a[n]['data']]
    zb = [v == 0 for v in b[n]['data']]
    assert za == zb, n
    assert a[n]['data'] != b[n]['data'], n
"
# ... and the codes of quantization.
"$SPZ" quantize --bits 4 "$T/pf.spzm" -o "$T/q.spzm" 2>/dev/null
run finetune "$T/q.spzm" --data "$D" --limit 2000 --epochs 1 -o "$T/qf.spzm" \
	--json="$T/qf.log.json"
expect_rc 0 "finetune: a quantized model"
expect_err 'fc1.weight +codes kept: 15 centroids trained, code 0 stays 0' \
	"finetune: says the codes were kept"
"$SPZ" convert "$T/q.spzm" -o "$T/q.json"
"$SPZ" convert "$T/qf.spzm" -o "$T/qf.json"
check "finetune: codes unchanged, code 0 still 0, centroids moved" $PY -c "
import json
a = {i['name']: i for i in json.load(open('$T/q.json'))['initializers']}
b = {i['name']: i for i in json.load(open('$T/qf.json'))['initializers']}
for n in ('fc1.weight', 'fc2.weight'):
    assert a[n]['codes'] == b[n]['codes'], n
    assert b[n]['codebook'][0] == 0, n
    assert a[n]['codebook'][1:] != b[n]['codebook'][1:], n
k = json.load(open('$T/qf.log.json'))
assert [t['kept'] for t in k['tensors']] == ['codes', 'none', 'codes', 'none']
"
run info "$T/qf.spzm"
expect_out 'finetune' "finetune: the history records the run"

# Refusals: one line, the documented exit code, nothing written.
run train --dims 784,64,10 --data "$D" --epochs 0 -o "$T/e.spzm"
expect_rc 2 "train --epochs 0: usage error"
expect_one_line "train --epochs 0: one line"
expect_no_file "$T/e.spzm" "train --epochs 0: no output"
run train --dims 100,10 --data "$D" --limit 100 -o "$T/e.spzm"
expect_rc 1 "train: features that do not match --dims"
expect_err "^spz: the data has 784 features per sample, --dims starts with 100,10$" \
	"train: says the feature counts"
expect_no_file "$T/e.spzm" "train: bad dims, no output"
# A 28-byte IDX file declaring 4096 samples of 65535x65535 pixels (issue
# 12): truncated, not out of memory, from a plain file, gzip and a pipe.
$PY -c "
import struct, sys
sys.stdout.buffer.write(b'\0\0\x08\x03' + struct.pack('>3I', 4096, 65535, 65535)
                        + bytes(range(1, 13)))" >"$T/huge.idx"
gzip -c "$T/huge.idx" >"$T/huge.idx.gz"
for src in huge.idx huge.idx.gz; do
	run train --dims 784,10 --x "$T/$src" -o "$T/e.spzm"
	expect_rc 1 "train --x $src: a tiny file declaring a huge shape"
	expect_err "^spz: '$T/$src': truncated: sample 1 of 4096 ends past the end of the data \(12 bytes follow the header; samples of 65535x65535 uint8\)$" \
		"train --x $src: says truncated, naming the file"
	expect_one_line "train --x $src: one line"
	expect_no_file "$T/e.spzm" "train --x $src: no output"
done
err=$(cat "$T/huge.idx" | "$SPZ" train --dims 784,10 --x /dev/stdin \
	-o "$T/e.spzm" 2>&1)
rc=$?
expect_rc 1 "train --x /dev/stdin: a pipe declaring a huge shape"
expect_err "^spz: '/dev/stdin': truncated: sample 1 of 4096 " \
	"train --x /dev/stdin: says truncated"
expect_one_line "train --x /dev/stdin: one line"
run train --dims 784,16,10 --data "$D" --limit 500 --optimizer sgd --lr 1e30 \
	--schedule constant -o "$T/e.spzm"
expect_rc 1 "train: a learning rate that makes the loss NaN"
expect_err "the loss became (NaN|infinite) at epoch 1, step [0-9]+ \(learning rate 1e\+30\): try a smaller --lr: nothing written" \
	"train: says the loss blew up"
expect_one_line "train: NaN loss is one line"
expect_no_file "$T/e.spzm" "train: NaN loss, no output"
run train --dims 784,16,5 --data "$D" --limit 500 -o "$T/e.spzm"
expect_rc 1 "train: labels past the outputs"
expect_one_line "train: labels past the outputs, one line"
expect_no_file "$T/e.spzm" "train: labels past the outputs, no output"
run train --dims 784,10 --data "$D" --lr -1 -o "$T/e.spzm"
expect_rc 2 "train --lr -1: usage error"
run train --data "$D" -o "$T/e.spzm"
expect_rc 2 "train without --dims: usage error"
cat >"$T/sig.json" <<'EOF'
{"format": "spz-model", "version": 1, "name": "sig",
 "inputs": ["input"], "outputs": ["output"],
 "nodes": [
  {"op": "Gemm", "name": "fc", "inputs": ["input", "w"], "outputs": ["h"],
   "attributes": {"transB": 1}},
  {"op": "Sigmoid", "name": "act", "inputs": ["h"], "outputs": ["output"]}],
 "initializers": [{"name": "w", "data_type": 1, "dims": [2, 784],
   "data": [0, 0, 0, 0]}]}
EOF
$PY -c "
import json; j = json.load(open('$T/sig.json'))
j['initializers'][0]['data'] = [0.01] * 1568
json.dump(j, open('$T/sig.json', 'w'))"
run finetune "$T/sig.json" --data "$D" --limit 100 -o "$T/e.json"
expect_rc 1 "finetune: a model with an op it cannot train"
expect_err "^spz: cannot finetune '.*sig.json': node 'act': op 'Sigmoid' cannot be trained" \
	"finetune: names the op"
expect_one_line "finetune: other op, one line"
expect_no_file "$T/e.json" "finetune: other op, no output"
run finetune "$T/p.spzm" --data "$D" --dims 784,10 -o "$T/e.spzm"
expect_rc 2 "finetune --dims: usage error"
# --weight-decay: recorded in the history, the weights shrink (NumPy norm
# below the run without decay), the mask kept; bad values refused.
"$SPZ" train --dims 784,64,10 --data "$D" --limit 3000 --epochs 3 --batch 32 \
	--seed 5 --weight-decay 5 -o "$T/wd.spzm" -q
run info "$T/wd.spzm"
expect_out 'weight_decay=5' "train --weight-decay: the history records it"
"$SPZ" convert "$T/wd.spzm" -o "$T/wd.json"
check "train --weight-decay: smaller weights than without it" $PY -c "
import json, numpy as np
def norm(f):
    m = json.load(open(f))
    return sum(float(np.square(np.array(i['data'], np.float64)).sum())
               for i in m['initializers'] if i['name'].endswith('weight'))
assert norm('$T/wd.json') < 0.9 * norm('$T/a.model.json')
"
run finetune "$T/p.spzm" --data "$D" --limit 2000 --epochs 1 --weight-decay 1 \
	-o "$T/pwd.spzm"
expect_rc 0 "finetune --weight-decay: a pruned model"
expect_err 'fc1.weight +mask kept: 5018 of 50176 non-zero' \
	"finetune --weight-decay: the mask is kept"
for bad in -1 nan x; do
	run train --dims 784,64,10 --data "$D" --weight-decay "$bad" -o "$T/e.spzm"
	expect_rc 2 "train --weight-decay $bad: usage error"
	expect_one_line "train --weight-decay $bad: one line"
	expect_no_file "$T/e.spzm" "train --weight-decay $bad: no output"
done
run finetune "$T/p.spzm" --data "$D" --lr 0.1 --weight-decay 10 -o "$T/e.spzm"
expect_rc 2 "finetune: lr times weight decay >= 1 is a usage error"
expect_err '^spz finetune: --weight-decay 10 times --lr 0.1 is 1' \
	"finetune: says why the decay is refused"
expect_no_file "$T/e.spzm" "finetune: refused decay, no output"
done_testing
