// conv2d with groups < channels as a tiled implicit GEMM in NHWC: rows are output pixels
// (M = N·OH·OW), columns output channels, K = KH·KW·Cin/G taps in the weights' row order.
// A BM×BK tile of the virtual im2col matrix and a BK×BN tile of the packed weights
// (khkwci_co4 / g_khkwci_co4) go through workgroup memory; each thread keeps a TM×TN block
// (TM pixels × TN channels) in registers, reading TM/4 vec4s of A (4 pixels each) and TN/4 of B
// per k. Two tilings (`tiling` says which and why): 64×BN×16 tiles with 4×4 per thread, and
// 128×128×8 tiles with 8×8 per thread for big grids. A thread's pixel quads and channel vec4s
// are strided across the tile (quad ty, ty + BM/TM, …), so a warp's workgroup-memory reads stay
// contiguous whatever TM and TN are. Both tiles are double-buffered: the next K step is
// fetched from global memory into registers while the current one is multiplied, one barrier
// per step. The im2col coordinates of the pixels a thread stages are computed once, before the
// K loop; 1×1 stride-1 convs skip the tap arithmetic, which makes them plain GEMMs. Bias,
// residual and activations are fused into the store. With `input_scale` (a squeeze-excite gate
// [N, Cin] as the last input), every A element read is multiplied by its image's gate for its
// input channel: the scaling of the excited map happens here, as it is loaded, instead of in a
// dispatch of its own. A 1×1 conv that would split K (and reads and writes whole vec4s) goes to
// pointwise_split.ts instead, which splits K inside each workgroup: no sum dispatch.

import { activationCode, inputAffine, residualCode, ENTRY_PARAMS, RowTensor, u32, weightDecl, weightedOpBindings, windowGeometry,
  WORKGROUP_INDEX, pad4, type Arg, type KernelDispatch, type OpContext } from './common';
import { conv2dInt8, int8Eligible } from './conv2d_int8';
import { stagedPixels, tapRead } from './im2col';
import { pointwiseGroupSplit } from './pointwise_split';
import { PARTIALS, splitKReduce } from './split_k';
import type { OpSpec } from '../manifest';

// Split K until about 4 workgroups per SM of a big GPU (the H100 has 132): with one 256-thread
// workgroup per SM, memory latency isn't hidden. ResNet50's batch-1 shapes then split 8–16 ways,
// where the H100 ceiling was measured (8–13 TFLOP/s).
const WANTED_WORKGROUPS = 512;
const MAX_SPLIT = 16;
const MIN_STEPS_PER_SPLIT = 4;   // BK-deep steps each split must keep
const LARGE_MIN_K = 128;         // taps per output from which the large tiling pays (see tiling)
// Multiply-adds up to which a 1×1 conv that would split K takes pointwise_split.ts's one-dispatch
// form. Measured on an H200 with every such conv on it: the MobileNets and EfficientNet-Lite0 at
// batch 1 (their split convs are 2–20 M) gained 7–11% of GPU time (MobileNetV3-Large 0.44 →
// 0.40 ms), MobileNetV3-Small at batch 8 (~22 M) 9%; ResNet50 (51 M each, batch 1) lost 11% and
// 17% at batch 8, and the other batch-8 models (60–120 M) 2–8%: past a few tens of millions the
// tiled GEMM's reuse through workgroup memory is worth more than the sum dispatch costs.
const MAX_GROUP_SPLIT_MACS = 2 ** 25;

function splitCount(groups: number, tiles: number, K: number, BK: number): number {
  if (groups !== 1 || tiles >= WANTED_WORKGROUPS) return 1;
  const steps = Math.ceil(K / BK);
  return Math.max(1, Math.min(MAX_SPLIT, Math.ceil(WANTED_WORKGROUPS / tiles), Math.floor(steps / MIN_STEPS_PER_SPLIT)));
}

/** Workgroup tile (BM pixels × BN channels × BK taps) and per-thread block (TM pixels × TN
 *  channels, multiples of 4); BM/TM · BN/TN threads, each staging one vec4 of B per K step. */
interface Tiling { BM: number; BN: number; BK: number; TM: number; TN: number }

/** The tiling of a conv with these output channels per group, M pixels and K taps per output;
 *  `forceLarge` (ctx.convTiles, tests): the large form wherever it can run (groups = 1). */
