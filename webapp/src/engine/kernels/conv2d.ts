// conv2d with groups < channels as a tiled implicit GEMM in NHWC: rows are output pixels
// (M = N·OH·OW), columns output channels, K = KH·KW·Cin/G taps in the weights' row order.
// A BM×BK tile of the virtual im2col matrix and a BK×BN tile of the packed weights
// (khkwci_co4 / g_khkwci_co4) go through workgroup memory; each thread keeps a 4×4 block
// (4 pixels × one vec4 of channels) in registers. 1×1 stride-1 convs skip the tap arithmetic,
// which makes them plain GEMMs. Bias, residual and activations are fused into the store.

import { activationCode, elementIndex, ENTRY_PARAMS, RowTensor, u32, weightDecl, weightedOpBindings, windowGeometry,
  WORKGROUP_INDEX, pad4, type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const BM = 64;
const BK = 16;
const WANTED_WORKGROUPS = 128;   // about one per SM of a big GPU (the H100 has 132)
const MAX_SPLIT = 16;
const MIN_STEPS_PER_SPLIT = 4;   // BK-deep steps each split must keep
const PARTIALS = 'conv2d:split-k partials';   // one scratch buffer, reused by every split conv
const REDUCE_THREADS = 64;

function splitCount(groups: number, tiles: number, K: number): number {
  if (groups !== 1 || tiles >= WANTED_WORKGROUPS) return 1;
  const steps = Math.ceil(K / BK);
  return Math.max(1, Math.min(MAX_SPLIT, Math.ceil(WANTED_WORKGROUPS / tiles), Math.floor(steps / MIN_STEPS_PER_SPLIT)));
}

export function conv2dGemm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, DH, DW, PT, PL } = windowGeometry(op, ctx);
  const G: number = a.groups;
  const CIG = C / G;
  const COG = CO / G;
  const N4 = pad4(COG) / 4;               // vec4 columns per weight row
  const M = N * OH * OW;
  const K = KH * KW * CIG;
  const BN = COG > 32 ? 64 : COG > 16 ? 32 : 16;
  const THREADS = (BM / 4) * (BN / 4);
  const TX = BN / 4;
  const mTiles = Math.ceil(M / BM);
  const nTiles = Math.ceil(N4 * 4 / BN);
  const vecA = CIG % 4 === 0;             // 4 consecutive k share one tap: one vec4 load
  const aligned = COG % 4 === 0;          // a vec4 of output channels never straddles groups
  const x = new RowTensor('x', C, vecA);
  const y = new RowTensor('y', CO, aligned);
  const res = a.residual ? new RowTensor('res', CO, aligned) : null;
  const S = splitCount(G, mTiles * nTiles, K);
  const kChunk = Math.ceil(Math.ceil(K / BK) / S) * BK;   // K range of one split, whole steps
  const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && PT === 0 && PL === 0;

  // Source pixel row and channel of im2col element (m, k), or a skip when it's padding.
  const tapCode = pointwise ? `let row = m; let ci = k;` : `
      let tap = k / ${u32(CIG)}; let ci = k % ${u32(CIG)};
      let n = m / ${u32(OH * OW)}; let p = m % ${u32(OH * OW)};
      let iy = i32((p / ${u32(OW)}) * ${u32(SH)} + (tap / ${u32(KW)}) * ${u32(DH)}) - ${PT};
      let ix = i32((p % ${u32(OW)}) * ${u32(SW)} + (tap % ${u32(KW)}) * ${u32(DW)}) - ${PL};
      if (iy < 0 || iy >= ${H} || ix < 0 || ix >= ${W}) { continue; }
      let row = (n * ${u32(H)} + u32(iy)) * ${u32(W)} + u32(ix);`;
  const aLoad = vecA ? `
  for (var r = 0u; r < ${u32(BM * BK / 4 / THREADS)}; r++) {
    let idx = lid + r * ${u32(THREADS)};
    let mm = idx / ${u32(BK / 4)}; let kq = idx % ${u32(BK / 4)};
    for (var j = 0u; j < 4u; j++) { As[(kq * 4u + j) * ${u32(BM)} + mm] = 0.0; }
    let m = m0 + mm; let k = k0 + kq * 4u;
    if (m >= ${u32(M)} || k >= ${u32(K)}) { continue; }
    ${tapCode}
    let v = x[row * ${u32(C / 4)} + (g * ${u32(CIG)} + ci) / 4u];
    for (var j = 0u; j < 4u; j++) { As[(kq * 4u + j) * ${u32(BM)} + mm] = v[j]; }
  }` : `
  for (var r = 0u; r < ${u32(BM * BK / THREADS)}; r++) {
    let idx = lid + r * ${u32(THREADS)};
    let mm = idx % ${u32(BM)}; let kk = idx / ${u32(BM)};
    As[kk * ${u32(BM)} + mm] = 0.0;
    let m = m0 + mm; let k = k0 + kk;
    if (m >= ${u32(M)} || k >= ${u32(K)}) { continue; }
    ${tapCode}
    As[kk * ${u32(BM)} + mm] = x[row * ${u32(C)} + g * ${u32(CIG)} + ci];
  }`;
  const bias = aligned
    ? `w4_bias(g * ${u32(COG / 4)} + col4)`
    : `vec4<f32>(w1_bias(co), w1_bias(co + 1u), w1_bias(co + 2u), w1_bias(co + 3u))`;
  const { decls, args } = weightedOpBindings(op, x, y, res, ctx.precision);
  const partials = { kind: 'scratch' as const, id: PARTIALS, bytes: S * M * N4 * 16 };
  const epilogue = S > 1 ? `
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m < ${u32(M)}) { part[(split * ${u32(M)} + m) * ${u32(N4)} + col4] = acc[i]; }
  }` : `
  let co = g * ${u32(COG)} + col4 * 4u;
  let b = ${bias};
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= ${u32(M)}) { break; }
    var v = acc[i] + b;
    ${res ? 'v += ld_res(m, co);' : ''}
    ${activationCode(a.activations, 'v')}
    ${aligned ? 'st_y(m, co, v);' : `st_y_group(m, co, col4 * 4u, v);`}
  }`;
  const source = `
${S > 1 ? `${x.decl(0, false)}
${weightDecl(1, 'weight', ctx.precision)}
@group(0) @binding(2) var<storage, read_write> part: array<vec4<f32>>;` : `${decls}
${y.helpers(true)}
${res ? res.helpers(false) : ''}`}
var<workgroup> As: array<f32, ${BK * BM}>;
var<workgroup> Bs: array<vec4<f32>, ${BK * BN / 4}>;

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(G * S * mTiles * nTiles)}) { return; }
  ${S > 1 ? `let split = wg / ${u32(mTiles * nTiles)};
  let g = 0u;` : `let g = wg / ${u32(mTiles * nTiles)};`}
  let kBegin = ${S > 1 ? `split * ${u32(kChunk)}` : '0u'};
  let kEnd = ${S > 1 ? `min(kBegin + ${u32(kChunk)}, ${u32(K)})` : u32(K)};
  let tn = wg % ${u32(nTiles)};
  let tm = (wg / ${u32(nTiles)}) % ${u32(mTiles)};
  let m0 = tm * ${u32(BM)};
  let c40 = tn * ${u32(BN / 4)};
  let tx = lid % ${u32(TX)};
  let ty = lid / ${u32(TX)};
  var acc: array<vec4<f32>, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${u32(BK)}) {
    ${aLoad}
    for (var r = 0u; r < ${u32(BK * BN / 4 / THREADS)}; r++) {
      let idx = lid + r * ${u32(THREADS)};
      let kk = idx / ${u32(TX)}; let c = c40 + idx % ${u32(TX)};
      let k = k0 + kk;
      Bs[idx] = select(vec4<f32>(0.0), w4_weight((g * ${u32(K)} + min(k, ${u32(K - 1)})) * ${u32(N4)} + min(c, ${u32(N4 - 1)})),
                       k < ${u32(K)} && c < ${u32(N4)});
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${u32(BK)}; kk++) {
      let b = Bs[kk * ${u32(TX)} + tx];
      let ab = kk * ${u32(BM)} + ty * 4u;
      acc[0] += As[ab] * b;
      acc[1] += As[ab + 1u] * b;
      acc[2] += As[ab + 2u] * b;
      acc[3] += As[ab + 3u] * b;
    }
    workgroupBarrier();
  }
  let col4 = c40 + tx;
  if (col4 >= ${u32(N4)}) { return; }
  ${epilogue}
}
${aligned || S > 1 ? '' : `fn st_y_group(m: u32, co: u32, cg: u32, v: vec4<f32>) {
  for (var j = 0u; j < 4u; j++) { if (cg + j < ${u32(COG)}) { y[m * ${u32(CO)} + co + j] = v[j]; } }
}`}`;
  if (S === 1) return [{ label: op.name, source, workgroups: G * mTiles * nTiles, args }];
  const gemmArgs: Arg[] = [args[0], args[1], partials];
  return [{ label: `${op.name}:split-k`, source, workgroups: S * mTiles * nTiles, args: gemmArgs },
    splitKReduce(op, ctx, partials, S, M, CO, y, res)];
}

