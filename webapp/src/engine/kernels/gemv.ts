// gemv: y[m, :] = act(x[m, :] @ W + b (+ res)) for the few rows of a classifier head or a
// squeeze-excite layer (m = batch row). W is stored k-major with the output dimension padded to
// vec4s (k_n4), so at a given k the columns are contiguous: a workgroup takes 4 vec4 columns
// and splits K over 64 slices of threads (coalesced 64-byte row reads, hundreds of loads in
// flight), keeps up to 8 rows' sums in registers so W streams once, and adds the slices up in
// workgroup memory. One thread per output column walking all of K (the simple form) left the
// GPU nearly idle: 4 workgroups for a 1000-class head.

import { activationCode, ENTRY_PARAMS, f32, pad4, RowTensor, u32, weightDecl, WORKGROUP_INDEX,
  type Arg, type KernelDispatch } from './common';
import { sliceTree } from './reduce';
import type { Activation, Precision } from '../manifest';

const COLS = 4;                 // vec4 columns per workgroup
const SLICES = 64;              // threads splitting K
const THREADS = COLS * SLICES;
const MAX_ROWS = 8;             // rows whose sums one thread keeps

export interface GemvSpec {
  label: string;
  rows: number;                 // M
  inner: number;                // K
  outputs: number;              // N (unpadded)
  precision: Precision;
  activations?: Activation[];
  x: Arg; weight: Arg; bias: Arg; y: Arg;
  res?: Arg;                    // added before the activations, shape of y
  /** x holds `parts` partial sums of each row ([M, parts, K]): the row is their sum divided by
   *  `divisor` (a mean from a depthwise conv's channel sums). Vec4 rows (K % 4 = 0) only. */
  sums?: { parts: number; divisor: number };
}

/** The largest divisor of m up to MAX_ROWS: every workgroup then has whole rows, no guards. */
function rowsPerWorkgroup(m: number): number {
  for (let r = Math.min(m, MAX_ROWS); r > 1; r--) if (m % r === 0) return r;
  return 1;
}

export function gemv(s: GemvSpec): KernelDispatch {
  const { rows: M, inner: K, outputs: N } = s;
  const N4 = pad4(N) / 4;
  const R = rowsPerWorkgroup(M);
  const colBlocks = Math.ceil(N4 / COLS);
  const x = new RowTensor('x', K);
  const y = new RowTensor('y', N);
  const res = s.res ? new RowTensor('res', N) : null;
  const rowIdx = [...Array(R).keys()];
  const parts = s.sums?.parts ?? 1;
  if (s.sums && !x.vec) throw new Error(`${s.label}: summed rows need K % 4 = 0`);
  // The vec4 of row r's k4: one load, or the sum of its parts.
  const xv4 = (r: number) => (s.sums
    ? `rowSum(m0 + ${u32(r)}, k4)`
    : `x[(m0 + ${u32(r)}) * ${u32(K / 4)} + k4]`);
  const rowSum = s.sums ? `fn rowSum(m: u32, k4: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var p = 0u; p < ${u32(parts)}; p++) { v += x[(m * ${u32(parts)} + p) * ${u32(K / 4)} + k4]; }
  return v / ${f32(s.sums.divisor)};
}` : '';
  const accumulate = x.vec
    ? `for (var k4 = slice; k4 < ${u32(K / 4)}; k4 += ${u32(SLICES)}) {
    let w = k4 * ${u32(4 * N4)} + n4;
    let w0 = w4_weight(w); let w1 = w4_weight(w + ${u32(N4)});
    let w2 = w4_weight(w + ${u32(2 * N4)}); let w3 = w4_weight(w + ${u32(3 * N4)});
    ${rowIdx.map((r) => `{ let xv = ${xv4(r)};
      acc${r} += xv.x * w0 + xv.y * w1 + xv.z * w2 + xv.w * w3; }`).join('\n    ')}
  }`
    : `for (var k = slice; k < ${u32(K)}; k += ${u32(SLICES)}) {
    let w = w4_weight(k * ${u32(N4)} + n4);
    ${rowIdx.map((r) => `acc${r} += x[(m0 + ${u32(r)}) * ${u32(K)} + k] * w;`).join('\n    ')}
  }`;
  const finish = rowIdx.map((r) => `
  part[lid] = acc${r};
  workgroupBarrier();
  ${sliceTree('part', SLICES, COLS, 'slice')}
  if (slice == 0u && n4 < ${u32(N4)}) {
    var v = part[lid] + w4_bias(n4);
    ${res ? `v += ld_res(m0 + ${u32(r)}, n4 * 4u);` : ''}
    ${activationCode(s.activations, 'v')}
    st_y(m0 + ${u32(r)}, n4 * 4u, v);
  }
  workgroupBarrier();`).join('');
  const source = `
${x.decl(0, false)}
${weightDecl(1, 'weight', s.precision)}
${weightDecl(2, 'bias', s.precision)}
${y.decl(3, true)}
${res ? res.decl(4, false) : ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}
${rowSum}
var<workgroup> part: array<vec4<f32>, ${THREADS}>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  let col = lid % ${u32(COLS)};
  let slice = lid / ${u32(COLS)};
  let n4 = (wg % ${u32(colBlocks)}) * ${u32(COLS)} + col;
  let m0 = (wg / ${u32(colBlocks)}) * ${u32(R)};
  ${rowIdx.map((r) => `var acc${r} = vec4<f32>(0.0);`).join(' ')}
  if (n4 < ${u32(N4)}) {
  ${accumulate}
  }
  ${finish}
}`;
  const args = [s.x, s.weight, s.bias, s.y, ...(s.res ? [s.res] : [])];
  return { label: s.label, source, workgroups: colBlocks * (M / R), args };
}
