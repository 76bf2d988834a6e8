// conv2d in int8 on the GPU's matrix units, for the convs the compiler marked `int8` (a QDQ
// network's convs: compiler/passes/int8_convs.py): an implicit GEMM in NHWC like conv2d.ts, with
// rows = output pixels, columns = output channels, K = KH·KW·Cin taps.
//
// Each K step of 32 taps stages a BM×32 tile of the input and a 32×BN tile of the weights into
// workgroup memory as int8, quantising as it loads (the input with its fake_quant's scale and zero
// point, shifted into int8's range; the weights with their per-channel scale: they are stored as
// floats that are int8 numbers times it). Each subgroup multiplies its FM×FN fragments of 16×16
// outputs with `subgroupMatrixMultiplyAccumulate` (chromium-experimental-subgroup-matrix, the
// i8 → i32 16×16×32 configuration), accumulating in i32: exact. The fragments go through
// workgroup memory to the epilogue, which scales by s_x·s_w[c], adds int8_bias (the bias with
// the zero-point shift taken out) and applies the residual and activations as conv2d.ts does.
//
// `emulated` replaces the three matrix builtins by plain WGSL over the same workgroup tiles, so
// that everything else (staging, quantisation, the epilogue) is checked on devices without
// matrix units, SwiftShader included.
//
// Like conv2d.ts, the next K step is fetched into registers while the current one is multiplied.

