// matmul: numpy matmul of two activations, [..., M, K] @ [..., K, N] with the batch axes
// broadcast (a transformer's Q·Kᵀ and attention · V; a product with a stored matrix is a gemm).
// Each operand, and the output, is read or written through a strided view where the op has
// one (attrs.views, compiler/strided.py): Q, K and V straight out of the qkv projection, the
// heads merged on the way out, with no copies around the matmul. T×T output tiles of (T/4)²
// threads, each thread a 4×4 block (4 consecutive rows × 4 consecutive columns) in registers;
// 16-deep K steps through workgroup memory, where A is kept k-major so that a thread's 4 rows
// are one vec4 read, as are its 4 columns of B. Staging walks each operand tile along its
// contiguous axis, so neighbouring threads read neighbouring floats whichever way the view
// runs, and the next K step's tiles are read into registers while the current one is
// multiplied. Reads past M, N or K give 0, so no shape needs to fit the tiles. T = 64 (256
// threads), or 32 (64 threads) where 64-wide tiles would make fewer than SMALL_TILE_GRID
// workgroups: a ViT-Tiny's attention · V per head is 197×64, 12 workgroups of 64-wide tiles
// on a 132-SM GPU. Where even 32-wide tiles make few workgroups and K is long (attention · V at
// batch 1: 42 workgroups walking K = 197), 4 groups of 64 threads share each workgroup, each
// taking a quarter of every K step, and add their sums through workgroup memory at the end.
// Then the epilogue's activations (the scores' 1/√d scale).

