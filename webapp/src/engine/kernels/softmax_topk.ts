// Softmax and top-k of each row of class scores on the GPU, so a classification reads back
// k (index, probability) pairs instead of every score. One workgroup per row: max and sum
// by tree reductions, then k rounds of arg-max (ties go to the lower index, as on the CPU).

import { ENTRY_PARAMS, F32_LOWEST, u32, WORKGROUP_INDEX, type Arg, type KernelDispatch } from './common';

const THREADS = 256;

/** rows × classes scores (logits, or probabilities when `logits` is false) → rows × k pairs
 *  [bitcast<f32>(index), probability] in `out`. */
export function softmaxTopK(scores: Arg, out: Arg, rows: number, classes: number, k: number,
  logits: boolean): KernelDispatch {
  const source = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
var<workgroup> red: array<f32, ${THREADS}>;
var<workgroup> arg: array<u32, ${THREADS}>;
var<workgroup> chosen: array<u32, ${k}>;

fn taken(i: u32, upto: u32) -> bool {
  for (var r = 0u; r < upto; r++) { if (chosen[r] == i) { return true; } }
  return false;
}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  let base = wg * ${u32(classes)};
  var m = ${F32_LOWEST};
  for (var i = lid; i < ${u32(classes)}; i += ${u32(THREADS)}) { m = max(m, x[base + i]); }
  red[lid] = m;
  workgroupBarrier();
  for (var s = ${u32(THREADS / 2)}; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let top = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var i = lid; i < ${u32(classes)}; i += ${u32(THREADS)}) { sum += exp(x[base + i] - top); }
  red[lid] = sum;
  workgroupBarrier();
  for (var s = ${u32(THREADS / 2)}; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  for (var r = 0u; r < ${u32(k)}; r++) {
    var best = ${F32_LOWEST};
    var bi = 0xffffffffu;
    for (var i = lid; i < ${u32(classes)}; i += ${u32(THREADS)}) {
      let v = x[base + i];
      if ((v > best || bi == 0xffffffffu) && !taken(i, r)) { best = v; bi = i; }
    }
    red[lid] = best;
    arg[lid] = bi;
    workgroupBarrier();
    for (var s = ${u32(THREADS / 2)}; s > 0u; s >>= 1u) {
      if (lid < s) {
        let o = lid + s;
        if (arg[o] != 0xffffffffu && (arg[lid] == 0xffffffffu || red[o] > red[lid]
            || (red[o] == red[lid] && arg[o] < arg[lid]))) { red[lid] = red[o]; arg[lid] = arg[o]; }
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      chosen[r] = arg[0];
      let o = (wg * ${u32(k)} + r) * 2u;
      out[o] = bitcast<f32>(arg[0]);
      out[o + 1u] = ${logits ? 'exp(red[0] - top) / total' : 'red[0]'};
    }
    workgroupBarrier();
  }
}`;
  return { label: 'softmax+top-k', source, workgroups: rows, args: [scores, out] };
}
