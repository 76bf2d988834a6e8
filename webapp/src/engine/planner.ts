// Binds the symbolic dims to a given input shape and lays out the GPU memory of one call:
// activation buffers from the manifest's memory plan, scratch buffers of the ops, and the
// list of dispatches with their shapes baked in. Refuses, with a message saying what and how
// much, anything past the device's buffer limits. A plan may keep its instance-norm statistics
// for another call or take them from one (NormStatsMode, kernels/norm_stats.ts).

import { bindSymbols, evaluateShape, type Manifest, type Precision } from './manifest';
import { opDispatches, planDepthwiseFusions } from './kernels/index';
import { DEFAULT_WORKGROUP_LIMITS, prod, UnsupportedOpError, type Arg, type KernelDispatch, type Int8Matrices, type OpContext, type SubgroupSizes } from './kernels/common';
import { permute } from './kernels/transpose';
import { globalPoolNormStats, isNormStats } from './kernels/norm_stats';

export const LOGICAL_INPUT = 'input:logical';

export interface Plan {
  inputShape: number[];                 // logical
  shapes: Map<string, number[]>;        // physical, per tensor
  bufferBytes: number[];                // per memory-plan buffer
  scratchBytes: Map<string, number>;    // per scratch id (incl. the logical input)
  dispatches: KernelDispatch[];
  /** Dispatches run once, when the call is prepared (KernelDispatch.once). */
  setup: KernelDispatch[];
  /** How many leading dispatches only convert a tensor input's layout (skipped when the input
   *  is drawn from images straight into the physical layout). */
  layoutDispatches: number;
  /** The statistics buffers (scratch ids and sizes) a plan made with a NormStatsMode keeps or
   *  takes, one per normalising op. */
  normStats: { id: string; bytes: number }[];
  /** The subgroup sizes its kernels were generated for (null: no subgroup operations). */
  subgroups: SubgroupSizes | null;
}

/** capture: every instance norm keeps the statistics it computed; supply: every instance norm
 *  takes them from buffers the caller fills before the call. */
export type NormStatsMode = 'capture' | 'supply';

/** The device limits a plan depends on (a GPUSupportedLimits has them all); the workgroup ones
 *  default to WebGPU's guaranteed minimums. */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxComputeInvocationsPerWorkgroup?: number;
  maxComputeWorkgroupSizeX?: number;
  maxComputeWorkgroupStorageSize?: number;
}

const isIdentity = (perm: number[]) => perm.every((p, i) => p === i);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** How the kernels are generated beyond shapes and limits: `subgroups`, the device's subgroup
 *  sizes when kernels may use subgroup operations; `convTiles` (tests), `splitKInWorkgroup`
 *  (default true) and `int8`, see OpContext. */
export interface KernelChoices { subgroups?: SubgroupSizes | null; convTiles?: 'large'; splitKInWorkgroup?: boolean;
  int8?: Int8Matrices }

export function planCall(manifest: Manifest, inputShape: number[], precision: Precision,
  limits: BufferLimits, normStats?: NormStatsMode, choices: KernelChoices = {}): Plan {
  const subgroups = choices.subgroups ?? null;
  const [input] = manifest.inputs;
  // Only instance norms (and global pools, the arbitrary transform's form of them) take
  // statistics: any other whole-image reduction would differ per tile.
  if (normStats && manifest.ops.some((op) => op.op.startsWith('squeeze_excite'))) {
    throw new Error(`${manifest.name} has squeeze-excite layers, whose statistics can't be supplied from another call`);
  }
  // Inputs after the first (the style networks' style_weights) are written as they are given.
  const transposed = manifest.inputs.slice(1).filter((s) => !isIdentity(s.perm));
  if (transposed.length) throw new UnsupportedOpError(`${manifest.name}: input ${transposed[0].name} is not in plain layout; the engine transposes only the first input`);
  const bindings = bindSymbols(input, inputShape);
  const shapes = new Map<string, number[]>();
  const bufferBytes = new Array<number>(manifest.memory.buffers).fill(4);
  for (const [name, t] of Object.entries(manifest.tensors)) {
    const shape = evaluateShape(t.shape, bindings);
    shapes.set(name, shape);
    bufferBytes[t.buffer] = Math.max(bufferBytes[t.buffer], Math.ceil(prod(shape) * 4 / 16) * 16);
  }
  const shape = (tensor: string) => {
    const s = shapes.get(tensor);
    if (!s) throw new Error(`${manifest.name}: tensor ${tensor} is not in the manifest`);
    return s;
  };
  const dispatches: KernelDispatch[] = [];
  const scratchBytes = new Map<string, number>();
  if (!isIdentity(input.perm)) {
    const logical: Arg = { kind: 'scratch', id: LOGICAL_INPUT, bytes: prod(inputShape) * 4 };
    dispatches.push(permute('input layout', logical, { kind: 'tensor', name: input.name }, inputShape, input.perm));
  }
  const workgroupLimits = {
    threads: Math.min(limits.maxComputeInvocationsPerWorkgroup ?? DEFAULT_WORKGROUP_LIMITS.threads,
      limits.maxComputeWorkgroupSizeX ?? DEFAULT_WORKGROUP_LIMITS.threads),
    storageBytes: limits.maxComputeWorkgroupStorageSize ?? DEFAULT_WORKGROUP_LIMITS.storageBytes,
  };
  const { expandFusions, channelSums } = planDepthwiseFusions(manifest, shape, workgroupLimits);
  const ctx: OpContext = { shape, dims: (d) => evaluateShape(d, bindings), precision, normStats, workgroupLimits, subgroups, convTiles: choices.convTiles,
    splitKInWorkgroup: choices.splitKInWorkgroup ?? true, int8: choices.int8, channelSums, expandFusions,
    weightShape: (slice: string) => manifest.weights.slices[slice].shape };
  const absorbed = new Set([...expandFusions.values()].map((f) => f.expand.name));
  for (const op of manifest.ops) {
    if (absorbed.has(op.name)) continue;     // its depthwise conv computes it
    // An empty output has nothing to write (and its shape would bake in a division by zero).
    if (op.outputs.every((o) => prod(shape(o)) === 0)) continue;
    const ops = opDispatches(op, manifest, ctx);
    dispatches.push(...(op.op === 'global_pool' ? globalPoolNormStats(op, ctx, ops) : ops));
  }
  const keys = new Set<string>();
  const kept = dispatches.filter((d) => d.key === undefined || (!keys.has(d.key) && keys.add(d.key)));
  for (const d of kept) {
    for (const a of d.args) if (a.kind === 'scratch') scratchBytes.set(a.id, Math.max(scratchBytes.get(a.id) ?? 0, a.bytes));
  }
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const largest = Math.max(...bufferBytes, ...scratchBytes.values());
  if (largest > limit) {
    throw new Error(`${manifest.name} at input [${inputShape}] needs a ${mib(largest)} activation buffer; `
      + `this GPU allows ${mib(limit)} per buffer: use a smaller batch or image`);
  }
  return { inputShape, shapes, bufferBytes, scratchBytes, dispatches: kept.filter((d) => !d.once),
    setup: kept.filter((d) => d.once), layoutDispatches: isIdentity(input.perm) ? 0 : 1, subgroups,
    normStats: [...scratchBytes].filter(([id]) => isNormStats(id)).map(([id, bytes]) => ({ id, bytes })) };
}
