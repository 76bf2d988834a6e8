// Squeeze-excite: gate = act₂(act₁(mean_hw(x)·Wr + br)·We + be), one value per (image, channel).
//
// squeeze_excite_gate writes the gate [N, C]; the consumer (the block's projection conv,
// `input_scale`) multiplies its input channels by the gate as it loads them, so the scaled map
// is never written. squeeze_excite (the fallback form, when the scaled map has other users) is
// the same gate into a scratch buffer, then the channel scale.
//
// The gate takes one of two forms, chosen from the shapes (`spreads`):
// - single: ONE dispatch, one workgroup per image reduces the H×W×C map to C means in workgroup
//   memory, then does both small FC layers from there and writes the C gate values. Each stage
//   is a column sum: `cols` vec4 columns, each a sum over `rows` terms; the workgroup's threads
//   are split into slices of rows per column, each thread keeps UNROLL independent sums (as
//   many loads in flight: with one workgroup per image, the loads' latency bounds the stage),
//   and the slices are added up by a tree in workgroup memory.
// - spread: three short dispatches over many workgroups: the global average pool (pool.ts)
//   into scratch means, then the two FCs as GEMVs with their activations (gemv.ts; the same
//   k-major, vec4-padded weights), the second writing the gate.
// When the map is a depthwise conv's output (ctx.channelSums), that conv also writes partial
// sums over strips of pixels per channel (depthwise.ts): the single form's first stage adds up
// those few rows instead of H×W, and the spread form has no pool dispatch (the first GEMV adds
// the parts up as it reads them).
// The compiler fuses blocks of any width (fuse_se.py): one whose C means and squeezed values
// don't fit the device's workgroup memory beside the reduction takes the spread form whatever
// its size; a device with more memory gets more threads in the single form.

import { activationCode, ENTRY_PARAMS, pad4, pixelVec4Index, RowTensor, u32, weightDecl,
  WORKGROUP_INDEX, type Arg, type KernelDispatch, type OpContext } from './common';
import { gemv } from './gemv';
import { globalPoolDispatch } from './pool';
import { sliceTree } from './reduce';
import type { OpSpec } from '../manifest';

const SCALE_THREADS = 64;
const MAX_THREADS = 1024;
const UNROLL = 8;

/** WGSL adding up `term(r)` (a vec4) over rows r < rows for each of `cols` columns `col`, then
 *  running `finish` (which sees `col` and the sum `s`) once per column. Uniform control flow:
 *  every thread reaches every barrier. */
function columnSum(threads: number, cols: number, rows: number, term: (r: string) => string, finish: string): string {
  const CB = Math.min(cols, threads);          // columns per pass
  const P = Math.floor(threads / CB);          // row slices per column
  // The P slices' sums are added by a tree: one thread adding up to ~170 of them in turn was a
  // long latency chain.
  const sums = [...Array(UNROLL).keys()];
  return `for (var cb = 0u; cb < ${u32(cols)}; cb += ${u32(CB)}) {
    let col = cb + lid % ${u32(CB)};
    let slice = lid / ${u32(CB)};
    ${sums.map((i) => `var s${i} = vec4<f32>(0.0);`).join(' ')}
    if (slice < ${u32(P)} && col < ${u32(cols)}) {
      var r = slice;
      for (; r + ${u32((UNROLL - 1) * P)} < ${u32(rows)}; r += ${u32(UNROLL * P)}) {
        ${sums.map((i) => `s${i} += ${term(`r + ${u32(i * P)}`)};`).join(' ')}
      }
      for (; r < ${u32(rows)}; r += ${u32(P)}) { s0 += ${term('r')}; }
    }
    part[lid] = ${sums.map((i) => `s${i}`).join(' + ')};
    workgroupBarrier();
    ${sliceTree('part', P, CB, 'slice')}
    if (slice == 0u && col < ${u32(cols)}) {
      let s = part[lid];
      ${finish}
    }
    workgroupBarrier();
  }`;
}

/** rows: what the pool adds up per channel and image, the HW pixels or the `parts` channel
 *  sums of the depthwise conv before it. */
interface GateShape { N: number; HW: number; rows: number; C: number; CR: number }

/** Threads of the one-workgroup gate kernel, or 0 when its arrays don't fit workgroup memory. */
function gateThreads(s: GateShape, ctx: OpContext): number {
  const arrays = (pad4(s.C) + pad4(s.CR)) * 4;
  const room = Math.floor((ctx.workgroupLimits.storageBytes - arrays) / 16 / 64) * 64;
  const threads = Math.min(MAX_THREADS, ctx.workgroupLimits.threads, room);
  return threads >= 64 ? threads : 0;
}

function gateSource(op: OpSpec, s: GateShape, threads: number, ctx: OpContext): string {
  const { HW, rows, C, CR } = s;
  const C4 = pad4(C) / 4;
  const CR4 = pad4(CR) / 4;
  const x = new RowTensor('x', C);
  const gate = new RowTensor('gate', C);
  const a = op.attrs;
  return `
${x.decl(0, false)}
${weightDecl(1, 'reduce_weight', ctx.precision)}
${weightDecl(2, 'reduce_bias', ctx.precision)}
${weightDecl(3, 'expand_weight', ctx.precision)}
${weightDecl(4, 'expand_bias', ctx.precision)}
${gate.decl(5, true)}
${x.helpers(false)}
${gate.helpers(true)}
var<workgroup> se_mean: array<vec4<f32>, ${C4}>;
var<workgroup> se_hidden: array<vec4<f32>, ${CR4}>;
var<workgroup> part: array<vec4<f32>, ${threads}>;

@compute @workgroup_size(${threads})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  let n = wg;
  ${columnSum(threads, C4, rows, (r) => `ld_x(n * ${u32(rows)} + ${r}, col * 4u)`,
    `se_mean[col] = s / ${HW}.0;`)}
  ${columnSum(threads, CR4, C, (k) => `se_mean[(${k}) / 4u][(${k}) % 4u] * w4_reduce_weight((${k}) * ${u32(CR4)} + col)`,
    `var v = s + w4_reduce_bias(col);
      ${activationCode(a.reduce_activations, 'v')}
      se_hidden[col] = v;`)}
  ${columnSum(threads, C4, CR, (k) => `se_hidden[(${k}) / 4u][(${k}) % 4u] * w4_expand_weight((${k}) * ${u32(C4)} + col)`,
    `var v = s + w4_expand_bias(col);
      ${activationCode(a.expand_activations, 'v')}
      st_gate(n, col * 4u, v);`)}
}`;
}