import { activationCode, ENTRY_PARAMS, prod, u32, WORKGROUP_INDEX, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';
import { matrixOffset, viewOf } from './strided_view';
import { stageTile } from './tile_staging';

const BK = 16;         // K step
const SMALL_TILE_GRID = 128;
const K_GROUPS = 4;

export function matmul(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [aName, bName] = op.inputs;
  const a = viewOf(op, 'a', aName, ctx);
  const b = viewOf(op, 'b', bName, ctx);
  const y = viewOf(op, 'y', op.outputs[0], ctx);
  const [M, K, N] = [a.shape[a.shape.length - 2], a.shape[a.shape.length - 1], b.shape[b.shape.length - 1]];
  const batch = y.shape.slice(0, -2);
  const grid = (side: number) => prod(batch) * Math.ceil(M / side) * Math.ceil(N / side);
  const T = grid(64) < SMALL_TILE_GRID ? 32 : 64;   // output tile side
  // Still few workgroups at T = 32 and a long K: K_GROUPS thread groups per workgroup each
  // take a slice of every K step, and add their sums at the end.
  const G = T === 32 && grid(32) < SMALL_TILE_GRID && K >= 4 * BK ? K_GROUPS : 1;
  const BKG = G > 1 ? BK / 2 : BK;                  // k per group per step
  const KC = G * BKG;                                // k per step
  const Q = T / 4;                                   // threads per tile side
  const tileThreads = Q * Q;
  const threads = tileThreads * G;
  const mTiles = Math.ceil(M / T);
  const nTiles = Math.ceil(N / T);
  const workgroups = grid(T);
  const last = (d: number) => u32(Math.max(d - 1, 0));   // clamped reads stay in bounds
  const [aRS, aCS] = a.strides.slice(-2);
  const [bRS, bCS] = b.strides.slice(-2);
  const [yRS, yCS] = y.strides.slice(-2);
  // A's tile is T rows × KC k, B's KC k × T columns, staged by all threads together.
  const stageA = stageTile(T, KC, threads, !(aRS === 1 && aCS !== 1), 'ra',
    (r, c, k) => `select(0.0, a[aBase + min(m0 + ${r}, ${last(M)}) * ${u32(aRS)} + min(${k} + ${c}, ${last(K)}) * ${u32(aCS)}],
        m0 + ${r} < ${u32(M)} && ${k} + ${c} < ${u32(K)})`,
    (r, c, value) => `As[${c} * ${u32(Q)} + ${r} / 4u][${r} % 4u] = ${value};`);
  const stageB = stageTile(KC, T, threads, !(bRS === 1 && bCS !== 1), 'rb',
    (r, c, k) => `select(0.0, b[bBase + min(${k} + ${r}, ${last(K)}) * ${u32(bRS)} + min(n0 + ${c}, ${last(N)}) * ${u32(bCS)}],
        ${k} + ${r} < ${u32(K)} && n0 + ${c} < ${u32(N)})`,
    (r, c, value) => `Bs[${r} * ${u32(Q)} + ${c} / 4u][${c} % 4u] = ${value};`);
  // The groups' sums, one accumulator row at a time through As (its KC·Q vec4s hold the
  // (G−1)·Q² partials: G = 4, BKG = 8).
  const gather = G === 1 ? '' : `
  workgroupBarrier();
  ${Array.from({ length: 4 }, (_, i) => `
  if (g > 0u) { As[(g - 1u) * ${u32(tileThreads)} + l] = acc${i}; }
  workgroupBarrier();
  if (g == 0u) { ${Array.from({ length: G - 1 }, (_, h) => `acc${i} += As[${u32(h * tileThreads)} + l];`).join(' ')} }
  workgroupBarrier();`).join('')}`;
  const store = Array.from({ length: 4 }, (_, i) => `
  { let row = m0 + ty * 4u + ${u32(i)};
    var v = acc${i};
    ${activationCode(op.attrs.activations, 'v')}
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + tx * 4u + j;
      if (row < ${u32(M)} && col < ${u32(N)}) { y[yBase + row * ${u32(yRS)} + col * ${u32(yCS)}] = v[j]; }
    } }`).join('');
  const source = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> As: array<vec4<f32>, ${KC * Q}>;   // [k][row quad]
var<workgroup> Bs: array<vec4<f32>, ${KC * Q}>;   // [k][column quad]

@compute @workgroup_size(${threads})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(workgroups)}) { return; }
  let tn = wg % ${u32(nTiles)};
  let tm = (wg / ${u32(nTiles)}) % ${u32(mTiles)};
  let bi = wg / ${u32(nTiles * mTiles)};
  let m0 = tm * ${u32(T)};
  let n0 = tn * ${u32(T)};
  let g = lid / ${u32(tileThreads)};      // K group
  let l = lid % ${u32(tileThreads)};
  let tx = l % ${u32(Q)};
  let ty = l / ${u32(Q)};
  let aBase = ${matrixOffset(a, batch)};
  let bBase = ${matrixOffset(b, batch)};
  let yBase = ${matrixOffset(y, batch)};
  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);
  ${stageA.declare} ${stageB.declare}
  ${stageA.load('0u')}${stageB.load('0u')}
  for (var k0 = 0u; k0 < ${u32(K)}; k0 += ${u32(KC)}) {
    ${stageA.store}${stageB.store}
    workgroupBarrier();
    if (k0 + ${u32(KC)} < ${u32(K)}) {     // the next step's tiles load while this one's multiply
      let kn = k0 + ${u32(KC)};${stageA.load('kn')}${stageB.load('kn')}
    }
    for (var i = 0u; i < ${u32(BKG)}; i++) {
      let kk = ${G > 1 ? `g * ${u32(BKG)} + i` : 'i'};
      let av = As[kk * ${u32(Q)} + ty];
      let bv = Bs[kk * ${u32(Q)} + tx];
      acc0 += av.x * bv; acc1 += av.y * bv; acc2 += av.z * bv; acc3 += av.w * bv;
    }
    workgroupBarrier();
  }${gather}
  ${G > 1 ? `if (g == 0u) {${store}
  }` : store}
}`;
  return [{ label: op.name, source, workgroups,
    args: [{ kind: 'tensor', name: aName }, { kind: 'tensor', name: bName }, { kind: 'tensor', name: op.outputs[0] }] }];
}
