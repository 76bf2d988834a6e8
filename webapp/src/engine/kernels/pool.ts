// Pooling over H, W in NHWC: windowed max/avg (one thread per output pixel and vec4 of
// channels) and global pooling (one workgroup per image and vec4 of channels, reducing over
// H·W in workgroup memory (reduce.ts's tree): the spatial extent can be thousands of pixels; the threads per
// workgroup follow H·W so that each reads only a few pixels).

import { ENTRY_PARAMS, F32_LOWEST, inOutRows, pixelVec4Index, RowTensor, u32, windowGeometry, WORKGROUP_INDEX, pad4,
  type Arg, type KernelDispatch, type OpContext } from './common';
import { MAX_VEC4, SUM_VEC4, workgroupReduce } from './reduce';
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

/** Global pooling's threads per workgroup: enough row slices that each thread reads about
 *  ROWS_PER_THREAD pixels (one round of loads in flight, not a long serial walk), at least a
 *  warp and at most WebGPU's guaranteed 256; a power of two for the tree reduction. */
const ROWS_PER_THREAD = 4;
const globalPoolThreads = (HW: number) =>
  Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(HW / ROWS_PER_THREAD)))));

/** A global pool from a [N, H·W, C] tensor `x` into rows of C `y`, one workgroup per image and
 *  vec4 of channels; shared with squeeze-excite's spread form. */
export function globalPoolDispatch(label: string, N: number, HW: number, C: number, kind: 'avg' | 'max',
  x: Arg, y: Arg): KernelDispatch {
  const C4 = pad4(C) / 4;
  const T = globalPoolThreads(HW);
  const xt = new RowTensor('x', C);
  const yt = new RowTensor('y', C);
  const isMax = kind === 'max';
  const add = (a: string, b: string) => (isMax ? `max(${a}, ${b})` : `${a} + ${b}`);
  const accs = [...Array(ROWS_PER_THREAD).keys()];
  const reduction = isMax ? MAX_VEC4 : SUM_VEC4;
  const source = `
${inOutRows(xt, yt)}
${workgroupReduce(reduction, T, null)}

@compute @workgroup_size(${T})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(N * C4)}) { return; }
  let c = (wg % ${u32(C4)}) * 4u;
  let n = wg / ${u32(C4)};
  let row0 = n * ${u32(HW)};
  ${accs.map((i) => `var a${i} = vec4<f32>(${isMax ? F32_LOWEST : '0.0'});`).join(' ')}
  var p = lid;
  for (; p + ${u32((ROWS_PER_THREAD - 1) * T)} < ${u32(HW)}; p += ${u32(ROWS_PER_THREAD * T)}) {
    ${accs.map((i) => `a${i} = ${add(`a${i}`, `ld_x(row0 + p + ${u32(i * T)}, c)`)};`).join(' ')}
  }
  for (; p < ${u32(HW)}; p += ${u32(T)}) { a0 = ${add('a0', 'ld_x(row0 + p, c)')}; }
  let total = reduce_${reduction.name}(${accs.slice(1).reduce((a, i) => add(a, `a${i}`), 'a0')}, lid);
  if (lid == 0u) { st_y(n, c, ${isMax ? 'total' : `total / ${HW}.0`}); }
}`;
  return { label, source, workgroups: N * C4, args: [x, y] };
}

export function globalPool(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  return [globalPoolDispatch(op.name, N, H * W, C, op.attrs.kind,
    { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] })];
}
