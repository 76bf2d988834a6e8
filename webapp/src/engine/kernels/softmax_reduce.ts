// softmax {axes, log} (log: LogSoftmax) and reduce {fn: mean|sum|max|min, axes, keepdims} over any set of (physical) axes:
// thread per element of the axes kept (in their memory order, which is the output's for
// reduce), looping over the reduced ones. A softmax over the innermost axis with rows of at
// least ROW_MIN floats (attention's scores, a classifier's logits) takes one workgroup per row
// instead, its threads striding the row, the max and the sum each a workgroup reduction: a
// thread walking a row of 197 three times took 37 µs of a ViT block on an H100.

import { elementCopy, ENTRY_PARAMS, F32_LOWEST, prod, rowMajorStrides, u32, UnsupportedOpError, WORKGROUP_INDEX, type KernelDispatch,
  type OpContext } from './common';
import { MAX_F32, rowLoop, SUM_F32, subgroupsEnable, workgroupReduce } from './reduce';
import type { OpSpec } from '../manifest';

const ROW_MIN = 32;
const ROW_THREADS = 64;

/** WGSL `fn at(t, j) -> u32`: the input offset of kept element t's j-th reduced element. */
function offsets(shape: number[], axes: number[]): { kept: number; reduced: number; at: string } {
  const strides = rowMajorStrides(shape);
  const part = (dims: number[], v: string) => dims.filter((a) => shape[a] > 1).reverse()
    .map((a) => `o += (${v} % ${u32(shape[a])}) * ${u32(strides[a])}; ${v} /= ${u32(shape[a])};`).join(' ');
  const keptAxes = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const at = `fn at(t: u32, j: u32) -> u32 {
  var o = 0u; var a = t; var b = j;
  ${part(keptAxes, 'a')} ${part(axes, 'b')}
  return o;
}`;
  return { kept: prod(keptAxes.map((a) => shape[a])), reduced: prod(axes.map((a) => shape[a])), at };
}

function dispatch(op: OpSpec, kept: number, at: string, body: string): KernelDispatch[] {
  return [elementCopy(op.name, { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] },
    kept, body, at)];
}

/** The softmax of each contiguous row of `L` floats, a workgroup per row. */
function rowSoftmax(op: OpSpec, ctx: OpContext, rows: number, L: number): KernelDispatch {
  const row = (body: string) => rowLoop(L, ROW_THREADS, body);
  const source = `${subgroupsEnable(ctx.subgroups)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${workgroupReduce(MAX_F32, ROW_THREADS, ctx.subgroups)}
${workgroupReduce(SUM_F32, ROW_THREADS, ctx.subgroups)}

@compute @workgroup_size(${ROW_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(rows)}) { return; }
  let base = wg * ${u32(L)};
  var m = ${F32_LOWEST};
  ${row('m = max(m, x[base + i]);')}
  m = reduce_max(m, lid);
  var s = 0.0;
  ${row('s += exp(x[base + i] - m);')}
  s = reduce_sum(s, lid);
  ${row(`y[base + i] = ${op.attrs.log ? 'x[base + i] - m - log(s)' : 'exp(x[base + i] - m) / s'};`)}
}`;
  return { label: op.name, source, workgroups: rows,
    args: [{ kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }] };
}

export function softmax(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const shape = ctx.shape(op.inputs[0]);
  const axes: number[] = op.attrs.axes;
  const L = shape[shape.length - 1];
  if (axes.length === 1 && axes[0] === shape.length - 1 && L >= ROW_MIN) {
    return [rowSoftmax(op, ctx, prod(shape) / L, L)];
  }
  const { kept, reduced, at } = offsets(shape, axes);
  const n = u32(reduced);
  return dispatch(op, kept, at, `var m = ${F32_LOWEST};
  for (var j = 0u; j < ${n}; j++) { m = max(m, src[at(t, j)]); }
  var s = 0.0;
  for (var j = 0u; j < ${n}; j++) { s += exp(src[at(t, j)] - m); }
  for (var j = 0u; j < ${n}; j++) { let o = at(t, j); dst[o] = ${op.attrs.log ? 'src[o] - m - log(s)' : 'exp(src[o] - m) / s'}; }`);
}

// How each reduce fn starts and folds in element `e` (max and min never see an empty set:
// the compiler refuses one).
const REDUCE: Record<string, { init: string; fold: string }> = {
  sum: { init: '0.0', fold: 's += e;' },
  mean: { init: '0.0', fold: 's += e;' },
  max: { init: F32_LOWEST, fold: 's = max(s, e);' },
  min: { init: `-${F32_LOWEST}`, fold: 's = min(s, e);' },
};

export function reduce(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const { kept, reduced, at } = offsets(ctx.shape(op.inputs[0]), op.attrs.axes);
  const fn = REDUCE[op.attrs.fn];
  if (!fn) throw new UnsupportedOpError(`unsupported reduce ${op.attrs.fn}`);
  // An empty reduction is ONNX's identity: 0 for a sum, NaN (0/0) for a mean.
  const scale = op.attrs.fn === 'mean' ? ` / ${reduced}.0` : '';
  return dispatch(op, kept, at, `var s = ${fn.init};
  for (var j = 0u; j < ${u32(reduced)}; j++) { let e = src[at(t, j)]; ${fn.fold} }
  dst[t] = s${scale};`);
}