function tiling(groups: number, COG: number, M: number, K: number, forceLarge: boolean): Tiling {
  const BN = COG > 32 ? 64 : COG > 16 ? 32 : 16;
  const small = { BM: 64, BN, BK: 16, TM: 4, TN: 4 };
  // The large form: 8×8 per thread does 64 FMAs per 4 vec4s read from workgroup memory (4×4:
  // 16 per 2), and each element staged from global memory serves 128 outputs instead of 64, so
  // it needs half the loads per FLOP of both memories. BK = 8 keeps its two 128×8 tiles,
  // double-buffered, at 16 KiB (WebGPU's default limit, which the 64×64×16 form also uses).
  // Its cost: a quarter of the workgroups, each of 256 threads with twice the registers (64
  // accumulators), so about 2 resident per SM instead of 4. So it is taken only where the
  // grid stays full without split-K (which it never uses: partials would add back the traffic it
  // saves): when the 64×64 grid has ≥ 2·WANTED_WORKGROUPS workgroups, the 128×128 grid has
  // ≥ 256, about two per SM of a 132-SM GPU, a whole wave at that occupancy. Output channels
  // ≥ 128 keep its columns full; groups = 1 keeps grouped convs (small COG) on the small form.
  // Batch-1 224² classifiers stay small: ResNet50's largest grid there is 196 workgroups.
  // K ≥ LARGE_MIN_K: with fewer than 16 of its 8-deep steps the bigger prologue and epilogue
  // aren't paid back. Measured on an H200: ResNet50 at batch 8, whose only big-grid convs are
  // 1×1 from 64 channels, lost ~50 µs of 3.26 ms with them large; multistyle26 at 1024² (its
  // 3×3 convs from 128 channels at 256²) gained ~5% of GPU time (5.3–6.3 vs 5.8–6.3 ms over
  // three alternating runs of each build).
  const large = groups === 1 && (forceLarge || (COG >= 128 && K >= LARGE_MIN_K
    && Math.ceil(M / 64) * Math.ceil(pad4(COG) / 64) >= 2 * WANTED_WORKGROUPS));
  return large ? { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 } : small;
}

