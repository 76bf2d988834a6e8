// A 1×1 stride-1 conv (a plain GEMM over pixels) whose tiled grid is too small to fill the GPU,
// with its K range split inside each workgroup instead of across workgroups. Split-K across
// workgroups needs a second dispatch to add the partials up, and on MobileNets' and ResNet50's
// late layers that dispatch cost as much as the GEMM (a few µs of fixed cost each, 14 of them
// in MobileNetV3-Large). Here a workgroup owns a TILE×TILE block of outputs and GROUPS groups of
// threads each take 1/GROUPS of K, every thread keeping 4 pixels × 4 channels; the groups'
// sums are added by a tree in workgroup memory and group 0 applies bias, residual and
// activations: one dispatch.
//
// A and B are read straight from global memory, without staging tiles in workgroup memory: a
// thread's 4 pixels and 4 channels are shared with the 3 threads beside it in each direction,
// so the L1 cache serves most loads, and these convs are short enough (K/GROUPS of a few to a
// few dozen vec4 steps) that load latency, not bandwidth, bounds them. With `input_scale` each A
// vec4 is multiplied by its image's squeeze-excite gate as it is read (as in conv2d.ts).

import { activationCode, inputAffine, residualCode, ENTRY_PARAMS, RowTensor, u32, weightedOpBindings, WORKGROUP_INDEX,
  type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';
import { sliceTree } from './reduce';

const THREADS = 256;
const PIXELS = [0, 1, 2, 3];
// A workgroup owns 8×8 outputs split 64 ways instead of 16×16 split 16 ways when K has at
// least this many vec4 steps and 16×16 tiles would make fewer than SMALL_TILE_MAX_GRID
// workgroups (under one per SM of a big GPU): four times the workgroups and a quarter of the
// chain of loads and multiply-adds per thread.
const SMALL_TILE_MIN_K4 = 32;
const SMALL_TILE_MAX_GRID = 128;

/** M pixels (rows of y), K input channels (multiple of 4), CO output channels (multiple of 4),
 *  OHW pixels per image (which gate row a pixel reads). */
export interface PointwiseShape { M: number; K: number; CO: number; OHW: number }

export function pointwiseGroupSplit(op: OpSpec, ctx: OpContext, s: PointwiseShape): KernelDispatch {
  const { M, K, CO, OHW } = s;
  const K4 = K / 4;
  const N4 = CO / 4;
  const grid16 = Math.ceil(M / 16) * Math.ceil(N4 / 4);
  const TILE = K4 >= SMALL_TILE_MIN_K4 && grid16 < SMALL_TILE_MAX_GRID ? 8 : 16;   // outputs' side
  const GROUP_THREADS = (TILE / 4) ** 2;    // 4×4 outputs each
  const GROUPS = THREADS / GROUP_THREADS;
  const KG4 = Math.ceil(K4 / GROUPS);    // vec4 steps of K per group
  const mTiles = Math.ceil(M / TILE);
  const nTiles = Math.ceil(N4 / (TILE / 4));
  const scaled = op.attrs.input_scale === true;
  const x = new RowTensor('x', K);
  const y = new RowTensor('y', CO);
  const res = op.attrs.residual ? new RowTensor('res', CO) : null;
  const { decls, args } = weightedOpBindings(op, x, y, res, ctx.precision);
  const gateArg: Arg = { kind: 'tensor', name: op.inputs[op.inputs.length - 1] };
  const gate = (i: number) => (scaled ? ` * gate[g${i} + k4]` : '');
  const affine = inputAffine(op, args.length + (scaled ? 1 : 0), ctx.precision);
  const load = (i: number) => (affine ? `pre4(x[r${i} + k4], k4)` : `x[r${i} + k4]`);
  const source = `// conv2d 1x1, K split over ${GROUPS} thread groups
${decls}
${scaled ? `@group(0) @binding(${args.length}) var<storage, read> gate: array<vec4<f32>>;` : ''}
${affine?.decls ?? ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}
var<workgroup> red: array<vec4<f32>, ${4 * THREADS}>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(mTiles * nTiles)}) { return; }
  let t = lid % ${u32(GROUP_THREADS)};
  let group = lid / ${u32(GROUP_THREADS)};
  let col4 = (wg % ${u32(nTiles)}) * ${u32(TILE / 4)} + t % ${u32(TILE / 4)};
  let m0 = (wg / ${u32(nTiles)}) * ${u32(TILE)} + (t / ${u32(TILE / 4)}) * 4u;
  // Loads clamp to the last row and column; what lies past them is never stored.
  let c = min(col4, ${u32(N4 - 1)});
  ${PIXELS.map((i) => `let r${i} = min(m0 + ${u32(i)}, ${u32(M - 1)}) * ${u32(K4)};`).join(' ')}
  ${scaled ? PIXELS.map((i) => `let g${i} = (min(m0 + ${u32(i)}, ${u32(M - 1)}) / ${u32(OHW)}) * ${u32(K4)};`).join(' ') : ''}
  ${PIXELS.map((i) => `var a${i} = vec4<f32>(0.0);`).join(' ')}
  let kEnd = min((group + 1u) * ${u32(KG4)}, ${u32(K4)});
  for (var k4 = group * ${u32(KG4)}; k4 < kEnd; k4++) {
    let w = k4 * ${u32(4 * N4)} + c;
    let b0 = w4_weight(w); let b1 = w4_weight(w + ${u32(N4)});
    let b2 = w4_weight(w + ${u32(2 * N4)}); let b3 = w4_weight(w + ${u32(3 * N4)});
    ${PIXELS.map((i) => `{ let xv = ${load(i)}${gate(i)}; a${i} += xv.x * b0 + xv.y * b1 + xv.z * b2 + xv.w * b3; }`).join('\n    ')}
  }
  ${PIXELS.map((i) => `red[${u32(i * THREADS)} + lid] = a${i};`).join(' ')}
  workgroupBarrier();
  ${sliceTree('red', GROUPS, GROUP_THREADS, 'group', PIXELS.map((i) => i * THREADS))}
  if (group == 0u && col4 < ${u32(N4)}) {
    let b = w4_bias(col4);
    ${PIXELS.map((i) => `if (m0 + ${u32(i)} < ${u32(M)}) {
      var v = red[${u32(i * THREADS)} + lid] + b;
      ${res ? residualCode(op, `ld_res(m0 + ${u32(i)}, col4 * 4u)`) : ''}
      ${activationCode(op.attrs.activations, 'v')}
      st_y(m0 + ${u32(i)}, col4 * 4u, v);
    }`).join('\n    ')}
  }
}`;
  return { label: op.name, source, workgroups: mTiles * nTiles,
    args: [...args, ...(scaled ? [gateArg] : []), ...(affine?.args ?? [])] };
}
