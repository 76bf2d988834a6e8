// conv2d in int8 on the GPU's matrix units, for the convs the compiler marked `int8` (a QDQ
// network's convs: compiler/passes/int8_convs.py): an implicit GEMM in NHWC like conv2d.ts, with
// rows = output pixels, columns = output channels, K = KH·KW·Cin taps.
//
// Three dispatches' worth of work:
// - once, when the call is prepared: the weights (stored as floats that are int8 numbers times a
//   scale per output channel) divided by that scale and packed as int8, one row of K taps per
//   output channel: the matrix units take the right-hand matrix column by column, and a
//   row-major int8 one has to be transposed byte by byte as it is loaded;
// - per call, per input tensor (shared by the convs that read it): the input packed as int8 on
//   its fake_quant's grid (x / s + zero point, less qmin + 128 so that uint8 grids fit int8 too);
// - the conv: each K step of BK taps (64 or 128: tiling) copies a BM×BK tile of the packed
//   input and a BN×BK tile of the packed weights into workgroup memory; each subgroup
//   multiplies its FM×FN fragments of 16×16 outputs with `subgroupMatrixMultiplyAccumulate`
//   (chromium-experimental-subgroup-matrix, i8 → i32 at 16×16×32), exactly, in i32. The sums go
//   through workgroup memory to the epilogue: × int8_dequant[c] (s_x·s_w) + int8_bias (the
//   bias with the zero-point shift taken out), then residual and activations as conv2d.ts does.
//   Small grids split K (split_k.ts adds the partials up). No scale is baked into the conv's
//   source, so convs of one shape share one pipeline (each is a compile at load).
//
// Measured on an H100 with the staging in the conv itself (quantising floats as it loaded
// them), that staging alone took ResNet50's int8 convs as long as the float convs take whole:
// the tiles were read as f32 (4 bytes a value) and quantised once per workgroup that read them.
//
// `emulated` replaces the three matrix builtins by plain WGSL over the same workgroup tiles, so
// that everything else is checked on devices without matrix units, SwiftShader included.

import { activationCode, residualCode, elementIndex, ENTRY_PARAMS, RowTensor, u32, f32, weightDecl, windowGeometry, WORKGROUP_INDEX,
  pad4, type Arg, type Int8Matrices, type KernelDispatch, type OpContext } from './common';
import { stagedPixels, tapRead } from './im2col';
import { PARTIALS, splitKReduce } from './split_k';
import type { OpSpec } from '../manifest';

const FRAG = 16;          // a fragment: 16×16 outputs (the matrix configuration's M and N)
const MMA_K = 32;         // taps per multiply (its K)
const SUBGROUP = 32;      // threads per subgroup
const PAD = 16;           // bytes after each staged row, so that rows start on other banks
const WANTED_WORKGROUPS = 264;  // two per SM of a 132-SM GPU
const MAX_SPLIT = 16;
const MIN_STEPS_PER_SPLIT = 2;
const PACK_THREADS = 64;

interface Grid { scale: number; zero_point: number; qmin: number; qmax: number }

// Where the integer kernel pays, measured on an H100 against the same QDQ networks' convs in
// floats (docs/benchmarks.md, "Eleventh engine run"): convs with fewer taps than a K step
// (MobileNetV2's 1×1 convs from 16 or 32 channels: 34 → 51 µs at batch 8) or under ~30 M
// multiply-adds (MobileNetV2's at batch 1: 12–14 → 19 µs, a split-K sum and an input pack for
// little work) run slower; ResNet50's, from 51 M up, 1.6–3.4× faster.
const INT8_MIN_TAPS = 128;
const INT8_MIN_MACS = 2 ** 25;

/** Can this conv take the int8 kernel? Channels must come in fours (one packed word = 4 taps of
 *  one pixel, or 4 output channels). With `everywhere` (the plain-WGSL stand-in, tests) that is
 *  all; on matrix units it must also be big enough to pay. */
