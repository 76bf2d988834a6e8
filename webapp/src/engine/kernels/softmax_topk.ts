// Softmax and top-k of each row of class scores on the GPU, so a classification reads back
// k (index, probability) pairs instead of every score. One workgroup per row: max and sum
// reduced across the workgroup (reduce.ts: subgroup operations where the device has them),
// then k rounds of arg-max (ties go to the lower index, as on the CPU).

import { ENTRY_PARAMS, F32_LOWEST, u32, WORKGROUP_INDEX, type Arg, type KernelDispatch, type SubgroupSizes } from './common';
import { MAX_F32, rowLoop, SUM_F32, subgroupsEnable, workgroupReduce, type Reduction } from './reduce';

const THREADS = 256;
const NONE = '0xffffffffu';

/** The better of two (score, class) candidates: a real one (i != NONE), the higher score, then
 *  the lower index. The subgroup form takes the subgroup's highest score, then the lowest index
 *  holding it; scores below the lowest finite f32 (-inf) count as it, so an empty candidate
 *  (score F32_LOWEST) can't outrank a real one there. */
const BEST: Reduction = {
  name: 'best',
  type: 'Best',
  combine: `if (b.i != ${NONE} && (a.i == ${NONE} || b.v > a.v || (b.v == a.v && b.i < a.i))) { return b; }
  return a;`,
  subgroup: `let real = v.i != ${NONE};
  let key = max(v.v, ${F32_LOWEST});
  let top = subgroupMax(select(${F32_LOWEST}, key, real));
  return Best(top, subgroupMin(select(${NONE}, v.i, real && key == top)));`,
};

/** rows × classes scores (logits, or probabilities when `logits` is false) → rows × k pairs
 *  [bitcast<f32>(index), probability] in `out`. */
export function softmaxTopK(scores: Arg, out: Arg, rows: number, classes: number, k: number,
  logits: boolean, subgroups: SubgroupSizes | null): KernelDispatch {
  const row = (body: string) => rowLoop(classes, THREADS, body);
  const source = `${subgroupsEnable(subgroups)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
struct Best { v: f32, i: u32 }
${workgroupReduce(MAX_F32, THREADS, subgroups)}
${workgroupReduce(SUM_F32, THREADS, subgroups)}
${workgroupReduce(BEST, THREADS, subgroups)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  let base = wg * ${u32(classes)};
  var m = ${F32_LOWEST};
  ${row('m = max(m, x[base + i]);')}
  let top = reduce_max(m, lid);
  var sum = 0.0;
  ${row('sum += exp(x[base + i] - top);')}
  let total = reduce_sum(sum, lid);
  // Every invocation gets the same winner each round, so each keeps its own list of them.
  var chosen: array<u32, ${k}>;
  for (var r = 0u; r < ${u32(k)}; r++) {
    var best = Best(${F32_LOWEST}, ${NONE});
    ${row(`let v = x[base + i];
      var taken = false;
      for (var j = 0u; j < r; j++) { taken = taken || chosen[j] == i; }
      if ((v > best.v || best.i == ${NONE}) && !taken) { best = Best(v, i); }`)}
    best = reduce_best(best, lid);
    chosen[r] = best.i;
    if (lid == 0u) {
      let o = (wg * ${u32(k)} + r) * 2u;
      out[o] = bitcast<f32>(best.i);
      out[o + 1u] = ${logits ? 'exp(best.v - top) / total' : 'best.v'};
    }
  }
}`;
  return { label: 'softmax+top-k', source, workgroups: rows, args: [scores, out] };
}
