// run_ort.js A.onnx B.onnx NAME=DIMS... - runs both models in onnxruntime
// on the same deterministic float input(s) and checks that every output
// of A equals B's within 1e-5 relative to the largest |B| of that output
// (a per-element ratio explodes near zero). Exit 1 when not.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [a, b, ...specs] = process.argv.slice(2);
  const feeds = {};
  let seed = 1;
  for (const spec of specs) {
    const [name, dims] = spec.split('=');
    const shape = dims.split('x').map(Number);
    const n = shape.reduce((x, y) => x * y, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      v[i] = seed / 1073741824 - 1;
    }
    feeds[name] = new ort.Tensor('float32', v, shape);
  }
  const sa = await ort.InferenceSession.create(a);
  const sb = await ort.InferenceSession.create(b);
  const ra = await sa.run(feeds);
  const rb = await sb.run(feeds);
  let worst = 0;
  for (const name of sb.outputNames) {
    const x = ra[name].data, y = rb[name].data;
    if (x.length !== y.length) throw new Error(name + ': lengths differ');
    let maxAbs = 0, maxRef = 0;
    for (let i = 0; i < y.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
      maxRef = Math.max(maxRef, Math.abs(y[i]));
    }
    worst = Math.max(worst, maxRef ? maxAbs / maxRef : maxAbs);
  }
  console.log('max relative error ' + worst.toExponential(3));
  if (!(worst <= 1e-5)) process.exit(1);
}
main().catch((e) => { console.error(String(e)); process.exit(2); });
