// pad {mode: constant|reflect|edge, begin[], end[], value} over any physical axes: one thread
// per output element, each padded axis mapping its output coordinate back into the input.
// When the innermost axis isn't padded and is a multiple of 4 wide (NHWC with C % 4 = 0, the
// style networks' spatial pads), elements are vec4s of channels.

import { elementIndex, ENTRY_PARAMS, f32, prod, u32, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const THREADS = 64;

/** WGSL mapping the signed coordinate `i` on an axis of `len` into [0, len) (reflect, edge),
 *  or leaving it out of range for constant mode, which then stores the pad value. */
function sourceCoord(mode: string, len: number): string {
  if (mode === 'edge') return `i = clamp(i, 0, ${len - 1});`;
  // one reflection suffices: the compiler refuses reflect pads as wide as the axis
  if (mode === 'reflect') return `i = abs(i); if (i >= ${len}) { i = ${2 * (len - 1)} - i; }`;
  return '';
}

export function pad(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const begin = a.begin as number[];
  const inShape = ctx.shape(op.inputs[0]);
  const outShape = ctx.shape(op.outputs[0]);
  const last = inShape.length - 1;
  const vec = begin[last] === 0 && outShape[last] === inShape[last] && inShape[last] % 4 === 0;
  const lanes = vec ? 4 : 1;
  const xs = inShape.map((d, i) => (i === last ? d / lanes : d));
  const ys = outShape.map((d, i) => (i === last ? d / lanes : d));
  const total = prod(ys);
  const type = vec ? 'vec4<f32>' : 'f32';
  const steps: string[] = [];
  for (let i = ys.length - 1; i >= 0; i--) {
    const stride = prod(xs.slice(i + 1));
    steps.push(`{ var i = i32(rest % ${u32(ys[i])}) - ${begin[i]}; rest /= ${u32(ys[i])};
    ${begin[i] !== 0 || ys[i] !== xs[i] ? sourceCoord(a.mode, xs[i]) : ''}
    if (i < 0 || i >= ${xs[i]}) { inside = false; }
    src += u32(max(i, 0)) * ${u32(stride)}; }`);
  }
  const source = `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read_write> y: array<${type}>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  var rest = t;
  var src = 0u;
  var inside = true;
  ${steps.join('\n  ')}
  y[t] = select(${type}(${f32(a.value ?? 0)}), x[min(src, ${u32(prod(xs) - 1)})], inside);
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS), args: [
    { kind: 'tensor', name: op.inputs[0] }, { kind: 'tensor', name: op.outputs[0] }] }];
}
