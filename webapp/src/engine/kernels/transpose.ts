// Index remapping, thread per output element, every shape and stride baked in: transpose
// {perm} (N-D permutation; also the call's input layout, the caller's logical order, e.g.
// NCHW → the package's NHWC, as the first dispatch of a tensor call) and slice {starts, steps}
// are both a strided gather: the output's coordinates, each times its own input stride, plus
// a base offset.

import { elementCopy, i32, prod, rowMajorStrides, type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

/** dst[c] = src[base + Σ c_i · strides[i]] over the output coordinates c of `out` (a stride may
 *  be negative: slices with negative steps). */
function stridedGather(label: string, src: Arg, dst: Arg, out: number[], strides: number[], base: number): KernelDispatch {
  const total = prod(out);
  // Output index → coordinates (innermost first) → input offset. Axes of size 1 add nothing.
  const terms: string[] = [];
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] === 1) continue;
    terms.push(`idx += i32(rest % ${out[i]}u) * ${i32(strides[i])}; rest /= ${out[i]}u;`);
  }
  return elementCopy(label, src, dst, total, `var rest = t;
  var idx = ${i32(base)};
  ${terms.join('\n  ')}
  dst[t] = src[idx];`);
}

/** Reads `src` of shape `shape`, writes `dst` = src.transpose(perm) (output axis i = input
 *  axis perm[i]). */
export function permute(label: string, src: Arg, dst: Arg, shape: number[], perm: number[]): KernelDispatch {
  const strides = rowMajorStrides(shape);
  return stridedGather(label, src, dst, perm.map((p) => shape[p]), perm.map((p) => strides[p]), 0);
}

const io = (op: OpSpec): [Arg, Arg] => [{ kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }];

export function transpose(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  return [permute(op.name, ...io(op), ctx.shape(op.inputs[0]), op.attrs.perm)];
}

/** Output element c reads input starts + c · steps on every axis (its length is the output's). */
export function slice(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const out = ctx.shape(op.outputs[0]);
  const strides = rowMajorStrides(ctx.shape(op.inputs[0]));
  const { starts, steps } = op.attrs as { starts: number[]; steps: number[] };
  const base = starts.reduce((sum, s, i) => sum + s * strides[i], 0);
  return [stridedGather(op.name, ...io(op), out, steps.map((s, i) => s * strides[i]), base)];
}
