// attention: softmax(Q·Kᵀ · scale [+ bias]) · V in one dispatch (compiler/passes/attention.py), so a
// transformer's [heads, T, T] scores never reach memory. Q [..., M, D], K [..., keys, D] and
// V [..., keys, Dv] are read, and the output [..., M, Dv] written, through strided views
// (strided_view.ts): straight out of the qkv projection and into the merged heads; so is the
// bias where there is one (Swin's and MaxViT's relative position bias, a mask), broadcast.
//
// A workgroup takes BQ query rows of one batch matrix; TPR threads share each row. Key blocks
// of BKV rows of K and V are staged through workgroup memory (rows padded by one vec4, so the
// TPR threads of a row, reading different keys, hit different banks), each block read into
// registers while the one before is used. Thread `lane` of a row takes keys lane, lane + TPR,
// … of each block and keeps its own running max, sum and output row in registers (the online
// softmax: each new block's larger max rescales what came before), its query row (pre-scaled)
// too. Only at the end do a row's TPR threads meet: their
// maxima give the row's, each rescales its sums to it, and the partial output rows are added
// through workgroup memory and divided by the row's sum.

import { activationCode, ENTRY_PARAMS, F32_LOWEST, f32, prod, u32, WORKGROUP_INDEX, type KernelDispatch, type OpContext } from './common';
import type { OpSpec } from '../manifest';
import { matrixOffset, viewOf, type View } from './strided_view';
import { stageTile } from './tile_staging';

/** Below this many workgroups of 16 rows, rows go 8 to a workgroup with 8 threads each:
 *  twice the workgroups, each thread half the keys (a ViT-Tiny at batch 1 makes 39). */
const FEW_WORKGROUPS = 256;
const KEY_BLOCKS = [32, 16, 8];
/** Registers a thread may hold the next key block's K and V in (as many again hold its query
 *  row and its output row). */
const STAGED_PER_THREAD = 32;

const range = (n: number) => [...Array(n).keys()];

/** The stager of `rows` keys × `cols` of `view` (K or V) into `tile` at `base`, `pitch` vec4s a
 *  row, along the view's contiguous axis; keys past `keys` read 0. */
function keyRows(view: View, src: string, keys: number, rows: number, cols: number, threads: number,
  base: number, pitch: number) {
  const [rowStride, colStride] = view.strides.slice(-2);
  return stageTile(rows, cols, threads, colStride === 1 || rowStride !== 1, `${src}r`,
    (r, c, k) => `select(0.0, ${src}[${src}Base + min(${k} + ${r}, ${u32(keys - 1)}) * ${u32(rowStride)} + ${c} * ${u32(colStride)}], ${k} + ${r} < ${u32(keys)})`,
    (r, c, value) => `tile[${u32(base)} + ${r} * ${u32(pitch)} + ${c} / 4u][${c} % 4u] = ${value};`);
}

