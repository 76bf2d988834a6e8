// layer_norm {epsilon, length}: y = (x − mean) / sqrt(var + ε) · scale + bias over each row of
// `length` contiguous floats (the compiler writes this op only where the normalised axes are
// the innermost physical ones: a transformer's channels, ConvNeXt's NHWC channels). One
// workgroup per row, threads striding it: the mean, then the squared deviations from it (the
// row is read again from cache; as exact as the written-out form), each a workgroup reduction,
// then the normalised row. Replaces the ten dispatches of LayerNormalization written out.
// Rows longer than LONG_ROW (a GroupNorm's group over C·H·W of an image: PoolFormer's is 200,704
// floats, which one workgroup took ~1 ms to walk three times) spread over many workgroups
// instead, in three dispatches as instance_norm.ts does: each chunk's mean and squared
// deviations, the chunks merged per row (Chan et al.), then a thread per element.

import { elementIndex, ENTRY_PARAMS, f32, prod, u32, weightDecl, WORKGROUP_INDEX, type Arg, type KernelDispatch,
  type OpContext } from './common';
import { chunkMerge, rowLoop, SUM_F32, subgroupsEnable, workgroupReduce } from './reduce';
import type { OpSpec } from '../manifest';

const THREADS = 64;
const LONG_ROW = 16384;
const CHUNK = 4096;     // elements per stats workgroup of a long row: 64 per thread

export function layerNorm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const L: number = op.attrs.length;
  const rows = prod(ctx.shape(op.inputs[0])) / L;
  if (L > LONG_ROW) return longRows(op, ctx, rows, L);
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

function longRows(op: OpSpec, ctx: OpContext, rows: number, L: number): KernelDispatch[] {
  const chunks = Math.ceil(L / CHUNK);
  const input: Arg = { kind: 'tensor', name: op.inputs[0] };
  const partial: Arg = { kind: 'scratch', id: `${op.name}:partial`, bytes: rows * chunks * 8 };   // mean, M2
  const moments: Arg = { kind: 'scratch', id: `${op.name}:moments`, bytes: rows * 8 };           // mean, 1/std
  const stats = `${subgroupsEnable(ctx.subgroups)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<vec2<f32>>;
${workgroupReduce(SUM_F32, THREADS, ctx.subgroups)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(rows * chunks)}) { return; }
  let i0 = (wg / ${u32(chunks)}) * ${u32(L)} + (wg % ${u32(chunks)}) * ${u32(CHUNK)};
  let n = min(${u32(CHUNK)}, ${u32(L)} - (wg % ${u32(chunks)}) * ${u32(CHUNK)});
  var s = 0.0;
  for (var i = lid; i < n; i += ${u32(THREADS)}) { s += x[i0 + i]; }
  let mean = reduce_sum(s, lid) / f32(n);
  var q = 0.0;
  for (var i = lid; i < n; i += ${u32(THREADS)}) { let d = x[i0 + i] - mean; q += d * d; }
  q = reduce_sum(q, lid);
  if (lid == 0u) { partial[wg] = vec2<f32>(mean, q); }
}`;
  const combine = `
@group(0) @binding(0) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> moments: array<vec2<f32>>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, rows)}
  ${chunkMerge('f32', chunks, CHUNK, L, (k) => `partial[t * ${u32(chunks)} + ${k}].x`,
    (k) => `partial[t * ${u32(chunks)} + ${k}].y`)}
  moments[t] = vec2<f32>(mean, inverseSqrt(m2 / ${f32(L)} + ${f32(op.attrs.epsilon)}));
}`;
  const apply = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> moments: array<vec2<f32>>;
${weightDecl(2, 'scale', ctx.precision)}
${weightDecl(3, 'bias', ctx.precision)}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, rows * L)}
  let m = moments[t / ${u32(L)}];
  let i = t % ${u32(L)};
  y[t] = (x[t] - m.x) * m.y * w1_scale(i) + w1_bias(i);
}`;
  return [
    { label: `${op.name}:stats`, source: stats, workgroups: rows * chunks, args: [input, partial] },
    { label: `${op.name}:combine`, source: combine, workgroups: Math.ceil(rows / THREADS), args: [partial, moments] },
    { label: `${op.name}:apply`, source: apply, workgroups: Math.ceil(rows * L / THREADS), args: [input, moments,
      { kind: 'weight', slice: op.weights.scale }, { kind: 'weight', slice: op.weights.bias },
      { kind: 'tensor', name: op.outputs[0] }] },
  ];
}