export function int8Eligible(op: OpSpec, ctx: OpContext, everywhere: boolean): boolean {
  const { N, C, OH, OW, CO, KH, KW } = windowGeometry(op, ctx);
  const K = KH * KW * C;
  return op.attrs.int8 != null && op.attrs.groups === 1 && C % 4 === 0 && CO % 4 === 0
    && op.weights.int8_scale != null && op.weights.int8_dequant != null && op.weights.int8_bias != null
    && !op.attrs.input_scale
    && (everywhere || (K >= INT8_MIN_TAPS && N * OH * OW * K * CO >= INT8_MIN_MACS));
}

/** Subgroups laid out SM × SN over the tile, each with FM × FN fragments; BK taps per step. */
interface Int8Tiling { SM: number; SN: number; FM: number; FN: number; BK: number }

const tileBytes = (t: Omit<Int8Tiling, 'BK'>, BK: number) => {
  const BM = t.SM * t.FM * FRAG;
  const BN = t.SN * t.FN * FRAG;
  return Math.max((BM + BN) * (BK + PAD), BM * BN * 4);
};

/** 64×64 tiles (each subgroup 2×2 fragments) where they make two workgroups per SM, else 32×32
 *  (one each); `forceLarge` (ctx.convTiles, tests): 64×64 always. K steps of 64 taps on the big
 *  tiles and 128 on the small (as workgroup memory allows): on an H100, ResNet50-int8 at batch
 *  8 took 1.55–1.57 ms with 64 there against 1.64–1.65 with 128 (half the workgroup memory, more
 *  workgroups resident); on the small tiles, which split K, 128 was ~3% faster at batch 1. Tiles
 *  of 64×128 or 128×64 (2×4 or 4×2 fragments a subgroup) took 1.83–1.84 ms. */
function tiling(M: number, CO: number, forceLarge: boolean, storageBytes: number): Int8Tiling {
  const tiles = Math.ceil(M / 64) * Math.ceil(CO / 64);
  const large = forceLarge || tiles >= WANTED_WORKGROUPS;
  const shape = large ? { SM: 2, SN: 2, FM: 2, FN: 2 } : { SM: 2, SN: 2, FM: 1, FN: 1 };
  const BK = (large ? [64, 32] : [128, 64, 32]).find((bk) => tileBytes(shape, bk) <= storageBytes) ?? MMA_K;
  return { ...shape, BK };
}

/** The byte every quantised value of an input on this grid is stored as, for a real 0. */
const zeroByte = (q: Grid) => q.zero_point - q.qmin - 128;

/** Once: the weights as int8, a row of K16·16 taps (K padded to 16) per output channel, rows
 *  padded to a multiple of 16 channels, as vec4<u32> of 16 taps. */
function packWeights(op: OpSpec, ctx: OpContext, K: number, CO: number, packed: Arg): KernelDispatch {
  const CO4 = pad4(CO);
  const K16 = Math.ceil(K / 16);
  const total = Math.ceil(CO / 16) * 16 * K16;
  const word = (i: number) => `pack4xI8(vec4<i32>(${[0, 1, 2, 3].map((j) => `tap(k + ${u32(4 * i + j)}, c)`).join(', ')}))`;
  const source = `
${weightDecl(0, 'weight', ctx.precision)}
${weightDecl(1, 'scale', ctx.precision)}
@group(0) @binding(2) var<storage, read_write> wq: array<vec4<u32>>;

fn tap(k: u32, c: u32) -> i32 {
  if (k >= ${u32(K)} || c >= ${u32(CO)}) { return 0; }
  return i32(clamp(round(w1_weight(k * ${u32(CO4)} + c) / w1_scale(c)), -127.0, 127.0));
}

@compute @workgroup_size(${PACK_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(PACK_THREADS, total)}
  let c = t / ${u32(K16)};
  let k = (t % ${u32(K16)}) * 16u;
  wq[t] = vec4<u32>(${[0, 1, 2, 3].map(word).join(', ')});
}`;
  return { label: `${op.name}:int8 weights`, source, workgroups: Math.ceil(total / PACK_THREADS), once: true,
    args: [{ kind: 'weight', slice: op.weights.weight }, { kind: 'weight', slice: op.weights.int8_scale }, packed] };
}

