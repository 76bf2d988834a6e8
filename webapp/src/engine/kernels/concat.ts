// concat {axis}: one dispatch per input, thread per input element, each input copied into its
// run of the output along the (physical) axis.

import { elementCopy, prod, u32, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

export function concat(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const axis: number = op.attrs.axis;
  const out = ctx.shape(op.outputs[0]);
  const inner = prod(out.slice(axis + 1));
  const outRun = out[axis] * inner;  // output elements per index of the axes before `axis`
  let offset = 0;
  const dispatches: KernelDispatch[] = [];
  op.inputs.forEach((name, i) => {
    const shape = ctx.shape(name);
    const run = shape[axis] * inner;
    const total = prod(shape);
    if (total) {
      dispatches.push(elementCopy(`${op.name}:${i}`, { kind: 'tensor', name }, { kind: 'tensor', name: op.outputs[0] }, total,
        `dst[(t / ${u32(run)}) * ${u32(outRun)} + ${u32(offset * inner)} + t % ${u32(run)}] = src[t];`));
    }
    offset += shape[axis];
  });
  return dispatches;
}
