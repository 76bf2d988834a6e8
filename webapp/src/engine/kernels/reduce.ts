// A value reduced across a workgroup, every invocation getting the result, generated with or
// without subgroup operations (ctx.subgroups: the device offers them and the engine uses them).
//
// Without subgroups: a tree in workgroup memory, log2(threads) + 2 barriers.
// With them: each subgroup reduces in registers (subgroupAdd/Max/...), one elected invocation
// per subgroup claims a slot with an atomic counter and writes its partial there; a barrier;
// every invocation combines the claimed slots in slot order (so all get the same value); a
// barrier before the counter is reset for the next reduction. Correctness depends on neither
// the subgroup size nor which invocations share a subgroup: each invocation is in exactly one
// subgroup, each subgroup elects exactly one writer, and the counter says how many slots were
// written however many (full or partial) subgroups there are. The counter is reset (and a
// barrier passed) at the start of each reduction rather than left to WebGPU's zero-initialisation
// of workgroup memory, so the kernel gives the same result where that is switched off (the
// tests switch it off: docs/engine.md). Partials combine in an order that depends on the
// subgroup layout, so float sums may differ in the last bits between devices, as any
// reordering would.
// (Chromium 156 also accepts the subgroup_id/num_subgroups builtins, which would index the
// slots directly; the counter needs nothing beyond the `subgroups` feature, which a browser
// may offer without them.)
//
// Callers call reduce_<name>(v, lid) from uniform control flow (it holds barriers and subgroup
// operations); the result is the same in every invocation, yet WGSL's uniformity analysis sees
// the subgroup path's result as non-uniform (it is read after an atomic): don't branch around a
// barrier on it.

import { u32, type SubgroupSizes } from './common';

export interface Reduction {
  name: string;
  type: string;        // WGSL type of the value
  /** WGSL fn body combining a and b (associative and commutative) into a `type`. */
  combine: string;
  /** WGSL fn body reducing v over the invocation's subgroup (a subgroup builtin). */
  subgroup: string;
}

export const SUM_F32: Reduction = { name: 'sum', type: 'f32', combine: 'return a + b;', subgroup: 'return subgroupAdd(v);' };
export const MAX_F32: Reduction = { name: 'max', type: 'f32', combine: 'return max(a, b);', subgroup: 'return subgroupMax(v);' };
export const SUM_VEC4: Reduction = { name: 'sum4', type: 'vec4<f32>', combine: 'return a + b;',
  subgroup: 'return subgroupAdd(v);' };
export const MAX_VEC4: Reduction = { name: 'max4', type: 'vec4<f32>', combine: 'return max(a, b);',
  subgroup: 'return subgroupMax(v);' };

/** What a kernel using subgroup operations must start with. */
export const subgroupsEnable = (subgroups: SubgroupSizes | null) => (subgroups ? 'enable subgroups;\n' : '');

/** Module-scope WGSL defining fn reduce_<name>(v, lid) -> type for `threads` invocations
 *  (local_invocation_index lid). With subgroups the module must start with subgroupsEnable. */
export function workgroupReduce(r: Reduction, threads: number, subgroups: SubgroupSizes | null): string {
  const { name, type } = r;
  const combine = `fn combine_${name}(a: ${type}, b: ${type}) -> ${type} {
  ${r.combine}
}`;
  if (!subgroups) {
    if (threads & (threads - 1)) throw new Error(`a tree reduction needs a power-of-two workgroup, not ${threads}`);
    return `${combine}
var<workgroup> red_${name}: array<${type}, ${threads}>;
fn reduce_${name}(v: ${type}, lid: u32) -> ${type} {
  red_${name}[lid] = v;
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_${name}[lid] = combine_${name}(red_${name}[lid], red_${name}[lid + s]); }
    workgroupBarrier();
  }
  let total = red_${name}[0];
  workgroupBarrier();
  return total;
}`;
  }
  // One slot per invocation: subgroups need not be full, so threads / minSize slots may be too few.
  return `${combine}
fn subgroup_${name}(v: ${type}) -> ${type} {
  ${r.subgroup}
}
var<workgroup> red_${name}: array<${type}, ${threads}>;
var<workgroup> claimed_${name}: atomic<u32>;
fn reduce_${name}(v: ${type}, lid: u32) -> ${type} {
  if (lid == 0u) { atomicStore(&claimed_${name}, 0u); }
  workgroupBarrier();
  let part = subgroup_${name}(v);
  if (subgroupElect()) { red_${name}[atomicAdd(&claimed_${name}, 1u)] = part; }
  workgroupBarrier();
  let claimed = atomicLoad(&claimed_${name});
  var total = red_${name}[0];
  for (var i = 1u; i < claimed; i++) { total = combine_${name}(total, red_${name}[i]); }
  // Before the counter is reset.
  workgroupBarrier();
  return total;
}`;
}

/** A WGSL loop over a row of `length` elements shared by a workgroup's `threads` invocations:
 *  `body` runs for each element `i` that this invocation (`lid`) takes. */
export function rowLoop(length: number, threads: number, body: string): string {
  return `for (var i = lid; i < ${u32(length)}; i += ${u32(threads)}) { ${body} }`;
}

/** WGSL statements adding up, in workgroup array `arr` laid out as `slices` slices of `cols`
 *  columns (element slice·cols + column at index lid), each column's slices into slice 0; the
 *  invocation's slice is the u32 `slice`. A tree of log2(slices) steps, each ending in a
 *  barrier; `slices` need not be a power of two. `offsets`: where in `arr` each of several such
 *  layouts starts, all added by the same steps (e.g. one per output a thread keeps). Call from
 *  uniform control flow after a barrier that follows the writes. */
export function sliceTree(arr: string, slices: number, cols: number, slice: string, offsets: number[] = [0]): string {
  if (slices < 2) return '';
  const half = 2 ** (Math.ceil(Math.log2(slices)) - 1);
  const at = (offset: number) => (offset ? `${offset}u + lid` : 'lid');
  return `for (var h = ${half}u; h > 0u; h >>= 1u) {
    if (${slice} < h && ${slice} + h < ${slices}u) {
      ${offsets.map((o) => `${arr}[${at(o)}] += ${arr}[${at(o)} + h * ${cols}u];`).join('\n      ')}
    }
    workgroupBarrier();
  }`;
}

/** WGSL statements merging per-chunk statistics into `mean` and `m2` (declared here, of `type`)
 *  exactly (Chan et al.): `chunks` chunks of `chunk` elements out of `total`, the last one
 *  partial; `meanAt(k)` / `m2At(k)` read chunk k's mean and sum of squared deviations. */
export function chunkMerge(type: string, chunks: number, chunk: number, total: number,
  meanAt: (k: string) => string, m2At: (k: string) => string): string {
  return `var count = 0.0;
  var mean = ${type}(0.0);
  var m2 = ${type}(0.0);
  for (var k = 0u; k < ${u32(chunks)}; k++) {
    let nb = f32(min(${u32(chunk)}, ${u32(total)} - k * ${u32(chunk)}));
    let merged = count + nb;
    let delta = ${meanAt('k')} - mean;
    mean += delta * (nb / merged);
    m2 += ${m2At('k')} + delta * delta * (count * nb / merged);
    count = merged;
  }`;
}
