// softmax {axes, log} (log: LogSoftmax) and reduce {fn: mean|sum|max|min, axes, keepdims} over any set of (physical) axes:
// thread per element of the axes kept (in their memory order, which is the output's for
// reduce), looping over the reduced ones. Plain loops: the node tests and a classifier's
// final softmax (one row per image) are small; a spread reduction would be the next step.

import { elementCopy, F32_LOWEST, prod, u32, UnsupportedOpError, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

/** WGSL `fn at(t, j) -> u32`: the input offset of kept element t's j-th reduced element. */
function offsets(shape: number[], axes: number[]): { kept: number; reduced: number; at: string } {
  const strides = shape.map((_, i) => prod(shape.slice(i + 1)));
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

export function softmax(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const { kept, reduced, at } = offsets(ctx.shape(op.inputs[0]), op.attrs.axes);
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