/** Per call: the input as int8 on its grid, 4 channels a word, rows of C/4 words. */
function packInput(tensor: string, q: Grid, M: number, C: number, packed: Arg): KernelDispatch {
  const total = M * C / 4;
  const source = `
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> xq: array<u32>;

@compute @workgroup_size(${PACK_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(PACK_THREADS, total)}
  let v = clamp(round(x[t] * ${f32(1 / q.scale)}) + ${f32(q.zero_point)}, vec4<f32>(${f32(q.qmin)}), vec4<f32>(${f32(q.qmax)}));
  xq[t] = pack4xI8(vec4<i32>(v) - vec4<i32>(${q.qmin + 128}));
}`;
  return { label: `${tensor}:int8 input`, source, workgroups: Math.ceil(total / PACK_THREADS),
    args: [{ kind: 'tensor', name: tensor }, packed], key: (packed as { id: string }).id };
}

export function conv2dInt8(op: OpSpec, ctx: OpContext, mode: Int8Matrices): KernelDispatch[] {
  const a = op.attrs;
  const q = a.int8 as Grid;
  const geometry = windowGeometry(op, ctx);
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, PT, PL } = geometry;
  const M = N * OH * OW;
  const K = KH * KW * C;
  const N4 = pad4(CO) / 4;
  const K16 = Math.ceil(K / 16);                // vec4<u32> (16 taps) per packed weight row
  const CO16 = Math.ceil(CO / 16) * 16;          // packed weight rows
  const { SM, SN, FM, FN, BK } = tiling(M, CO, ctx.convTiles === 'large', ctx.workgroupLimits.storageBytes);
  const THREADS = SM * SN * SUBGROUP;
  const BM = SM * FM * FRAG;
  const BN = SN * FN * FRAG;
  const A_STRIDE = BK + PAD;                     // bytes per staged pixel row
  const B_STRIDE = BK + PAD;                     // bytes per staged weight row (output channel)
  const B_BASE = BM * A_STRIDE / 4;              // where the weight tile starts, in i32 words
  const WORDS = tileBytes({ SM, SN, FM, FN }, BK) / 4;
  const mTiles = Math.ceil(M / BM);
  const nTiles = Math.ceil(CO / BN);
  const steps = Math.ceil(K / BK);
  const S = mTiles * nTiles >= WANTED_WORKGROUPS ? 1
    : Math.max(1, Math.min(MAX_SPLIT, Math.ceil(WANTED_WORKGROUPS / (mTiles * nTiles)), Math.floor(steps / MIN_STEPS_PER_SPLIT)));
  const kChunk = Math.ceil(steps / S) * BK;      // K range of one split, whole steps
  const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && PT === 0 && PL === 0;
  const y = new RowTensor('y', CO);
  const res = a.residual ? new RowTensor('res', CO) : null;

  const inputId = `int8 input ${op.inputs[0]} ${q.scale} ${q.zero_point} ${q.qmin}`;
  const packedInput: Arg = { kind: 'scratch', id: inputId, bytes: N * H * W * C };
  const packedWeights: Arg = { kind: 'scratch', id: `int8 weights ${op.name}`, bytes: CO16 * K16 * 16 };

  // Staging copies packed words: 16 taps of a pixel per vec4<u32> load when channels come in
  // 16s (a load never straddles two taps), else 4 per u32; and 16 taps of an output channel's
  // weights per load. A thread's load column in a row is the same at every step.
  const WPL = C % 16 === 0 ? 4 : 1;                // words per input load
  const LPR = BK / (4 * WPL);                      // input loads per tile row
  const A_PER = BM * LPR / THREADS;
  const B_PER = BN * (BK / 16) / THREADS;
  const pixelRow = (r: number) => `lid / ${u32(LPR)} + ${u32(r * THREADS / LPR)}`;
  const { privates, setup: pixelSetup } = stagedPixels(A_PER, pixelRow, M, geometry, pointwise);
  const wordType = WPL === 4 ? 'vec4<u32>' : 'u32';
  // Padding taps (and rows past M) hold a real 0 on the grid: int8_bias assumes every tap does.
  const zero = zeroByte(q) & 0xff;
  const padWord = `${u32((zero * 0x01010101) >>> 0)}`;
  const fetchA = (r: number) => {
    const body = pointwise ? `ra[${r}] = xq[(pm${r} * ${u32(C)} + k) / ${u32(4 * WPL)}];`
      : tapRead(r, C, geometry, `ra[${r}] = xq[(row * ${u32(C)} + ci) / ${u32(4 * WPL)}];`);
    return `{ ra[${r}] = ${wordType}(${padWord}); if (pv${r} && k < ${u32(K)}) { ${body} } }`;
  };
  const fetchB = (r: number) => `{ let n = n0 + lid / ${u32(BK / 16)} + ${u32(r * THREADS / (BK / 16))};
    let kq = k0 / 16u + lid % ${u32(BK / 16)};
    rb[${r}] = select(vec4<u32>(0u), wq[min(n, ${u32(CO16 - 1)}) * ${u32(K16)} + min(kq, ${u32(K16 - 1)})],
                      n < ${u32(CO16)} && kq < ${u32(K16)}); }`;
  const fetchFn = `fn fetch(k0: u32, n0: u32, lid: u32) {
  let k = k0 + (lid % ${u32(LPR)}) * ${u32(4 * WPL)};
  ${Array.from({ length: A_PER }, (_, r) => fetchA(r)).join('\n  ')}
  ${Array.from({ length: B_PER }, (_, r) => fetchB(r)).join('\n  ')}
}`;
  const storeWords = (at: string, v: string, n: number) => n === 1 ? `smem[${at}] = bitcast<i32>(${v});`
    : [0, 1, 2, 3].map((j) => `smem[${at} + ${u32(j)}] = bitcast<i32>(${v}[${j}]);`).join(' ');
  const storeFn = `fn stage(lid: u32) {
  ${Array.from({ length: A_PER }, (_, r) => `{ let at = (${pixelRow(r)}) * ${u32(A_STRIDE / 4)} + (lid % ${u32(LPR)}) * ${u32(WPL)};
    ${storeWords('at', `ra[${r}]`, WPL)} }`).join('\n  ')}
  ${Array.from({ length: B_PER }, (_, r) => `{ let n = lid / ${u32(BK / 16)} + ${u32(r * THREADS / (BK / 16))};
    let at = ${u32(B_BASE)} + n * ${u32(B_STRIDE / 4)} + (lid % ${u32(BK / 16)}) * 4u;
    ${storeWords('at', `rb[${r}]`, 4)} }`).join('\n  ')}
}`;

  const layout: Layout = { THREADS, BM, BN, BK, A_STRIDE, B_STRIDE, B_BASE, SN, FM, FN };
  const mma = mode === 'subgroup-matrix' ? matrixUnits(layout) : emulatedUnits(layout);

  // Epilogue: each thread finishes vec4s of channels of the tile from the i32 sums: scaled by
  // int8_dequant (s_x·s_w), then (unsplit) int8_bias, the residual and activations, or (split) kept as a partial.
  const OUT_PER = BM * BN / 4 / THREADS;
  const epilogue = Array.from({ length: OUT_PER }, (_, r) => `{ let e = lid + ${u32(r * THREADS)};
    let row = e / ${u32(BN / 4)}; let c4 = c40 + e % ${u32(BN / 4)}; let m = m0 + row;
    if (m < ${u32(M)} && c4 < ${u32(N4)}) {
      let o = row * ${u32(BN)} + (e % ${u32(BN / 4)}) * 4u;
      let sum = vec4<f32>(vec4<i32>(smem[o], smem[o + 1u], smem[o + 2u], smem[o + 3u]));
      ${S > 1 ? `part[(split * ${u32(M)} + m) * ${u32(N4)} + c4] = sum * w4_dequant(c4);` : `
      var v = sum * w4_dequant(c4) + w4_bias(c4);
      ${res ? residualCode(op, 'ld_res(m, c4 * 4u)') : ''}
      ${activationCode(a.activations, 'v')}
      st_y(m, c4 * 4u, v);`}
    } }`).join('\n  ');

  const bindings = S > 1
    ? `@group(0) @binding(3) var<storage, read_write> part: array<vec4<f32>>;`
    : `${weightDecl(3, 'bias', ctx.precision)}
${y.decl(4, true)}
${res ? res.decl(5, false) : ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}`;
  const source = `// conv2d int8 ${mode} tile ${BM}x${BN}x${BK}${S > 1 ? `, K split ${S} ways` : ''}
${mma.enable}
@group(0) @binding(0) var<storage, read> xq: array<${wordType}>;
@group(0) @binding(1) var<storage, read> wq: array<vec4<u32>>;
${weightDecl(2, 'dequant', ctx.precision)}
${bindings}
// The staged tiles, then (after the K loop) the i32 sums, in one array.
var<workgroup> smem: array<i32, ${WORDS}>;
var<private> ra: array<${wordType}, ${A_PER}>;
var<private> rb: array<vec4<u32>, ${B_PER}>;
${privates}

${fetchFn}

${storeFn}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(S * mTiles * nTiles)}) { return; }
  let split = wg / ${u32(mTiles * nTiles)};
  let kBegin = split * ${u32(kChunk)};
  let kEnd = min(kBegin + ${u32(kChunk)}, ${u32(K)});
  let tn = wg % ${u32(nTiles)};
  let m0 = ((wg / ${u32(nTiles)}) % ${u32(mTiles)}) * ${u32(BM)};
  let c40 = tn * ${u32(BN / 4)};
  let n0 = tn * ${u32(BN)};
  ${pixelSetup}
  ${mma.setup}
  fetch(kBegin, n0, lid);
  for (var k0 = kBegin; k0 < kEnd; k0 += ${u32(BK)}) {
    stage(lid);
    workgroupBarrier();
    if (k0 + ${u32(BK)} < kEnd) { fetch(k0 + ${u32(BK)}, n0, lid); }
    ${mma.step}
    workgroupBarrier();   // before the next stage overwrites the tiles
  }
  ${mma.finish}
  workgroupBarrier();
  ${epilogue}
}`;
  const args: Arg[] = [packedInput, packedWeights, { kind: 'weight', slice: op.weights.int8_dequant }];
  const packs = [packWeights(op, ctx, K, CO, packedWeights), packInput(op.inputs[0], q, N * H * W, C, packedInput)];
  if (S === 1) {
    args.push({ kind: 'weight', slice: op.weights.int8_bias }, { kind: 'tensor', name: op.outputs[0] });
    if (res) args.push({ kind: 'tensor', name: op.inputs[1] });
    return [...packs, { label: `${op.name}:int8`, source, workgroups: mTiles * nTiles, args }];
  }
  const partials: Arg = { kind: 'scratch', id: PARTIALS, bytes: S * M * N4 * 16 };
  // The sum dispatch adds int8_bias where a float conv's adds its bias.
  const finishing = { ...op, weights: { ...op.weights, bias: op.weights.int8_bias } };
  return [...packs, { label: `${op.name}:int8 split-k`, source, workgroups: S * mTiles * nTiles, args: [...args, partials] },
    splitKReduce(finishing, ctx, partials, S, M, CO, y, res)];
}

