// Whole-image statistics a call keeps for a later call or takes from its caller, so that the
// tiles of a large image are normalised as the whole image is (tiled_render.ts). Each
// normalising op has one scratch buffer `<op>:norm-stats`:
//   instance_norm: (mean, variance) per (image, vec4 of channels), written or read by its
//                  combine dispatch (instance_norm.ts);
//   global_pool:   its output (the arbitrary-style transform builds its instance norms from
//                  global average pools: mean, then mean of squared deviations), copied out
//                  after the pool, or copied in instead of pooling.

import { elementCopy, prod, type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const SUFFIX = ':norm-stats';

export const normStatsArg = (op: OpSpec, bytes: number): Arg => ({ kind: 'scratch', id: `${op.name}${SUFFIX}`, bytes });
export const isNormStats = (scratchId: string) => scratchId.endsWith(SUFFIX);

function copyFloats(label: string, from: Arg, to: Arg, count: number): KernelDispatch {
  return elementCopy(label, from, to, count, 'dst[t] = src[t];');
}

/** A global pool's dispatches under ctx.normStats: followed by a copy of its output into its
 *  statistics buffer (capture), or replaced by a copy from that buffer (supply). */
export function globalPoolNormStats(op: OpSpec, ctx: OpContext, pooled: KernelDispatch[]): KernelDispatch[] {
  if (!ctx.normStats) return pooled;
  const count = prod(ctx.shape(op.outputs[0]));
  const stats = normStatsArg(op, count * 4);
  const output: Arg = { kind: 'tensor', name: op.outputs[0] };
  return ctx.normStats === 'capture'
    ? [...pooled, copyFloats(`${op.name}:capture`, output, stats, count)]
    : [copyFloats(`${op.name}:supplied`, stats, output, count)];
}