export function conv2dGemm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const geometry = windowGeometry(op, ctx);
  const { N, C, OH, OW, CO, KH, KW, SH, SW, PT, PL } = geometry;
  if (ctx.int8 && int8Eligible(op, ctx, ctx.int8 === 'emulated')) return conv2dInt8(op, ctx, ctx.int8);
  const G: number = a.groups;
  const CIG = C / G;
  const COG = CO / G;
  const N4 = pad4(COG) / 4;               // vec4 columns per weight row
  const M = N * OH * OW;
  const K = KH * KW * CIG;
  const { BM, BN, BK, TM, TN } = tiling(G, COG, M, K, ctx.convTiles === 'large');
  const large = TM > 4;
  const TX = BN / TN;                     // threads along a tile row; BM / TM along a column
  const RY = BM / TM;
  const THREADS = RY * TX;
  const BC = BN / 4;                      // vec4 columns of the B tile: one per thread per k row
  const KV = BK / 4;                      // vec4s of A per pixel per K step (vecA)
  const mTiles = Math.ceil(M / BM);
  const nTiles = Math.ceil(N4 * 4 / BN);
  const vecA = CIG % 4 === 0;             // 4 consecutive k share one tap: one vec4 load
  const aligned = COG % 4 === 0;          // a vec4 of output channels never straddles groups
  const x = new RowTensor('x', C, vecA);
  const y = new RowTensor('y', CO, aligned);
  const res = a.residual ? new RowTensor('res', CO, aligned) : null;
  const S = large ? 1 : splitCount(G, mTiles * nTiles, K, BK);
  const kChunk = Math.ceil(Math.ceil(K / BK) / S) * BK;   // K range of one split, whole steps
  const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && PT === 0 && PL === 0;
  const scaled = a.input_scale === true;
  const affine = a.input_affine === true;
  // Rather than partials and a sum dispatch, a small 1×1 conv in vec4s splits K inside the workgroup.
  if (ctx.splitKInWorkgroup && S > 1 && pointwise && G === 1 && vecA && aligned && M * K * CO <= MAX_GROUP_SPLIT_MACS) {
    return [pointwiseGroupSplit(op, ctx, { M, K, CO, OHW: OH * OW })];
  }

  const A_HALF = BK * BM / 4;             // vec4s of one half of As / Bs
  const B_HALF = BK * BN / 4;
  // Each thread stages the same pixels of the A tile at every K step (im2col.ts).
  const aPerThread = vecA ? BM * BK / 4 / THREADS : BM * BK / THREADS;
  const pixelOf = (r: number) => vecA ? `lid / ${u32(KV)} + ${u32(r * THREADS / KV)}` : `lid % ${u32(BM)}`;
  const kOf = (r: number) => vecA ? `(lid % ${u32(KV)}) * 4u` : `lid / ${u32(BM)} + ${u32(r * THREADS / BM)}`;
  // pg: where the pixel's image's gate row starts (input_scale).
  const gateRow = { name: 'pg', type: 'u32', value: (pm: string) => `(${pm} / ${u32(OH * OW)}) * ${u32(vecA ? C / 4 : C)}` };
  const { privates, setup: pixelSetup } = stagedPixels(vecA ? aPerThread : 1, pixelOf, M, geometry, pointwise,
    scaled ? [gateRow] : []);
  // Global → registers for the A element(s) of slot r at K offset k; padding taps read 0.
  const fetchA = (r: number, k: string) => {
    const p = vecA ? r : 0;
    const channel = vecA ? `(g * ${u32(CIG)} + ci) / 4u` : `g * ${u32(CIG)} + ci`;
    const load = `x[row * ${u32(vecA ? C / 4 : C)} + ${channel}]`;
    const read = `${affine ? `${vecA ? 'pre4' : 'pre1'}(${load}, ${channel})` : load}${scaled ? ` * gate[pg${p} + ${channel}]` : ''}`;
    const zero = vecA ? 'vec4<f32>(0.0)' : '0.0';
    const body = pointwise ? `let row = pm${p}; let ci = k; ra[${r}] = ${read};`
      : tapRead(p, CIG, geometry, `ra[${r}] = ${read};`);
    return `{ let k = ${k} + ${kOf(r)}; ra[${r}] = ${zero};
      if (pv${p} && k < ${u32(K)}) { ${body} } }`;
  };
  const fetchFn = `fn fetch(k0: u32, g: u32, bc: u32, lid: u32) {
  ${Array.from({ length: aPerThread }, (_, r) => fetchA(r, 'k0')).join('\n  ')}
  { let k = k0 + lid / ${u32(BC)};
    rb = select(vec4<f32>(0.0), w4_weight((g * ${u32(K)} + min(k, ${u32(K - 1)})) * ${u32(N4)} + min(bc, ${u32(N4 - 1)})),
                k < ${u32(K)} && bc < ${u32(N4)}); }
}`;
  // Registers → workgroup memory half `buf`. As holds 4 consecutive pixels per vec4, so the
  // inner loop reads a thread's 4 pixels with one load.
  const storeA = (r: number, buf: string) => vecA
    ? `for (var j = 0u; j < 4u; j++) { let i = ${buf} * ${u32(A_HALF)} + ((lid % ${u32(KV)}) * 4u + j) * ${u32(BM / 4)} + (${pixelOf(r)}) / 4u;
      As[i][(${pixelOf(r)}) % 4u] = ra[${r}][j]; }`
    : `{ let i = ${buf} * ${u32(A_HALF)} + (${kOf(r)}) * ${u32(BM / 4)} + (${pixelOf(r)}) / 4u;
      As[i][(${pixelOf(r)}) % 4u] = ra[${r}]; }`;
  const store = (buf: string) => `${Array.from({ length: aPerThread }, (_, r) => storeA(r, buf)).join('\n    ')}
    Bs[${buf} * ${u32(B_HALF)} + lid] = rb;`;
  const bias = aligned
    ? `w4_bias(g * ${u32(COG / 4)} + col4)`
    : `vec4<f32>(w1_bias(co), w1_bias(co + 1u), w1_bias(co + 2u), w1_bias(co + 3u))`;
  const { decls, args } = weightedOpBindings(op, x, y, res, ctx.precision);
  const gateArg: Arg = { kind: 'tensor', name: op.inputs[op.inputs.length - 1] };
  const gateDecl = (binding: number) => scaled
    ? `@group(0) @binding(${binding}) var<storage, read> gate: array<${vecA ? 'vec4<f32>' : 'f32'}>;` : '';
  // The prologue's weights come last, after the gate's binding where there is one.
  const affineAt = (binding: number) => inputAffine(op, binding + (scaled ? 1 : 0), ctx.precision);
  const partials = { kind: 'scratch' as const, id: PARTIALS, bytes: S * M * N4 * 16 };
  // acc[(4i + p)·TN/4 + j]: pixel p of the thread's quad i, its channel vec4 j (unrolled, so that
  // acc is indexed by constants only and stays in registers).
  const quads = TM / 4;
  const cols = TN / 4;
  const perColumn = (j: number, line: (m: string, v: string) => string) => `
  { let col4 = c40 + tx + ${u32(j * TX)};
    if (col4 < ${u32(N4)}) {${S > 1 ? '' : `
      let co = g * ${u32(COG)} + col4 * 4u;
      let b = ${bias};`}
      ${Array.from({ length: TM }, (_, q) => line(`m0 + ty * 4u + ${u32(Math.floor(q / 4) * RY * 4 + q % 4)}`,
        `acc[${q * cols + j}]`)).join('\n      ')}
    } }`;
  const epilogue = Array.from({ length: cols }, (_, j) => perColumn(j, S > 1
    ? (m, v) => `keep(${m}, col4, split, ${v});`
    : (m, v) => `finish(${m}, co, col4 * 4u, ${v} + b);`)).join('');
  const outFn = S > 1 ? `fn keep(m: u32, col4: u32, split: u32, v: vec4<f32>) {
  if (m < ${u32(M)}) { part[(split * ${u32(M)} + m) * ${u32(N4)} + col4] = v; }
}` : `fn finish(m: u32, co: u32, cg: u32, acc: vec4<f32>) {
  if (m >= ${u32(M)}) { return; }
  var v = acc;
  ${res ? residualCode(op, 'ld_res(m, co)') : ''}
  ${activationCode(a.activations, 'v')}
  ${aligned ? 'st_y(m, co, v);' : `st_y_group(m, co, cg, v);`}
}`;
  const fma = Array.from({ length: quads }, (_, i) => Array.from({ length: 4 }, (_, p) => Array.from({ length: cols },
    (_, j) => `acc[${(4 * i + p) * cols + j}] += a${i}.${'xyzw'[p]} * b${j};`).join(' ')).join('\n      ')).join('\n      ');
  const source = `// conv2d tile ${BM}x${BN}x${BK}, ${TM}x${TN} per thread
${S > 1 ? `${x.decl(0, false)}
${weightDecl(1, 'weight', ctx.precision)}
@group(0) @binding(2) var<storage, read_write> part: array<vec4<f32>>;
${gateDecl(3)}
${affineAt(3)?.decls ?? ''}` : `${decls}
${gateDecl(args.length)}
${affineAt(args.length)?.decls ?? ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}`}
// Two halves each: the next K step's tiles are fetched into registers while this one's are used.
var<workgroup> As: array<vec4<f32>, ${2 * A_HALF}>;
var<workgroup> Bs: array<vec4<f32>, ${2 * B_HALF}>;
var<private> ra: array<${vecA ? 'vec4<f32>' : 'f32'}, ${aPerThread}>;
var<private> rb: vec4<f32>;
${privates}

${fetchFn}

${outFn}

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
  let bc = c40 + lid % ${u32(BC)};
  ${pixelSetup}
  var acc: array<vec4<f32>, ${TM * TN / 4}>;
  fetch(kBegin, g, bc, lid);
  var buf = 0u;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${u32(BK)}) {
    ${store('buf')}
    workgroupBarrier();
    // Halves alternate, so a thread still reading the other half can't be overwritten: the
    // next store into it comes after the next barrier.
    if (k0 + ${u32(BK)} < kEnd) { fetch(k0 + ${u32(BK)}, g, bc, lid); }
    let aBase = buf * ${u32(A_HALF)} + ty;
    let bBase = buf * ${u32(B_HALF)} + tx;
    for (var kk = 0u; kk < ${u32(BK)}; kk++) {
      ${Array.from({ length: quads }, (_, i) => `let a${i} = As[aBase + kk * ${u32(BM / 4)} + ${u32(i * RY)}];`).join(' ')}
      ${Array.from({ length: cols }, (_, j) => `let b${j} = Bs[bBase + kk * ${u32(BC)} + ${u32(j * TX)}];`).join(' ')}
      ${fma}
    }
    buf = 1u - buf;
  }
  ${epilogue}
}
${aligned || S > 1 ? '' : `fn st_y_group(m: u32, co: u32, cg: u32, v: vec4<f32>) {
  for (var j = 0u; j < 4u; j++) { if (cg + j < ${u32(COG)}) { y[m * ${u32(CO)} + co + j] = v[j]; } }
}`}`;
  const extraArgs = (binding: number): Arg[] => [...(scaled ? [gateArg] : []), ...(affineAt(binding)?.args ?? [])];
  if (S === 1) return [{ label: op.name, source, workgroups: G * mTiles * nTiles, args: [...args, ...extraArgs(args.length)] }];
  const gemmArgs: Arg[] = [args[0], args[1], partials, ...extraArgs(3)];
  return [{ label: `${op.name}:split-k`, source, workgroups: S * mTiles * nTiles, args: gemmArgs },
    splitKReduce(op, ctx, partials, S, M, CO, y, res)];
}
