// gemm: x[..., K] @ W[K, N] (k_n4) + bias, residual and activations fused. The classifiers'
// heads are GEMVs over a few batch rows: the gemv kernel family runs them. Many rows (a
// transformer's tokens, a ConvNeXt's pixels) make it a real GEMM: it runs as conv2d.ts's tiled
// implicit GEMM of a 1×1 conv over M pixels, whose weight layout k_n4 already is (khkwci_co4
// with KH = KW = 1), with its tilings, split-K and K split in the workgroup.

import { prod, type KernelDispatch, type OpContext } from './common';
import { conv2dGemm } from './conv2d';
import { gemv } from './gemv';
import type { OpSpec } from '../manifest';

// Rows from which the tiled GEMM (with split-K, its 64-row tiles part empty) wins: the gemv
// streams W once per 8 rows. Measured on an H100 at batch 1 with 64 against 16: the 49-row
// linear layers of ConvNeXt-Tiny's, Swin-T's and MaxViT-T's last stage (7×7 tokens, W up to
// 9.4 MB) took 40–53 µs each as gemvs; whole-network GPU time fell 5–7% (ConvNeXt-Tiny 1.262 →
// 1.177 ms, Swin-T 1.88 → 1.78, MaxViT-T 2.71 → 2.52). Batch heads of up to 8 images stay gemvs.
const TILED_MIN_ROWS = 16;

export function gemm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const xs = ctx.shape(op.inputs[0]);
  const ys = ctx.shape(op.outputs[0]);
  const [M, K, N] = [prod(xs.slice(0, -1)), xs[xs.length - 1], ys[ys.length - 1]];
  if (M >= TILED_MIN_ROWS) {
    const pointwise = { kernel: [1, 1], stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0], groups: 1 };
    const rowsOf = new Map<string, number[]>([[op.inputs[0], [1, 1, M, K]], [op.outputs[0], [1, 1, M, N]]]);
    if (op.attrs.residual) rowsOf.set(op.inputs[1], [1, 1, M, N]);
    return conv2dGemm({ ...op, attrs: { ...op.attrs, ...pointwise } },
      { ...ctx, shape: (t) => rowsOf.get(t) ?? ctx.shape(t) });
  }
  return [gemv({
    label: op.name, rows: M, inner: K, outputs: N,
    precision: ctx.precision, activations: op.attrs.activations,
    x: { kind: 'tensor', name: op.inputs[0] }, weight: { kind: 'weight', slice: op.weights.weight },
    bias: { kind: 'weight', slice: op.weights.bias }, y: { kind: 'tensor', name: op.outputs[0] },
    res: op.attrs.residual ? { kind: 'tensor', name: op.inputs[1] } : undefined,
  })];
}
