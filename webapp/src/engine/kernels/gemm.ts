// gemm: x[..., K] @ W[K, N] (k_n4) + bias, residual and activations fused. The classifiers'
// heads are GEMVs over a few batch rows: the gemv kernel family runs them.

import { prod, type KernelDispatch, type OpContext } from './common';
import { gemv } from './gemv';
import type { OpSpec } from '../manifest';

export function gemm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const xs = ctx.shape(op.inputs[0]);
  const ys = ctx.shape(op.outputs[0]);
  return [gemv({
    label: op.name, rows: prod(xs.slice(0, -1)), inner: xs[xs.length - 1], outputs: ys[ys.length - 1],
    precision: ctx.precision, activations: op.attrs.activations,
    x: { kind: 'tensor', name: op.inputs[0] }, weight: { kind: 'weight', slice: op.weights.weight },
    bias: { kind: 'weight', slice: op.weights.bias }, y: { kind: 'tensor', name: op.outputs[0] },
    res: op.attrs.residual ? { kind: 'tensor', name: op.inputs[1] } : undefined,
  })];
}
