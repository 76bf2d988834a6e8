// conv_transpose2d (weights khkwci_co4, groups = 1) as a gather: one thread per output pixel and
// vec4 of output channels sums, over the taps whose input pixel lands on it, x · W[tap]. Output
// (oy, ox) is full-canvas (oy + t, ox + l); tap (ky, kx) reaches it from input
// ((oy + t − ky·dh) / sh, …) when that divides exactly and lies inside. Bias and activations
// fused. A plain loop, not a tiled GEMM: no bundled or benchmarked model uses it.

import { activationCode, elementIndex, ENTRY_PARAMS, RowTensor, u32, weightedOpBindings, windowGeometry,
  pad4, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

export function convTranspose2d(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, DH, DW, PT, PL } = windowGeometry(op, ctx);
  const CO4 = pad4(CO) / 4;
  const total = N * OH * OW * CO4;
  const x = new RowTensor('x', C, false);
  const y = new RowTensor('y', CO);
  const { decls, args } = weightedOpBindings(op, x, y, null, ctx.precision);
  const source = `
${decls}
${y.helpers(true)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let co4 = t % ${u32(CO4)};
  let m = t / ${u32(CO4)};
  let p = m % ${u32(OH * OW)};
  let rowBase = (m / ${u32(OH * OW)}) * ${u32(H * W)};
  let fy = i32(p / ${u32(OW)}) + ${PT};
  let fx = i32(p % ${u32(OW)}) + ${PL};
  var acc = w4_bias(co4);
  for (var ky = 0; ky < ${KH}; ky++) {
    let sy = fy - ky * ${DH};
    let iy = sy / ${SH};
    if (sy < 0 || sy % ${SH} != 0 || iy >= ${H}) { continue; }
    for (var kx = 0; kx < ${KW}; kx++) {
      let sx = fx - kx * ${DW};
      let ix = sx / ${SW};
      if (sx < 0 || sx % ${SW} != 0 || ix >= ${W}) { continue; }
      let xb = (rowBase + u32(iy * ${W} + ix)) * ${u32(C)};
      let wb = u32(ky * ${KW} + kx) * ${u32(C * CO4)} + co4;
      for (var ci = 0u; ci < ${u32(C)}; ci++) { acc += x[xb + ci] * w4_weight(wb + ci * ${u32(CO4)}); }
    }
  }
  var v = acc;
  ${activationCode(op.attrs.activations, 'v')}
  st_y(m, co4 * 4u, v);
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args }];
}
