// Depthwise conv2d (groups = Cin = Cout, weights khkw_c4): one thread per output pixel and
// vec4 of channels, the taps unrolled with their offsets baked in; bias, residual and
// activations fused into the store.
//
// When a squeeze-excite gate reads the output (ctx.channelSums names it), the same conv also
// sums its output over pixels per channel, so the gate starts from a few partial sums instead
// of a pass over the whole map: each workgroup takes a strip of P pixels of one image and a
// block of L channel vec4s, adds its P values per vec4 by a tree in workgroup memory and writes
// one partial sum per (image, strip, vec4) — `parts` strips per image (channelSumLayout).

import { activationCode, residualCode, elementIndex, ENTRY_PARAMS, RowTensor, u32, weightedOpBindings, windowGeometry,
  WORKGROUP_INDEX, pad4, type Arg, type ChannelSums, type KernelDispatch, type OpContext } from './common';
import { expandDepthwise } from './expand_depthwise';
import { sliceTree } from './reduce';
import type { OpSpec } from '../manifest';

const THREADS = 64;
const SUM_THREADS = 256;
const MAX_LANES = 8;
const STRIP = 4;               // outputs per thread along x in the strip form
const STRIP_MIN_WIDTH = 8;

/** The workgroup shape of the summing form for a map of HW pixels and C4 channel vec4s: L
 *  vec4 lanes (a divisor of C4 from 4 to 8 where there is one, so no lane idles) by P pixels,
 *  and the strips of P pixels per image. */
export function channelSumLayout(HW: number, C4: number): { L: number; P: number; parts: number } {
  const divisor = [8, 7, 6, 5, 4].find((d) => C4 % d === 0);
  const L = divisor ?? Math.min(C4, MAX_LANES);
  const P = Math.floor(SUM_THREADS / L);
  return { L, P, parts: Math.ceil(HW / P) };
}

export function depthwiseConv2d(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const fusion = ctx.expandFusions?.get(op.name);
  if (fusion) return [expandDepthwise(fusion, op, ctx)];
  const a = op.attrs;
  const { N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL } = windowGeometry(op, ctx);
  const C4 = pad4(C) / 4;
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  const res = a.residual ? new RowTensor('res', C) : null;
  const taps: string[] = [];
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      const dy = ky * DH - PT;
      const dx = kx * DW - PL;
      taps.push(`{ let iy = iy0 + ${dy}; let ix = ix0 + ${dx};
    if (iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W}) {
      acc += ld_x(rowBase + u32(iy * ${W} + ix), c) * w4_weight(${u32((ky * KW + kx) * C4)} + c4);
    } }`);
    }
  }
  // The output at pixel p of image row m (given c4, c, m, p, rowBase) into v, stored.
  const conv = `
  let iy0 = i32((p / ${u32(OW)}) * ${u32(SH)});
  let ix0 = i32((p % ${u32(OW)}) * ${u32(SW)});
  var acc = w4_bias(c4);
  ${taps.join('\n  ')}
  var v = acc;
  ${res ? residualCode(op, 'ld_res(m, c)') : ''}
  ${activationCode(a.activations, 'v')}
  st_y(m, c, v);`;
  const { decls, args } = weightedOpBindings(op, x, y, res, ctx.precision);
  const header = `
${decls}
${x.helpers(false)}
${y.helpers(true)}
${res ? res.helpers(false) : ''}`;
  const sums = ctx.channelSums?.get(op.outputs[0]);
  if (sums) return [summingForm(op.name, header, conv, args, N, OH * OW, H * W, C4, sums)];
  if (SW === 1 && DW === 1 && OW >= STRIP_MIN_WIDTH) {
    return [stripForm(op, header, args, { N, H, W, C4, OH, OW, KH, KW, SH, DH, PT, PL }, res !== null)];
  }
  const total = N * OH * OW * C4;
  const source = `${header}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let c4 = t % ${u32(C4)};
  let m = t / ${u32(C4)};
  let c = c4 * 4u;
  let p = m % ${u32(OH * OW)};
  let rowBase = (m / ${u32(OH * OW)}) * ${u32(H * W)};
  ${conv}
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args }];
}

/** The conv plus its per-strip channel sums (see the header); `OHW` output pixels per image. */
function summingForm(label: string, header: string, conv: string, args: Arg[], N: number, OHW: number, HW: number,
  C4: number, sums: ChannelSums): KernelDispatch {
  const { L, P, parts } = channelSumLayout(OHW, C4);
  if (parts !== sums.parts) throw new Error(`${label}: the planner expected ${sums.parts} channel-sum strips, not ${parts}`);
  const blocks = Math.ceil(C4 / L);
  const workgroups = N * parts * blocks;
  const source = `${header}
