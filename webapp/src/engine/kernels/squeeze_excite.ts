// squeeze_excite: y = x · act₂(act₁(mean_hw(x)·Wr + br)·We + be), in four dispatches:
// the global mean (pool.ts), the two small FC layers as GEMVs (gemv.ts: spread over many
// workgroups; one workgroup doing both left one SM streaming the weights), then the channel
// scaling of x.

import { ENTRY_PARAMS, pixelVec4Index, RowTensor, u32, pad4, type KernelDispatch, type OpContext } from './common';
import { gemv } from './gemv';
import { globalPoolSource } from './pool';
import type { OpSpec } from '../manifest';

const SCALE_THREADS = 64;

export function squeezeExcite(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const CR: number = a.squeeze_channels;
  const C4 = pad4(C) / 4;
  const mean = { kind: 'scratch' as const, id: `${op.name}:mean`, bytes: N * pad4(C) * 4 };
  const hidden = { kind: 'scratch' as const, id: `${op.name}:hidden`, bytes: N * pad4(CR) * 4 };
  const gate = { kind: 'scratch' as const, id: `${op.name}:gate`, bytes: N * pad4(C) * 4 };
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
  const w = op.weights;
  return [
    { label: `${op.name}:mean`, source: globalPoolSource(N, H * W, C, 'avg'), workgroups: N * C4,
      args: [{ kind: 'tensor', name: op.inputs[0] }, mean] },
    gemv({ label: `${op.name}:reduce`, rows: N, inner: C, outputs: CR, precision: ctx.precision,
      activations: a.reduce_activations, x: mean, weight: { kind: 'weight', slice: w.reduce_weight },
      bias: { kind: 'weight', slice: w.reduce_bias }, y: hidden }),
    gemv({ label: `${op.name}:expand`, rows: N, inner: CR, outputs: C, precision: ctx.precision,
      activations: a.expand_activations, x: hidden, weight: { kind: 'weight', slice: w.expand_weight },
      bias: { kind: 'weight', slice: w.expand_bias }, y: gate }),
    { label: `${op.name}:scale`, source: scale, workgroups: Math.ceil(total / SCALE_THREADS),
      args: [{ kind: 'tensor', name: op.inputs[0] }, gate, { kind: 'tensor', name: op.outputs[0] }] },
  ];
}