import { activationCode, ENTRY_PARAMS, RowTensor, u32, f32, weightDecl, windowGeometry, WORKGROUP_INDEX, pad4,
  type Arg, type Int8Matrices, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';

const FRAG = 16;          // a fragment: 16×16 outputs (the matrix configuration's M and N)
const BK = 32;            // taps per K step (its K)
const SUBGROUP = 32;      // threads per subgroup; the workgroup is 4 subgroups
const SUBGROUPS = 4;
const THREADS = SUBGROUP * SUBGROUPS;
const A_STRIDE = BK + 16; // bytes per staged pixel row: padded so that rows start on other banks
const WANTED_WORKGROUPS = 264;  // two per SM of a 132-SM GPU

/** Can this conv take the int8 kernel? Channels must come in fours (one packed word = 4 taps of
 *  one pixel, or 4 output channels). */
export function int8Eligible(op: OpSpec, C: number, CO: number): boolean {
  return op.attrs.int8 != null && op.attrs.groups === 1 && C % 4 === 0 && CO % 4 === 0
    && op.weights.int8_scale != null && op.weights.int8_bias != null && !op.attrs.input_scale;
}

/** Subgroups laid out SM × SN over the tile, each with FM × FN fragments. */
interface Int8Tiling { SM: number; SN: number; FM: number; FN: number }

/** 64×64 tiles where they still make two workgroups per SM, else 32×32; `forceLarge`
 *  (ctx.convTiles, tests): 64×64 always. */
function tiling(M: number, CO: number, forceLarge: boolean): Int8Tiling {
  const tiles = Math.ceil(M / 64) * Math.ceil(CO / 64);
  return forceLarge || tiles >= WANTED_WORKGROUPS ? { SM: 2, SN: 2, FM: 2, FN: 2 } : { SM: 2, SN: 2, FM: 1, FN: 1 };
}

export function conv2dInt8(op: OpSpec, ctx: OpContext, mode: Int8Matrices): KernelDispatch {
  const a = op.attrs;
  const q = a.int8 as { scale: number; zero_point: number; qmin: number; qmax: number };
  const { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, DH, DW, PT, PL } = windowGeometry(op, ctx);
  const M = N * OH * OW;
  const K = KH * KW * C;
  const N4 = pad4(CO) / 4;
  const { SM, SN, FM, FN } = tiling(M, CO, ctx.convTiles === 'large');
  const BM = SM * FM * FRAG;
  const BN = SN * FN * FRAG;
  const B_STRIDE = BN + 16;                      // bytes per staged weight row (k)
  const A_WORDS = BM * A_STRIDE / 4;             // one half of the input tile, in i32 words
  const B_WORDS = BK * B_STRIDE / 4;
  const C_WORDS = BM * BN;
  const WORDS = Math.max(2 * (A_WORDS + B_WORDS), C_WORDS);
  const B_BASE = 2 * A_WORDS;                    // where the weight halves start, in words
  const mTiles = Math.ceil(M / BM);
  const nTiles = Math.ceil(CO / BN);
  const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && PT === 0 && PL === 0;
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', CO);
  const res = a.residual ? new RowTensor('res', CO) : null;

  // Staging: a thread packs A_PER words of the input tile (4 taps of one pixel each: its column
  // of words `lid % 8` is the same at every step) and B_PER of the weights (4 channels at one
  // tap, its channel quad `lid % (BN/4)` the same at every step).
  const A_PER = BM * (BK / 4) / THREADS;
  const B_PER = BK * (BN / 4) / THREADS;
  const pixelRow = (r: number) => `lid / 8u + ${u32(r * THREADS / 8)}`;
  const pixelSetup = Array.from({ length: A_PER }, (_, r) => `
  pm${r} = m0 + ${pixelRow(r)};
  pv${r} = pm${r} < ${u32(M)};${pointwise ? '' : `
  pb${r} = (pm${r} / ${u32(OH * OW)}) * ${u32(H * W)};
  py${r} = i32(((pm${r} % ${u32(OH * OW)}) / ${u32(OW)}) * ${u32(SH)}) - ${PT};
  px${r} = i32((pm${r} % ${u32(OW)}) * ${u32(SW)}) - ${PL};`}`).join('');
  const privates = Array.from({ length: A_PER }, (_, r) => `var<private> pm${r}: u32; var<private> pv${r}: bool;${
    pointwise ? '' : ` var<private> pb${r}: u32; var<private> py${r}: i32; var<private> px${r}: i32;`}`).join('\n');
  // A padding tap reads 0, which quantises like any 0 (int8_bias assumes every tap does).
  const fetchA = (r: number) => {
    const body = pointwise ? `ra[${r}] = x[pm${r} * ${u32(C / 4)} + k / 4u];` : `
      let tap = k / ${u32(C)}; let ci = k % ${u32(C)};
      let iy = py${r} + i32((tap / ${u32(KW)}) * ${u32(DH)});
      let ix = px${r} + i32((tap % ${u32(KW)}) * ${u32(DW)});
      if (iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W}) {
        ra[${r}] = x[(pb${r} + u32(iy) * ${u32(W)} + u32(ix)) * ${u32(C / 4)} + ci / 4u];
      }`;
    return `{ ra[${r}] = vec4<f32>(0.0); if (pv${r} && k < ${u32(K)}) { ${body} } }`;
  };
  const fetchB = (r: number) => `{ let kb = k0 + lid / ${u32(BN / 4)} + ${u32(r * THREADS / (BN / 4))};
    rb[${r}] = select(vec4<f32>(0.0), w4_weight(min(kb, ${u32(K - 1)}) * ${u32(N4)} + min(bq, ${u32(N4 - 1)})),
                      kb < ${u32(K)} && bq < ${u32(N4)}); }`;
  const fetchFn = `fn fetch(k0: u32, bq: u32, lid: u32) {
  let k = k0 + (lid % 8u) * 4u;
  ${Array.from({ length: A_PER }, (_, r) => fetchA(r)).join('\n  ')}
  ${Array.from({ length: B_PER }, (_, r) => fetchB(r)).join('\n  ')}
}`;
  // Input value → int8: the integer on its grid (x / s + zero point, clamped as the fake_quant
  // clamps), less qmin + 128 (so uint8 grids fit int8 too).
  const quantA = `vec4<i32>(clamp(round(v * ${f32(1 / q.scale)}) + ${f32(q.zero_point)}, vec4<f32>(${f32(q.qmin)}), `
    + `vec4<f32>(${f32(q.qmax)}))) - vec4<i32>(${q.qmin + 128})`;
  const storeFn = `fn stage(buf: u32, lid: u32, invScale: vec4<f32>) {
  ${Array.from({ length: A_PER }, (_, r) => `{ let v = ra[${r}];
    smem[buf * ${u32(A_WORDS)} + (${pixelRow(r)}) * ${u32(A_STRIDE / 4)} + lid % 8u] = bitcast<i32>(pack4xI8(${quantA})); }`).join('\n  ')}
  ${Array.from({ length: B_PER }, (_, r) => `{ let kb = lid / ${u32(BN / 4)} + ${u32(r * THREADS / (BN / 4))};
    let w = vec4<i32>(clamp(round(rb[${r}] * invScale), vec4<f32>(-127.0), vec4<f32>(127.0)));
    smem[${u32(B_BASE)} + buf * ${u32(B_WORDS)} + kb * ${u32(B_STRIDE / 4)} + lid % ${u32(BN / 4)}] = bitcast<i32>(pack4xI8(w)); }`).join('\n  ')}
}`;

  const frags = [...Array(FM).keys()].flatMap((i) => [...Array(FN).keys()].map((j) => [i, j] as const));
  const mma = mode === 'subgroup-matrix' ? matrixUnits(frags, { FM, FN, A_WORDS, B_WORDS, B_BASE, A_STRIDE, B_STRIDE, BN, SN })
    : emulatedUnits({ BM, BN, A_WORDS, B_WORDS, B_BASE, A_STRIDE, B_STRIDE });

  // Epilogue: each thread finishes vec4s of channels of the tile, from the i32 sums.
  const OUT_PER = BM * BN / 4 / THREADS;
  const epilogue = Array.from({ length: OUT_PER }, (_, r) => `{ let e = lid + ${u32(r * THREADS)};
    let row = e / ${u32(BN / 4)}; let c4 = c40 + e % ${u32(BN / 4)}; let m = m0 + row;
    if (m < ${u32(M)} && c4 < ${u32(N4)}) {
      let o = row * ${u32(BN)} + (e % ${u32(BN / 4)}) * 4u;
      let sum = vec4<f32>(vec4<i32>(smem[o], smem[o + 1u], smem[o + 2u], smem[o + 3u]));
      var v = sum * (${f32(q.scale)} * w4_scale(c4)) + w4_bias(c4);
      ${res ? 'v += ld_res(m, c4 * 4u);' : ''}
      ${activationCode(a.activations, 'v')}
      st_y(m, c4 * 4u, v);
    } }`).join('\n  ');

  const source = `// conv2d int8 ${mode} tile ${BM}x${BN}x${BK}
${mma.enable}
${x.decl(0, false)}
${weightDecl(1, 'weight', ctx.precision)}
${weightDecl(2, 'scale', ctx.precision)}
${weightDecl(3, 'bias', ctx.precision)}
${y.decl(4, true)}
${res ? res.decl(5, false) : ''}
${y.helpers(true)}
${res ? res.helpers(false) : ''}
// Two halves of each staged tile, then (after the K loop) the i32 sums, all in one array.
var<workgroup> smem: array<i32, ${WORDS}>;
var<private> ra: array<vec4<f32>, ${A_PER}>;
var<private> rb: array<vec4<f32>, ${B_PER}>;
${privates}

${fetchFn}

${storeFn}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(mTiles * nTiles)}) { return; }
  let tn = wg % ${u32(nTiles)};
  let m0 = (wg / ${u32(nTiles)}) * ${u32(BM)};
  let c40 = tn * ${u32(BN / 4)};
  let bq = c40 + lid % ${u32(BN / 4)};
  let invScale = 1.0 / w4_scale(min(bq, ${u32(N4 - 1)}));
  ${pixelSetup}
  ${mma.setup}
  fetch(0u, bq, lid);
  var buf = 0u;
  for (var k0 = 0u; k0 < ${u32(K)}; k0 += ${u32(BK)}) {
    stage(buf, lid, invScale);
    workgroupBarrier();
    if (k0 + ${u32(BK)} < ${u32(K)}) { fetch(k0 + ${u32(BK)}, bq, lid); }
    ${mma.step}
    // The half just used is staged again two steps on, after the next barrier.
    buf = 1u - buf;
  }
  workgroupBarrier();
  ${mma.finish}
  workgroupBarrier();
  ${epilogue}
}`;
  const args: Arg[] = [{ kind: 'tensor', name: op.inputs[0] }, { kind: 'weight', slice: op.weights.weight },
    { kind: 'weight', slice: op.weights.int8_scale }, { kind: 'weight', slice: op.weights.int8_bias },
    { kind: 'tensor', name: op.outputs[0] }];
  if (res) args.push({ kind: 'tensor', name: op.inputs[1] });
  return { label: `${op.name}:int8`, source, workgroups: mTiles * nTiles, args };
}

interface Layout { A_WORDS: number; B_WORDS: number; B_BASE: number; A_STRIDE: number; B_STRIDE: number; BN: number }

/** The MMA on the matrix units: subgroup `sg` owns fragments (sm·FM + i, sn·FN + j). Offsets and
 *  strides of int8 matrices count bytes; of the i32 sums, words. */
function matrixUnits(frags: (readonly [number, number])[], l: Layout & { FM: number; FN: number; SN: number }) {
  const left = `subgroup_matrix_left<i8, ${BK}, ${FRAG}>`;
  const right = `subgroup_matrix_right<i8, ${FRAG}, ${BK}>`;
  const result = `subgroup_matrix_result<i32, ${FRAG}, ${FRAG}>`;
  return {
    // Which subgroup a thread is in is uniform over the subgroup, which WGSL's (workgroup)
    // uniformity analysis can't see.
    enable: 'enable subgroups;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);',
    setup: `let sg = lid / ${u32(SUBGROUP)};
  let fragRow = (sg / ${u32(l.SN)}) * ${u32(l.FM * FRAG)};
  let fragCol = (sg % ${u32(l.SN)}) * ${u32(l.FN * FRAG)};
  ${frags.map(([i, j]) => `var acc${i}${j} = ${result}();`).join(' ')}`,
    step: `{ let aBytes = buf * ${u32(l.A_WORDS * 4)} + fragRow * ${u32(l.A_STRIDE)};
      let bBytes = ${u32(l.B_BASE * 4)} + buf * ${u32(l.B_WORDS * 4)} + fragCol;
      ${[...Array(l.FM).keys()].map((i) => `let l${i} = subgroupMatrixLoad<${left}>(&smem, aBytes + ${u32(i * FRAG * l.A_STRIDE)}, false, ${u32(l.A_STRIDE)});`).join('\n      ')}
      ${[...Array(l.FN).keys()].map((j) => `let r${j} = subgroupMatrixLoad<${right}>(&smem, bBytes + ${u32(j * FRAG)}, false, ${u32(l.B_STRIDE)});`).join('\n      ')}
      ${frags.map(([i, j]) => `acc${i}${j} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, acc${i}${j});`).join('\n      ')} }`,
    finish: frags.map(([i, j]) => `subgroupMatrixStore(&smem, (fragRow + ${u32(i * FRAG)}) * ${u32(l.BN)} + fragCol + ${u32(j * FRAG)}, acc${i}${j}, false, ${u32(l.BN)});`).join('\n  '),
  };
}