/** Sums the S partial tiles of a split-K conv and applies bias, residual and activations. */
function splitKReduce(op: OpSpec, ctx: OpContext, partials: Arg, S: number, M: number, CO: number,
  y: RowTensor, res: RowTensor | null): KernelDispatch {
  const N4 = pad4(CO) / 4;
  const total = M * N4;
  const source = `
@group(0) @binding(0) var<storage, read> part: array<vec4<f32>>;
${weightDecl(1, 'bias', ctx.precision)}
${y.decl(2, true)}
${res ? res.decl(3, false) : ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}

@compute @workgroup_size(${REDUCE_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(REDUCE_THREADS, total)}
  let c4 = t % ${u32(N4)};
  let m = t / ${u32(N4)};
  var v = w4_bias(c4);
  for (var s = 0u; s < ${u32(S)}; s++) { v += part[s * ${u32(total)} + t]; }
  ${res ? 'v += ld_res(m, c4 * 4u);' : ''}
  ${activationCode(op.attrs.activations, 'v')}
  st_y(m, c4 * 4u, v);
}`;
  const args: Arg[] = [partials, { kind: 'weight', slice: op.weights.bias }, { kind: 'tensor', name: op.outputs[0] }];
  if (res) args.push({ kind: 'tensor', name: op.inputs[1] });
  return { label: `${op.name}:split-k sum`, source, workgroups: Math.ceil(total / REDUCE_THREADS), args };
}
