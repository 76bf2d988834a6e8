// layer_norm {epsilon, length}: y = (x − mean) / sqrt(var + ε) · scale + bias over each row of
// `length` contiguous floats (the compiler writes this op only where the normalised axes are
// the innermost physical ones: a transformer's channels, ConvNeXt's NHWC channels). One
// workgroup per row, threads striding it: the mean, then the squared deviations from it (the
// row is read again from cache; as exact as the written-out form), each a workgroup reduction,
// then the normalised row. Replaces the ten dispatches of LayerNormalization written out.

import { ENTRY_PARAMS, f32, prod, u32, weightDecl, WORKGROUP_INDEX, type KernelDispatch, type OpContext } from './common';
import { rowLoop, SUM_F32, subgroupsEnable, workgroupReduce } from './reduce';
import type { OpSpec } from '../manifest';

const THREADS = 64;

export function layerNorm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const L: number = op.attrs.length;
  const rows = prod(ctx.shape(op.inputs[0])) / L;
  const row = (body: string) => rowLoop(L, THREADS, body);
  const source = `${subgroupsEnable(ctx.subgroups)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
${weightDecl(1, 'scale', ctx.precision)}
${weightDecl(2, 'bias', ctx.precision)}
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${workgroupReduce(SUM_F32, THREADS, ctx.subgroups)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(rows)}) { return; }
  let base = wg * ${u32(L)};
  var s = 0.0;
  ${row(`s += x[base + i];`)}
  let mean = reduce_sum(s, lid) / ${L}.0;
  var q = 0.0;
  ${row(`let d = x[base + i] - mean; q += d * d;`)}
  let inv = 1.0 / sqrt(reduce_sum(q, lid) / ${L}.0 + ${f32(op.attrs.epsilon)});
  ${row(`y[base + i] = (x[base + i] - mean) * inv * w1_scale(i) + w1_bias(i);`)}
}`;
  return [{ label: op.name, source, workgroups: rows, args: [{ kind: 'tensor', name: op.inputs[0] },
    { kind: 'weight', slice: op.weights.scale }, { kind: 'weight', slice: op.weights.bias },
    { kind: 'tensor', name: op.outputs[0] }] }];
}