export function attention(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [qName, kName, vName] = op.inputs;
  const q = viewOf(op, 'q', qName, ctx);
  const k = viewOf(op, 'k', kName, ctx);
  const v = viewOf(op, 'v', vName, ctx);
  const y = viewOf(op, 'y', op.outputs[0], ctx);
  const biasName = op.inputs[3] as string | undefined;    // added to the scaled scores, broadcast
  const bias = biasName === undefined ? null : viewOf(op, 'bias', biasName, ctx);
  const [M, D] = q.shape.slice(-2);
  const [keys, Dv] = v.shape.slice(-2);
  const batch = y.shape.slice(0, -2);
  const D4 = Math.ceil(D / 4);
  const V4 = Math.ceil(Dv / 4);
  const [BQ, TPR] = prod(batch) * Math.ceil(M / 16) < FEW_WORKGROUPS ? [8, 8] : [16, 4];
  const threads = BQ * TPR;
  const kPitch = D4 + 1;
  const vPitch = V4 + 1;
  const fits = (bkv: number) => Math.max(bkv * (kPitch + vPitch), BQ * V4) * 16 <= ctx.workgroupLimits.storageBytes - threads * 8
    && bkv * (D + Dv) <= STAGED_PER_THREAD * threads;
  const BKV = KEY_BLOCKS.find((b) => b >= TPR && fits(b));
  if (BKV === undefined) throw new Error(`attention: heads of ${D} and ${Dv} do not fit this device's workgroup memory`);
  const KPT = BKV / TPR;                      // keys per thread per block
  const vBase = BKV * kPitch;                 // the V block follows the K block in `tile`
  const mBlocks = Math.ceil(M / BQ);
  const workgroups = prod(batch) * mBlocks;
  const [qRS, qCS] = q.strides.slice(-2);
  const [yRS, yCS] = y.strides.slice(-2);
  const qAt = (d: number) => (d < D ? `qt[qBase + ${u32(d * qCS)}]` : '0.0');
  const scale = f32(op.attrs.scale as number);
  const stageK = keyRows(k, 'kt', keys, BKV, D, threads, 0, kPitch);
  const stageV = keyRows(v, 'vt', keys, BKV, Dv, threads, vBase, vPitch);
  const keyOf = (j: number) => `(lane + ${u32(j * TPR)})`;
  const [bRS, bKS] = bias?.strides.slice(-2) ?? [0, 0];
  const biasAt = (j: number) => (bias === null ? ''
    : ` + bt[btBase + min(k0 + ${keyOf(j)}, ${u32(keys - 1)}) * ${u32(bKS)}]`);
  const scores = range(KPT).map((j) => `
    let valid${j} = k0 + ${keyOf(j)} < ${u32(keys)};
    let s${j} = select(${F32_LOWEST}, ${range(D4).map((i) => `dot(q${i}, tile[${keyOf(j)} * ${u32(kPitch)} + ${u32(i)}])`).join(' + ')}${biasAt(j)}, valid${j});`).join('');
  const blockMax = range(KPT).reduce((acc, j) => `max(${acc}, s${j})`, 'mx');
  const probabilities = range(KPT).map((j) => `
    let p${j} = select(0.0, exp(s${j} - bm), valid${j});`).join('');
  const accumulate = range(V4).map((i) => `
    acc${i} = acc${i} * corr${range(KPT).map((j) => ` + p${j} * tile[${u32(vBase)} + ${keyOf(j)} * ${u32(vPitch)} + ${u32(i)}]`).join('')};`).join('');
  const addRows = range(TPR).map((l) => `
  if (lane == ${u32(l)}) {${range(V4).map((i) => `
    tile[r * ${u32(V4)} + ${u32(i)}] = ${l === 0 ? '' : `tile[r * ${u32(V4)} + ${u32(i)}] + `}acc${i} * f;`).join('')}
  }
  workgroupBarrier();`).join('');
  const source = `
@group(0) @binding(0) var<storage, read> qt: array<f32>;
@group(0) @binding(1) var<storage, read> kt: array<f32>;
@group(0) @binding(2) var<storage, read> vt: array<f32>;
${bias === null ? '' : '@group(0) @binding(3) var<storage, read> bt: array<f32>;'}
@group(0) @binding(${bias === null ? 3 : 4}) var<storage, read_write> y: array<f32>;
// attention ${BQ} rows x ${TPR} threads, key blocks of ${BKV}
var<workgroup> tile: array<vec4<f32>, ${Math.max(BKV * (kPitch + vPitch), BQ * V4)}>;   // K, V blocks; then output rows
var<workgroup> stats: array<vec2<f32>, ${threads}>;                                     // each thread's (max, sum)

@compute @workgroup_size(${threads})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(workgroups)}) { return; }
  let bi = wg / ${u32(mBlocks)};
  let r = lid / ${u32(TPR)};
  let lane = lid % ${u32(TPR)};
  let row = (wg % ${u32(mBlocks)}) * ${u32(BQ)} + r;
  let qBase = ${matrixOffset(q, batch)} + min(row, ${u32(M - 1)}) * ${u32(qRS)};
  let ktBase = ${matrixOffset(k, batch)};
  let vtBase = ${matrixOffset(v, batch)};
  let yBase = ${matrixOffset(y, batch)};${bias === null ? '' : `
  let btBase = ${matrixOffset(bias, batch)} + min(row, ${u32(M - 1)}) * ${u32(bRS)};`}
  ${range(D4).map((i) => `let q${i} = vec4<f32>(${range(4).map((c) => qAt(4 * i + c)).join(', ')}) * ${scale};`).join('\n  ')}
  ${range(V4).map((i) => `var acc${i} = vec4<f32>(0.0);`).join(' ')}
  var mx = ${F32_LOWEST};
  var sum = 0.0;
  ${stageK.declare} ${stageV.declare}
  ${stageK.load('0u')}${stageV.load('0u')}
  for (var k0 = 0u; k0 < ${u32(keys)}; k0 += ${u32(BKV)}) {
    workgroupBarrier();     // the last block's reads are done${stageK.store}${stageV.store}
    workgroupBarrier();
    if (k0 + ${u32(BKV)} < ${u32(keys)}) {     // the next block loads while this one is used
      let kn = k0 + ${u32(BKV)};${stageK.load('kn')}${stageV.load('kn')}
    }${scores}
    let bm = ${blockMax};
    let corr = exp(mx - bm);${probabilities}
    sum = sum * corr${range(KPT).map((j) => ` + p${j}`).join('')};${accumulate}
    mx = bm;
  }
  stats[lid] = vec2<f32>(mx, sum);
  workgroupBarrier();
  var rowMax = ${F32_LOWEST};
  for (var l = 0u; l < ${u32(TPR)}; l++) { rowMax = max(rowMax, stats[r * ${u32(TPR)} + l].x); }
  var total = 0.0;
  for (var l = 0u; l < ${u32(TPR)}; l++) {
    let st = stats[r * ${u32(TPR)} + l];
    total += st.y * exp(st.x - rowMax);
  }
  let f = exp(mx - rowMax) / total;${addRows}
  for (var i = lane; i < ${u32(V4)}; i += ${u32(TPR)}) {
    var o = tile[r * ${u32(V4)} + i];
    ${activationCode(op.attrs.activations, 'o')}
    for (var c = 0u; c < 4u; c++) {
      let col = i * 4u + c;
      if (row < ${u32(M)} && col < ${u32(Dv)}) { y[yBase + row * ${u32(yRS)} + col * ${u32(yCS)}] = o[c]; }
    }
  }
}`;
  return [{ label: op.name, source, workgroups,
    args: [qName, kName, vName, ...(biasName === undefined ? [] : [biasName]), op.outputs[0]]
      .map((name) => ({ kind: 'tensor' as const, name })) }];
}