interface Layout { THREADS: number; BM: number; BN: number; BK: number; A_STRIDE: number; B_STRIDE: number;
  B_BASE: number; SN: number; FM: number; FN: number }

/** The MMA on the matrix units: subgroup `sg` owns fragments (sm·FM + i, sn·FN + j). Offsets and
 *  strides of int8 matrices count bytes; of the i32 sums, words. */
function matrixUnits(l: Layout) {
  const left = `subgroup_matrix_left<i8, ${MMA_K}, ${FRAG}>`;
  const right = `subgroup_matrix_right<i8, ${FRAG}, ${MMA_K}>`;
  const result = `subgroup_matrix_result<i32, ${FRAG}, ${FRAG}>`;
  const frags = [...Array(l.FM).keys()].flatMap((i) => [...Array(l.FN).keys()].map((j) => [i, j] as const));
  const slices = [...Array(l.BK / MMA_K).keys()];
  return {
    // Which subgroup a thread is in is uniform over the subgroup, which WGSL's (workgroup)
    // uniformity analysis can't see.
    enable: 'enable subgroups;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);',
    setup: `let sg = lid / ${u32(SUBGROUP)};
  let fragRow = (sg / ${u32(l.SN)}) * ${u32(l.FM * FRAG)};
  let fragCol = (sg % ${u32(l.SN)}) * ${u32(l.FN * FRAG)};
  ${frags.map(([i, j]) => `var acc${i}${j} = ${result}();`).join(' ')}`,
    step: slices.map((s) => `{
      ${[...Array(l.FM).keys()].map((i) => `let l${i} = subgroupMatrixLoad<${left}>(&smem, ${u32((i * FRAG * l.A_STRIDE) + s * MMA_K)} + fragRow * ${u32(l.A_STRIDE)}, false, ${u32(l.A_STRIDE)});`).join('\n      ')}
      ${[...Array(l.FN).keys()].map((j) => `let r${j} = subgroupMatrixLoad<${right}>(&smem, ${u32(l.B_BASE * 4 + j * FRAG * l.B_STRIDE + s * MMA_K)} + fragCol * ${u32(l.B_STRIDE)}, true, ${u32(l.B_STRIDE)});`).join('\n      ')}
      ${frags.map(([i, j]) => `acc${i}${j} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, acc${i}${j});`).join('\n      ')}
    }`).join('\n    '),
    finish: frags.map(([i, j]) => `subgroupMatrixStore(&smem, (fragRow + ${u32(i * FRAG)}) * ${u32(l.BN)} + fragCol + ${u32(j * FRAG)}, acc${i}${j}, false, ${u32(l.BN)});`).join('\n  '),
  };
}

