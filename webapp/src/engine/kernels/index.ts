// Which generator emits an op's dispatches. reshape has none: the memory plan aliases it.

import { attention } from './attention';
import { concat } from './concat';
import { conv2dGemm } from './conv2d';
import { convTranspose2d } from './conv_transpose2d';
import { channelSumLayout, depthwiseConv2d } from './depthwise';
import { planExpandFusions, type ExpandFusion } from './expand_depthwise';
import { binary, constant, expand, unary } from './elementwise';
import { gemm } from './gemm';
import { instanceNorm } from './instance_norm';
import { layerNorm } from './layer_norm';
import { matmul } from './matmul';
import { pad } from './pad';
import { globalPool, pool } from './pool';
import { resize } from './resize';
import { reduce, softmax } from './softmax_reduce';
import { squeezeExcite, squeezeExciteGate } from './squeeze_excite';
import { slice, transpose } from './transpose';
import { UnsupportedOpError, withActivationHelpers, type ChannelSums, type KernelDispatch, type KernelGenerator, type OpContext,
  type WorkgroupLimits } from './common';
import type { Manifest, OpSpec } from '../manifest';

const GENERATORS: Record<string, KernelGenerator> = {
  gemm,
  matmul,
  attention,
  pool,
  global_pool: globalPool,
  squeeze_excite: squeezeExcite,
  squeeze_excite_gate: squeezeExciteGate,
  pad,
  instance_norm: instanceNorm,
  layer_norm: layerNorm,
  resize,
  binary,
  unary,
  constant,
  expand,
  conv_transpose2d: convTranspose2d,
  transpose,
  slice,
  concat,
  softmax,
  reduce,
  reshape: () => [],
};

function generatorFor(op: OpSpec, manifest: Manifest): KernelGenerator | undefined {
  if (op.op !== 'conv2d') return GENERATORS[op.op];
  const layout = manifest.weights.slices[op.weights.weight]?.layout;
  return layout === 'khkw_c4' ? depthwiseConv2d : conv2dGemm;
}

/** Throws UnsupportedOpError naming every op of the model the engine can't run. */
export function checkSupported(manifest: Manifest): void {
  const missing = [...new Set(manifest.ops.filter((op) => !generatorFor(op, manifest)).map((op) => op.op))];
  if (missing.length) {
    throw new UnsupportedOpError(`unsupported op${missing.length > 1 ? 's' : ''} ${missing.join(', ')} `
      + `in ${manifest.name}: the WebGPU engine has no kernel for ${missing.length > 1 ? 'them' : 'it'} yet`);
  }
}

export function opDispatches(op: OpSpec, manifest: Manifest, ctx: OpContext): KernelDispatch[] {
  return generatorFor(op, manifest)!(op, ctx).map(withActivationHelpers);
}

/** How depthwise convs take over their neighbours' work in a call of these shapes:
 *  `expandFusions`, the 1×1 expansions they compute themselves (expand_depthwise.ts), and
 *  `channelSums`, the outputs a squeeze-excite gate reads (vec4 channel rows), whose channel
 *  sums the conv also writes for the gate to start from (OpContext.channelSums), by tensor. */
export function planDepthwiseFusions(manifest: Manifest, shape: (tensor: string) => number[], limits: WorkgroupLimits):
  { expandFusions: Map<string, ExpandFusion>; channelSums: Map<string, ChannelSums> } {
  const producers = new Map(manifest.ops.flatMap((op) => op.outputs.map((o) => [o, op] as const)));
  const isDepthwise = (op: OpSpec) => generatorFor(op, manifest) === depthwiseConv2d;
  const gated = new Set<string>();
  for (const op of manifest.ops) {
    if (op.op !== 'squeeze_excite_gate' && op.op !== 'squeeze_excite') continue;
    const conv = producers.get(op.inputs[0]);
    if (conv && isDepthwise(conv) && shape(op.inputs[0])[3] % 4 === 0) gated.add(op.inputs[0]);
  }
  const expandFusions = planExpandFusions(manifest, producers, shape, isDepthwise, limits, gated);
  const channelSums = new Map<string, ChannelSums>();
  for (const map of gated) {
    const conv = producers.get(map)!;
    const [, H, W, C] = shape(map);
    const parts = expandFusions.get(conv.name)?.tiling.tiles ?? channelSumLayout(H * W, C / 4).parts;
    channelSums.set(map, { id: `${conv.name}:channel sums`, parts });
  }
  return { expandFusions, channelSums };
}
