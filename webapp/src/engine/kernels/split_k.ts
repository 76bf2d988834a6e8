// Split-K's second dispatch: a conv whose K range was split over S workgroups wrote S partial
// sums per output (vec4s of channels) into one scratch buffer; this adds them up and finishes
// the outputs: bias, residual, activations.

import { activationCode, residualCode, elementIndex, ENTRY_PARAMS, pad4, RowTensor, u32, weightDecl, type Arg, type KernelDispatch,
  type OpContext } from './common';
import type { OpSpec } from '../manifest';

export const PARTIALS = 'conv2d:split-k partials';   // one scratch buffer, reused by every split conv
const REDUCE_THREADS = 64;

/** Sums the S partial tiles of a split-K conv and applies bias, residual and activations. */
export function splitKReduce(op: OpSpec, ctx: OpContext, partials: Arg, S: number, M: number, CO: number,
  y: RowTensor, res: RowTensor | null): KernelDispatch {
  const N4 = pad4(CO) / 4;
  const total = M * N4;
  const source = `
@group(0) @binding(0) var<storage, read> part: array<vec4<f32>>;
${weightDecl(1, 'bias', ctx.precision)}
${y.decl(2, true)}
${res ? res.decl(3, false) : ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}

@compute @workgroup_size(${REDUCE_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(REDUCE_THREADS, total)}
  let c4 = t % ${u32(N4)};
  let m = t / ${u32(N4)};
  var v = w4_bias(c4);
  for (var s = 0u; s < ${u32(S)}; s++) { v += part[s * ${u32(total)} + t]; }
  ${res ? residualCode(op, 'ld_res(m, c4 * 4u)') : ''}
  ${activationCode(op.attrs.activations, 'v')}
  st_y(m, c4 * 4u, v);
}`;
  const args: Arg[] = [partials, { kind: 'weight', slice: op.weights.bias }, { kind: 'tensor', name: op.outputs[0] }];
  if (res) args.push({ kind: 'tensor', name: op.inputs[1] });
  return { label: `${op.name}:split-k sum`, source, workgroups: Math.ceil(total / REDUCE_THREADS), args };
}
