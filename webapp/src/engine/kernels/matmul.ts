// matmul: numpy matmul of two activations in plain layout, [..., M, K] @ [..., K, N] with the
// batch axes broadcast (a transformer's Q·Kᵀ and attention · V; a product with a stored matrix
// is a gemm). T×T output tiles of (T/4)² threads, each thread a 4×4 block (4 consecutive rows ×
// 4 consecutive columns) in registers; 16-deep K steps through workgroup memory, where A is
// kept k-major so that a thread's 4 rows are one vec4 read, as are its 4 columns of B. Reads
// past M, N or K give 0, so no shape needs to fit the tiles. T = 64 (256 threads), or 32 (64
// threads) where 64-wide tiles would make fewer than SMALL_TILE_GRID workgroups: a ViT-Tiny's
// attention · V per head is 197×64, 12 workgroups of 64-wide tiles on a 132-SM GPU.

import { ENTRY_PARAMS, prod, u32, WORKGROUP_INDEX, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const BK = 16;         // K step
const SMALL_TILE_GRID = 128;

/** WGSL offset of batch `bi`'s matrix in an operand of `shape`, broadcast against `batch`. */
function matrixOffset(shape: number[], batch: number[]): string {
  const own = [...new Array(batch.length - (shape.length - 2)).fill(1), ...shape.slice(0, -2)];
  const matrix = prod(shape.slice(-2));
  const terms = batch.map((d, i) => own[i] === 1 ? ''
    : `((bi / ${u32(prod(batch.slice(i + 1)))}) % ${u32(d)}) * ${u32(prod(own.slice(i + 1)) * matrix)}`).filter(Boolean);
  return terms.length ? terms.join(' + ') : '0u';
}

export function matmul(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [aName, bName] = op.inputs;
  const a = ctx.shape(aName);
  const b = ctx.shape(bName);
  const out = ctx.shape(op.outputs[0]);
  const [M, K, N] = [a[a.length - 2], a[a.length - 1], b[b.length - 1]];
  const batch = out.slice(0, -2);
  const grid = (side: number) => prod(batch) * Math.ceil(M / side) * Math.ceil(N / side);
  const T = grid(64) < SMALL_TILE_GRID ? 32 : 64;   // output tile side
  const Q = T / 4;                                   // threads per tile side
  const mTiles = Math.ceil(M / T);
  const nTiles = Math.ceil(N / T);
  const workgroups = grid(T);
  const last = (d: number) => u32(Math.max(d - 1, 0));   // clamped reads stay in bounds
  // Each thread stages E = 256/T elements of each tile per K step: of A, row lid / (T/16) at E
  // consecutive k; of B, in each of BK/Q passes, row pass·Q + lid/Q at 4 consecutive columns
  // (coalesced along each operand's rows).
  const E = 256 / T;
  const aRow = `lid / ${u32(T / 16)}`;
  const stageA = Array.from({ length: E }, (_, j) => `
    { let kk = (lid % ${u32(T / 16)}) * ${u32(E)} + ${u32(j)}; let k = k0 + kk;
      As[kk * ${u32(Q)} + (${aRow}) / 4u][(${aRow}) % 4u] =
        select(0.0, a[aBase + min(m0 + ${aRow}, ${last(M)}) * ${u32(K)} + min(k, ${last(K)})], m0 + ${aRow} < ${u32(M)} && k < ${u32(K)}); }`);
  const stageB = Array.from({ length: BK / Q }, (_, pass) => Array.from({ length: 4 }, (_, j) => `
    { let kk = ${u32(pass * Q)} + lid / ${u32(Q)}; let k = k0 + kk; let n = n0 + (lid % ${u32(Q)}) * 4u + ${u32(j)};
      Bs[kk * ${u32(Q)} + lid % ${u32(Q)}][${j}] =
        select(0.0, b[bBase + min(k, ${last(K)}) * ${u32(N)} + min(n, ${last(N)})], k < ${u32(K)} && n < ${u32(N)}); }`)).flat();
  const stage = [...stageA, ...stageB].join('');
  const store = Array.from({ length: 4 }, (_, i) => `
  { let row = m0 + ty * 4u + ${u32(i)};
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + tx * 4u + j;
      if (row < ${u32(M)} && col < ${u32(N)}) { y[bi * ${u32(M * N)} + row * ${u32(N)} + col] = acc${i}[j]; }
    } }`).join('');
  const source = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> As: array<vec4<f32>, ${BK * Q}>;   // [k][row quad]
var<workgroup> Bs: array<vec4<f32>, ${BK * Q}>;   // [k][column quad]

@compute @workgroup_size(${Q * Q})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(workgroups)}) { return; }
  let tn = wg % ${u32(nTiles)};
  let tm = (wg / ${u32(nTiles)}) % ${u32(mTiles)};
  let bi = wg / ${u32(nTiles * mTiles)};
  let m0 = tm * ${u32(T)};
  let n0 = tn * ${u32(T)};
  let tx = lid % ${u32(Q)};
  let ty = lid / ${u32(Q)};
  let aBase = ${matrixOffset(a, batch)};
  let bBase = ${matrixOffset(b, batch)};
  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < ${u32(K)}; k0 += ${u32(BK)}) {
    ${stage}
    workgroupBarrier();
    for (var kk = 0u; kk < ${u32(BK)}; kk++) {
      let av = As[kk * ${u32(Q)} + ty];
      let bv = Bs[kk * ${u32(Q)} + tx];
      acc0 += av.x * bv; acc1 += av.y * bv; acc2 += av.z * bv; acc3 += av.w * bv;
    }
    workgroupBarrier();
  }
  ${store}
}`;
  return [{ label: op.name, source, workgroups,
    args: [{ kind: 'tensor', name: aName }, { kind: 'tensor', name: bName }, { kind: 'tensor', name: op.outputs[0] }] }];
}
