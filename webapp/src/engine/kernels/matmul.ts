// matmul: numpy matmul of two activations in plain layout, [..., M, K] @ [..., K, N] with the
// batch axes broadcast (a transformer's Q·Kᵀ and attention · V; a product with a stored matrix
// is a gemm). 16×16 output tiles, one output per thread, 16-deep K steps through workgroup
// memory; out-of-range rows, columns and taps read 0.

import { ENTRY_PARAMS, prod, u32, WORKGROUP_INDEX, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const T = 16;

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
  const mTiles = Math.ceil(M / T);
  const nTiles = Math.ceil(N / T);
  const workgroups = prod(batch) * mTiles * nTiles;
  const last = (d: number) => u32(Math.max(d - 1, 0));   // clamped reads stay in bounds
  const source = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> As: array<f32, ${T * T}>;   // [row][k]
var<workgroup> Bs: array<f32, ${T * T}>;   // [k][column]

@compute @workgroup_size(${T * T})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(workgroups)}) { return; }
  let tn = wg % ${u32(nTiles)};
  let tm = (wg / ${u32(nTiles)}) % ${u32(mTiles)};
  let bi = wg / ${u32(nTiles * mTiles)};
  let r = lid / ${u32(T)};
  let c = lid % ${u32(T)};
  let row = tm * ${u32(T)} + r;
  let col = tn * ${u32(T)} + c;
  let aBase = ${matrixOffset(a, batch)};
  let bBase = ${matrixOffset(b, batch)};
  var acc = 0.0;
  for (var k0 = 0u; k0 < ${u32(K)}; k0 += ${u32(T)}) {
    As[lid] = select(0.0, a[aBase + min(row, ${last(M)}) * ${u32(K)} + min(k0 + c, ${last(K)})],
                     row < ${u32(M)} && k0 + c < ${u32(K)});
    Bs[lid] = select(0.0, b[bBase + min(k0 + r, ${last(K)}) * ${u32(N)} + min(col, ${last(N)})],
                     k0 + r < ${u32(K)} && col < ${u32(N)});
    workgroupBarrier();
    for (var kk = 0u; kk < ${u32(T)}; kk++) { acc += As[r * ${u32(T)} + kk] * Bs[kk * ${u32(T)} + c]; }
    workgroupBarrier();
  }
  if (row < ${u32(M)} && col < ${u32(N)}) { y[bi * ${u32(M * N)} + row * ${u32(N)} + col] = acc; }
}`;
  return [{ label: op.name, source, workgroups,
    args: [{ kind: 'tensor', name: aName }, { kind: 'tensor', name: bName }, { kind: 'tensor', name: op.outputs[0] }] }];
}
