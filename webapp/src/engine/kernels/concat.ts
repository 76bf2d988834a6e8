// concat {axis}: up to CONCAT_INPUTS inputs per dispatch (WebGPU guarantees 8 storage buffers a
// stage: those and the output), thread per output element of their part of the axis, which
// finds its input by its place along the axis (GoogLeNet's four-way concats: one dispatch, not
// four). vec4 elements when every input's run along the axis, and the output's, is a multiple
// of 4 floats (NHWC concats of channels in fours).

import { ENTRY_PARAMS, elementIndex, prod, u32, type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const CONCAT_INPUTS = 7;
const THREADS = 64;

interface Part { name: string; size: number; start: number }   // along the axis, in the output

function concatGroup(label: string, parts: Part[], output: string, outer: number, inner: number,
  outSize: number): KernelDispatch {
  const first = parts[0].start;
  // vec4s only where every index below is whole in them: each part's run, where the group
  // starts in the output and the output's own run (a later group may hold odd parts).
  const unit = [outSize, first, ...parts.map((p) => p.size)].every((n) => (n * inner) % 4 === 0) ? 4 : 1;
  const type = unit === 4 ? 'vec4<f32>' : 'f32';
  const groupSize = parts.reduce((a, p) => a + p.size, 0);
  const groupRun = (groupSize * inner) / unit;    // a group's elements per index of the outer axes
  const total = outer * groupRun;
  const decls = parts.map((_, i) => `@group(0) @binding(${i}) var<storage, read> src${i}: array<${type}>;`);
  // r: the element's place within the group's run; part i starts at (start - first)·inner.
  const copies = parts.map((p, i) => {
    const begin = ((p.start - first) * inner) / unit;
    const run = (p.size * inner) / unit;
    const copy = `dst[o * ${u32((outSize * inner) / unit)} + ${u32((first * inner) / unit)} + r] = src${i}[o * ${u32(run)} + r - ${u32(begin)}];`;
    return i === parts.length - 1 ? `{ ${copy} }` : `if (r < ${u32(begin + run)}) { ${copy} }`;
  });
  const source = `
${decls.join('\n')}
@group(0) @binding(${parts.length}) var<storage, read_write> dst: array<${type}>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let o = t / ${u32(groupRun)};
  let r = t % ${u32(groupRun)};
  ${copies.join(' else ')}
}`;
  const args: Arg[] = [...parts.map((p): Arg => ({ kind: 'tensor', name: p.name })), { kind: 'tensor', name: output }];
  return { label, source, workgroups: Math.ceil(total / THREADS), args };
}

export function concat(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const axis: number = op.attrs.axis;
  const out = ctx.shape(op.outputs[0]);
  const inner = prod(out.slice(axis + 1));
  const outer = prod(out.slice(0, axis));
  const parts: Part[] = [];
  let start = 0;
  for (const name of op.inputs) {
    const size = ctx.shape(name)[axis];
    if (size > 0 && outer * inner > 0) parts.push({ name, size, start });
    start += size;
  }
  const dispatches: KernelDispatch[] = [];
  for (let i = 0; i < parts.length; i += CONCAT_INPUTS) {
    const label = parts.length > CONCAT_INPUTS ? `${op.name}:${i / CONCAT_INPUTS}` : op.name;
    dispatches.push(concatGroup(label, parts.slice(i, i + CONCAT_INPUTS), op.outputs[0], outer, inner, out[axis]));
  }
  return dispatches;
}
