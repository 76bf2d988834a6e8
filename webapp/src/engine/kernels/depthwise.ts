// Depthwise conv2d (groups = Cin = Cout, weights khkw_c4): one thread per output pixel and
// vec4 of channels, the taps unrolled with their offsets baked in; bias, residual and
// activations fused into the store.

import { activationCode, elementIndex, ENTRY_PARAMS, RowTensor, u32, weightedOpBindings, windowGeometry,
  pad4, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

export function depthwiseConv2d(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const { N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL } = windowGeometry(op, ctx);
  const C4 = pad4(C) / 4;
  const total = N * OH * OW * C4;
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
  const { decls, args } = weightedOpBindings(op, x, y, res, ctx.precision);
  const source = `
${decls}
${x.helpers(false)}
${y.helpers(true)}
${res ? res.helpers(false) : ''}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let c4 = t % ${u32(C4)};
  let m = t / ${u32(C4)};
  let c = c4 * 4u;
  let p = m % ${u32(OH * OW)};
  let rowBase = (m / ${u32(OH * OW)}) * ${u32(H * W)};
  let iy0 = i32((p / ${u32(OW)}) * ${u32(SH)});
  let ix0 = i32((p % ${u32(OW)}) * ${u32(SW)});
  var acc = w4_bias(c4);
  ${taps.join('\n  ')}
  var v = acc;
  ${res ? 'v += ld_res(m, c);' : ''}
  ${activationCode(a.activations, 'v')}
  st_y(m, c, v);
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args }];
}
