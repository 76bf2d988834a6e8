// transpose {perm}: an N-D permutation, thread per output element, the output's coordinates
// mapped back to the input's offset with every shape and stride baked in. Also the call's
// input layout (the caller's logical order, e.g. NCHW → the package's NHWC), the first
// dispatch of a tensor call.

import { elementIndex, ENTRY_PARAMS, prod, u32, type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

/** Reads `src` of shape `shape`, writes `dst` = src.transpose(perm) (output axis i = input
 *  axis perm[i]). */
export function permute(label: string, src: Arg, dst: Arg, shape: number[], perm: number[]): KernelDispatch {
  const out = perm.map((p) => shape[p]);
  const total = prod(shape);
  const strides = shape.map((_, i) => prod(shape.slice(i + 1)));
  // Output index → coordinates (innermost first) → input offset. Axes of size 1 add nothing.
  const terms: string[] = [];
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] === 1) continue;
    terms.push(`idx += (rest % ${u32(out[i])}) * ${u32(strides[perm[i]])}; rest /= ${u32(out[i])};`);
  }
  const source = `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  var rest = t;
  var idx = 0u;
  ${terms.join('\n  ')}
  dst[t] = src[idx];
}`;
  return { label, source, workgroups: Math.ceil(total / THREADS), args: [src, dst] };
}

export function transpose(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  return [permute(op.name, { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] },
    ctx.shape(op.inputs[0]), op.attrs.perm)];
}