@group(0) @binding(${args.length}) var<storage, read_write> sums: array<vec4<f32>>;
var<workgroup> part: array<vec4<f32>, ${L * P}>;

@compute @workgroup_size(${L * P})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(workgroups)}) { return; }
  let lane = lid % ${u32(L)};
  let slot = lid / ${u32(L)};
  let c4 = (wg % ${u32(blocks)}) * ${u32(L)} + lane;
  let strip = (wg / ${u32(blocks)}) % ${u32(parts)};
  let n = wg / ${u32(blocks * parts)};
  let p = strip * ${u32(P)} + slot;
  var kept = vec4<f32>(0.0);
  if (c4 < ${u32(C4)} && p < ${u32(OHW)}) {
    let c = c4 * 4u;
    let m = n * ${u32(OHW)} + p;
    let rowBase = n * ${u32(HW)};
    ${conv}
    kept = v;
  }
  part[lid] = kept;
  workgroupBarrier();
  ${sliceTree('part', P, L, 'slot')}
  if (slot == 0u && c4 < ${u32(C4)}) { sums[(n * ${u32(parts)} + strip) * ${u32(C4)} + c4] = part[lid]; }
}`;
  return { label, source, workgroups, args: [...args, { kind: 'scratch', id: sums.id, bytes: N * parts * C4 * 16 }] };
}

/** Stride 1 along x, no dilation there: a thread computes STRIP neighbouring outputs of a row,
 *  so each kernel row's STRIP + KW − 1 input pixels are loaded once for all of them (a 7×7
 *  tap window: 10 loads a row for 4 outputs, not 28), and each tap's weights once. */
function stripForm(op: OpSpec, header: string, args: Arg[], g: { N: number; H: number; W: number; C4: number; OH: number;
  OW: number; KH: number; KW: number; SH: number; DH: number; PT: number; PL: number }, residual: boolean): KernelDispatch {
  const { N, H, W, C4, OH, OW, KH, KW, SH, DH, PT, PL } = g;
  const strips = Math.ceil(OW / STRIP);
  const total = N * OH * strips * C4;
  const outs = [...Array(STRIP).keys()];
  const span = [...Array(STRIP + KW - 1).keys()];
  const rows = [...Array(KH).keys()].map((ky) => `
  { let iy = oy * ${SH} + ${ky * DH - PT};
    if (iy >= 0 && iy < ${H}) {
      let rb = rowBase + u32(iy * ${W});
      ${span.map((j) => `let x${j} = select(vec4<f32>(0.0), ld_x(rb + u32(clamp(ix0 + ${j}, 0, ${W - 1})), c), ix0 + ${j} >= 0 && ix0 + ${j} < ${W});`).join('\n      ')}
      ${[...Array(KW).keys()].map((kx) => `{ let w = w4_weight(${u32((ky * KW + kx) * C4)} + c4); ${outs.map((r) => `a${r} += x${r + kx} * w;`).join(' ')} }`).join('\n      ')}
    } }`).join('');
  const stores = outs.map((r) => `
  if (ox0 + ${r}u < ${u32(OW)}) {
    let m = mRow + ox0 + ${r}u;
    var v = a${r};
    ${residual ? residualCode(op, 'ld_res(m, c)') : ''}
    ${activationCode(op.attrs.activations, 'v')}
    st_y(m, c, v);
  }`).join('');
  const source = `${header}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let c4 = t % ${u32(C4)};
  let c = c4 * 4u;
  let q = t / ${u32(C4)};
  let ox0 = (q % ${u32(strips)}) * ${u32(STRIP)};
  let row = q / ${u32(strips)};                // image n's output row oy
  let oy = i32(row % ${u32(OH)});
  let n = row / ${u32(OH)};
  let rowBase = n * ${u32(H * W)};
  let mRow = row * ${u32(OW)};
  let ix0 = i32(ox0) - ${PL};
  ${outs.map((r) => `var a${r} = w4_bias(c4);`).join(' ')}
  ${rows}
  ${stores}
}`;
  return { label: op.name, source, workgroups: Math.ceil(total / THREADS), args };
}