/** Pool elements (H·W·C, or parts·C from a depthwise conv's channel sums) or FC weights (C·CR,
 *  each FC) per image from which the gate takes the spread form. At 32768 the single
 *  workgroup's 1024 threads (at most) already make 8 vec4 loads each, one UNROLL round of
 *  memory latency, per stage; each 32768 more is another round in a chain (one SM, plus a few
 *  µs of its FCs' latency), while the spread form's stages are each about one round over many
 *  SMs, for one or two more dispatches (~2.2 µs each). So tiny blocks (MobileNetV3-Small's
 *  14×14×96/120/144 and 7×7×288) keep one dispatch, and so do MobileNetV3-Large's 28×28 blocks
 *  once their pool is in the depthwise conv (FCs of 72×24 and 120×32); its wider blocks (FCs
 *  up to 960×240) spread. Only for one or two images: the single form runs one workgroup per
 *  image side by side, and measured on an H200 the spread form saved ~20 µs of
 *  MobileNetV3-Large's 0.47 ms at batch 1 but cost ~45 µs of its 0.76 ms at batch 8. */
const SPREAD_ELEMENTS = 32768;
const SPREAD_MAX_IMAGES = 2;

const spreads = (s: GateShape) => s.N <= SPREAD_MAX_IMAGES && Math.max(s.rows * s.C, s.C * s.CR) >= SPREAD_ELEMENTS;

/** The dispatches writing the gate [N, C] of `op` into `out`; the last one's label ends in ':gate'. */
function gateDispatches(op: OpSpec, ctx: OpContext, out: Arg): KernelDispatch[] {
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const sums = ctx.channelSums?.get(op.inputs[0]);
  const s = { N, HW: H * W, rows: sums?.parts ?? H * W, C, CR: op.attrs.squeeze_channels as number };
  const x: Arg = sums ? { kind: 'scratch', id: sums.id, bytes: N * sums.parts * C * 4 } : { kind: 'tensor', name: op.inputs[0] };
  const w = op.weights;
  const weight = (slice: string): Arg => ({ kind: 'weight', slice });
  // 0: spread, by size or because the single form's vectors don't fit workgroup memory.
  const threads = spreads(s) ? 0 : gateThreads(s, ctx);
  if (!threads) {
    const mean: Arg = { kind: 'scratch', id: `${op.name}:mean`, bytes: N * C * 4 };
    const hidden: Arg = { kind: 'scratch', id: `${op.name}:hidden`, bytes: N * s.CR * 4 };
    const fc = { rows: N, precision: ctx.precision };
    // With channel sums the first GEMV adds up their parts as it reads them: no pool dispatch.
    const reduce = sums ? { x, sums: { parts: sums.parts, divisor: s.HW } } : { x: mean };
    return [
      ...(sums ? [] : [globalPoolDispatch(`${op.name}:pool`, N, s.HW, C, 'avg', x, mean)]),
      gemv({ ...fc, ...reduce, label: `${op.name}:reduce`, inner: C, outputs: s.CR, activations: op.attrs.reduce_activations,
        weight: weight(w.reduce_weight), bias: weight(w.reduce_bias), y: hidden }),
      gemv({ ...fc, label: `${op.name}:gate`, inner: s.CR, outputs: C, activations: op.attrs.expand_activations,
        x: hidden, weight: weight(w.expand_weight), bias: weight(w.expand_bias), y: out }),
    ];
  }
  const weights = [w.reduce_weight, w.reduce_bias, w.expand_weight, w.expand_bias].map(weight);
  return [{ label: `${op.name}:gate`, source: gateSource(op, s, threads, ctx), workgroups: N,
    args: [x, ...weights, out] }];
}

export function squeezeExciteGate(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  return gateDispatches(op, ctx, { kind: 'tensor', name: op.outputs[0] });
}

export function squeezeExcite(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const C4 = pad4(C) / 4;
  const gate = { kind: 'scratch' as const, id: `${op.name}:gate`, bytes: N * C * 4 };
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  const g = new RowTensor('gate', C);
  const total = N * H * W * C4;
  const scale = `
${x.decl(0, false)}
${g.decl(1, false)}
${y.decl(2, true)}
${x.helpers(false)}
${g.helpers(false)}
${y.helpers(true)}

@compute @workgroup_size(${SCALE_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${pixelVec4Index(SCALE_THREADS, total, C4)}
  st_y(m, c, ld_x(m, c) * ld_gate(m / ${u32(H * W)}, c));
}`;
  return [
    ...gateDispatches(op, ctx, gate),
    { label: `${op.name}:scale`, source: scale, workgroups: Math.ceil(total / SCALE_THREADS),
      args: [{ kind: 'tensor', name: op.inputs[0] }, gate, { kind: 'tensor', name: op.outputs[0] }] },
  ];
}
