// The input's logical (ONNX order, e.g. NCHW) → physical (e.g. NHWC) transpose: the first
// dispatch of a call, so callers hand over tensors in the order they know.

import { elementIndex, ENTRY_PARAMS, prod, u32, type Arg, type KernelDispatch } from './common';

const THREADS = 64;

/** Reads `src` in logical order, writes `dst` = logical.transpose(perm). */
export function transposeInput(src: Arg, dst: Arg, logical: number[], perm: number[]): KernelDispatch {
  const physical = perm.map((p) => logical[p]);
  const total = prod(logical);
  const strides = logical.map((_, i) => prod(logical.slice(i + 1)));
  // Physical index → coordinates (innermost first) → logical offset.
  const terms: string[] = [];
  for (let i = physical.length - 1; i >= 0; i--) {
    terms.push(`idx += (rest % ${u32(physical[i])}) * ${u32(strides[perm[i]])}; rest /= ${u32(physical[i])};`);
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
  return { label: 'input layout', source, workgroups: Math.ceil(total / THREADS), args: [src, dst] };
}
