// Pooling over H, W in NHWC: windowed max/avg (one thread per output pixel and vec4 of
// channels) and global pooling (one workgroup per image and vec4 of channels, reducing over
// H·W in workgroup memory: the spatial extent can be thousands of pixels).

import { ENTRY_PARAMS, F32_LOWEST, inOutRows, pixelVec4Index, RowTensor, u32, windowGeometry, WORKGROUP_INDEX, pad4,
  type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

export function pool(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const { N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL, PB, PR } = windowGeometry(op, ctx);
  const C4 = pad4(C) / 4;
  const total = N * OH * OW * C4;
  const isMax = a.kind === 'max';
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  // Average divisor: taps inside the image, or inside image + padding when count_include_pad
  // (the ceil-mode overhang past the padding never counts).
  const [hiY, hiX] = a.count_include_pad ? [H + PB, W + PR] : [H, W];
  const countLo = a.count_include_pad ? [-PT, -PL] : [0, 0];
  const source = `
${inOutRows(x, y)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${pixelVec4Index(THREADS, total, C4)}
  let p = m % ${u32(OH * OW)};
  let rowBase = (m / ${u32(OH * OW)}) * ${u32(H * W)};
  let iy0 = i32((p / ${u32(OW)}) * ${u32(SH)}) - ${PT};
  let ix0 = i32((p % ${u32(OW)}) * ${u32(SW)}) - ${PL};
  var acc = vec4<f32>(${isMax ? F32_LOWEST : '0.0'});
  var count = 0.0;
  for (var ky = 0; ky < ${KH}; ky++) {
    for (var kx = 0; kx < ${KW}; kx++) {
      let iy = iy0 + ky * ${DH};
      let ix = ix0 + kx * ${DW};
      if (iy >= ${countLo[0]} && iy < ${hiY} && ix >= ${countLo[1]} && ix < ${hiX}) { count += 1.0; }
      if (iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W}) {
        let v = ld_x(rowBase + u32(iy * ${W} + ix), c);
        acc = ${isMax ? 'max(acc, v)' : 'acc + v'};
      }
    }
  }
  st_y(m, c, ${isMax ? 'acc' : 'acc / count'});
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args: [
    { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }] }];
}

/** WGSL of a global pool from a [N, H·W, C] tensor into rows of C; shared with squeeze-excite. */
export function globalPoolSource(N: number, HW: number, C: number, kind: 'avg' | 'max'): string {
  const C4 = pad4(C) / 4;
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  const isMax = kind === 'max';
  return `
${inOutRows(x, y)}
var<workgroup> part: array<vec4<f32>, ${THREADS}>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(N * C4)}) { return; }
  let c = (wg % ${u32(C4)}) * 4u;
  let n = wg / ${u32(C4)};
  var acc = vec4<f32>(${isMax ? F32_LOWEST : '0.0'});
  for (var p = lid; p < ${u32(HW)}; p += ${u32(THREADS)}) {
    let v = ld_x(n * ${u32(HW)} + p, c);
    acc = ${isMax ? 'max(acc, v)' : 'acc + v'};
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${u32(THREADS / 2)}; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] = ${isMax ? 'max(part[lid], part[lid + s])' : 'part[lid] + part[lid + s]'}; }
    workgroupBarrier();
  }
  if (lid == 0u) { st_y(n, c, ${isMax ? 'part[0]' : `part[0] / ${HW}.0`}); }
}`;
}

export function globalPool(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  return [{ label: op.name, source: globalPoolSource(N, H * W, C, op.attrs.kind),
    workgroups: N * (pad4(C) / 4),
    args: [{ kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }] }];
}