/** The same tile product in plain WGSL: thread `lid` sums the vec4s of channels the epilogue will
 *  read, 4 taps at a time (one packed word of the pixel's, one of each channel's). */
function emulatedUnits(l: Layout) {
  const OUT_PER = l.BM * l.BN / 4 / l.THREADS;
  return {
    enable: '',
    setup: `var sums: array<vec4<i32>, ${OUT_PER}>;`,
    step: `for (var r = 0u; r < ${u32(OUT_PER)}; r++) {
      let e = lid + r * ${u32(l.THREADS)};
      let aRow = (e / ${u32(l.BN / 4)}) * ${u32(l.A_STRIDE / 4)};
      let bRow = ${u32(l.B_BASE)} + (e % ${u32(l.BN / 4)}) * ${u32(4 * l.B_STRIDE / 4)};
      for (var kw = 0u; kw < ${u32(l.BK / 4)}; kw++) {
        let taps = bitcast<u32>(smem[aRow + kw]);
        for (var j = 0u; j < 4u; j++) {
          sums[r][j] += dot4I8Packed(taps, bitcast<u32>(smem[bRow + j * ${u32(l.B_STRIDE / 4)} + kw]));
        }
      }
    }`,
    finish: `for (var r = 0u; r < ${u32(OUT_PER)}; r++) {
    let e = lid + r * ${u32(l.THREADS)};
    let o = (e / ${u32(l.BN / 4)}) * ${u32(l.BN)} + (e % ${u32(l.BN / 4)}) * 4u;
    smem[o] = sums[r].x; smem[o + 1u] = sums[r].y; smem[o + 2u] = sums[r].z; smem[o + 3u] = sums[r].w;
  }`,
  };
}
