// Strided views (compiler/strided.py): the matrices a matmul or attention op reads, or writes,
// as offset + Σ index·stride into a tensor's buffer, so the slices and transposes around them
// are not copies of their own.

import { prod, rowMajorStrides, u32, type OpContext } from './common';
import type { Dim, OpSpec } from '../manifest';

/** A tensor's elements at offset + Σ index·stride of a buffer. */
export interface View { shape: number[]; strides: number[]; offset: number }

function contiguous(shape: number[]): View {
  return { shape, strides: rowMajorStrides(shape), offset: 0 };
}

/** The op's view `role` of `tensor`, with symbols bound; the whole tensor where it has none. */
export function viewOf(op: OpSpec, role: string, tensor: string, ctx: OpContext): View {
  const v = op.attrs.views?.[role] as { shape: Dim[]; strides: Dim[]; offset: Dim } | undefined;
  return v ? { shape: ctx.dims(v.shape), strides: ctx.dims(v.strides), offset: ctx.dims([v.offset])[0] }
    : contiguous(ctx.shape(tensor));
}

/** WGSL offset of batch `bi`'s matrix in `v`, whose batch axes broadcast against `batch`. */
export function matrixOffset(v: View, batch: number[]): string {
  const lead = batch.length - (v.shape.length - 2);
  const terms = batch.map((d, i) => {
    const axis = i - lead;
    if (axis < 0 || v.shape[axis] === 1) return '';
    return `((bi / ${u32(prod(batch.slice(i + 1)))}) % ${u32(d)}) * ${u32(v.strides[axis])}`;
  }).filter(Boolean);
  return [u32(v.offset), ...terms].join(' + ');
}
