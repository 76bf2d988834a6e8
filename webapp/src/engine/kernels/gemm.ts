// gemm: x[..., K] @ W[K, N] (k_n4) + bias, residual and activations fused. The classifiers'
// heads are batch-row GEMVs (M = batch), so each thread owns one row and one vec4 of columns
// and walks K; weights stream once per row with vec4 loads.

import { activationCode, elementIndex, ENTRY_PARAMS, prod, RowTensor, u32, weightedOpBindings, pad4,
  type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

export function gemm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const xs = ctx.shape(op.inputs[0]);
  const ys = ctx.shape(op.outputs[0]);
  const K = xs[xs.length - 1];
  const NO = ys[ys.length - 1];
  const M = prod(xs.slice(0, -1));
  const N4 = pad4(NO) / 4;
  const total = M * N4;
  const x = new RowTensor('x', K);
  const y = new RowTensor('y', NO);
  const res = op.attrs.residual ? new RowTensor('res', NO) : null;
  const inner = x.vec
    ? `for (var k = 0u; k < ${u32(K / 4)}; k++) {
    let xv = x[m * ${u32(K / 4)} + k];
    let w = k * ${u32(4 * N4)} + n4;
    acc += xv.x * w4_weight(w) + xv.y * w4_weight(w + ${u32(N4)})
         + xv.z * w4_weight(w + ${u32(2 * N4)}) + xv.w * w4_weight(w + ${u32(3 * N4)});
  }`
    : `for (var k = 0u; k < ${u32(K)}; k++) { acc += x[m * ${u32(K)} + k] * w4_weight(k * ${u32(N4)} + n4); }`;
  const { decls, args } = weightedOpBindings(op, x, y, res, ctx.precision);
  const source = `
${decls}
${y.helpers(true)}
${res ? res.helpers(false) : ''}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let n4 = t % ${u32(N4)};
  let m = t / ${u32(N4)};
  var acc = w4_bias(n4);
  ${inner}
  var v = acc;
  ${res ? 'v += ld_res(m, n4 * 4u);' : ''}
  ${activationCode(op.attrs.activations, 'v')}
  st_y(m, n4 * 4u, v);
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args }];
}