/** The same tile product in plain WGSL: thread `lid` sums the vec4s of channels the epilogue will
 *  read, one packed weight word (4 channels at a tap) at a time. */
function emulatedUnits(l: Layout & { BM: number }) {
  const OUT_PER = l.BM * l.BN / 4 / THREADS;
  const outs = [...Array(OUT_PER).keys()];
  return {
    enable: '',
    setup: `var sums: array<vec4<i32>, ${OUT_PER}>;`,
    step: `for (var r = 0u; r < ${u32(OUT_PER)}; r++) {
      let e = lid + r * ${u32(THREADS)};
      let aRow = buf * ${u32(l.A_WORDS)} + (e / ${u32(l.BN / 4)}) * ${u32(l.A_STRIDE / 4)};
      let bCol = ${u32(l.B_BASE)} + buf * ${u32(l.B_WORDS)} + e % ${u32(l.BN / 4)};
      for (var kw = 0u; kw < ${u32(BK / 4)}; kw++) {
        let taps = unpack4xI8(bitcast<u32>(smem[aRow + kw]));
        for (var t = 0u; t < 4u; t++) {
          sums[r] += taps[t] * unpack4xI8(bitcast<u32>(smem[bCol + (kw * 4u + t) * ${u32(l.B_STRIDE / 4)}]));
        }
      }
    }`,
    finish: outs.map((r) => `{ let e = lid + ${u32(r * THREADS)};
    let o = (e / ${u32(l.BN / 4)}) * ${u32(l.BN)} + (e % ${u32(l.BN / 4)}) * 4u;
    smem[o] = sums[${r}].x; smem[o + 1u] = sums[${r}].y; smem[o + 2u] = sums[${r}].z; smem[o + 3u] = sums[${r}].w; }`).join('\n  '),
  };
}
