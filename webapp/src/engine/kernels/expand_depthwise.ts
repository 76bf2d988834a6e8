// An inverted-residual block's expansion (1×1 conv) and its depthwise conv in one dispatch:
// the expanded map is never written. Each workgroup takes one image's tile of TH×TW output
// pixels and CB4 vec4s of the expanded channels. It first computes the expansion (bias and
// activations included) of the input window those outputs read, the tile's halo, into workgroup
// memory, with zeros where the window leaves the image (the depthwise conv's padding); then the
// depthwise conv reads its taps from there. The halo's overlap with the next tile's is
// computed twice, which the tile choice keeps small (`expandTiling`). At batch 1 the
// MobileNets' expansions are a few million multiply-adds each: their dispatch costs about as
// much as their arithmetic, and it is the dispatch that this saves.
//
// When a squeeze-excite gate reads the output (ctx.channelSums), each workgroup also writes its
// tile's per-channel sums, one part per tile of the image (the depthwise conv's strips do the
// same in depthwise.ts).

import { activationCode, ENTRY_PARAMS, RowTensor, u32, weightDecl, windowGeometry, WORKGROUP_INDEX,
  type Arg, type KernelDispatch, type OpContext, type WorkgroupLimits } from './common';
import { sliceTree } from './reduce';
import type { Manifest, OpSpec } from '../manifest';

const THREADS = 128;
const LANES = [8, 4, 2, 1];              // vec4s of expanded channels per workgroup, tried in order
const TILE_SIDES = [8, 4];               // output tile sides tried besides the whole map
const WHOLE_MAP_SIDE = 16;               // maps up to this side may be one tile
const WANTED_WORKGROUPS = 128;           // about one per SM of a big GPU
const MAX_EXPAND_ITEMS = 8;              // halo vec4s a thread expands, in registers at once
// Which expansions fuse, measured on an H100 (docs/benchmarks.md, twelfth run): at batch 1
// those of MobileNetV2 and V3 up to 480 channels gained 1.3–5.7 µs each; the wider ones (576
// to 960 channels on 14×14 and 7×7 maps) lost 1–9 µs, as each block of lanes reads the input
// window again; at batch 8, expansions past 2^24 multiply-adds lost 8% of the network's time.
export const MAX_FUSED_EXPAND_MACS = 2 ** 24;
export const MAX_FUSED_EXPAND_CHANNELS = 512;

/** The depthwise conv's output tile (TH×TW pixels), its input window (IH×IW), and CB4 vec4
 *  lanes of expanded channels per workgroup. */
export interface ExpandTiling { TH: number; TW: number; IH: number; IW: number; CB4: number; tiles: number }

/** A 1×1 expansion that a depthwise conv computes itself, and the tiling it does it with (its
 *  channel sums, when a gate reads them, are one part per tile). */
export interface ExpandFusion { expand: OpSpec; tiling: ExpandTiling }

interface Window { N: number; OH: number; OW: number; KH: number; KW: number; SH: number; SW: number; DH: number;
  DW: number; C4: number }

/** The tiling with the least expansion work (halo pixels, recomputed overlaps included) among
 *  those that fit workgroup memory and give WANTED_WORKGROUPS workgroups; failing that, the
 *  one with the most workgroups. Null: no tiling fits. */
function expandTiling(g: Window, limits: WorkgroupLimits, sums: boolean): ExpandTiling | null {
  const sides = (O: number) => [...new Set([O <= WHOLE_MAP_SIDE ? O : 0, ...TILE_SIDES.map((t) => Math.min(O, t))])]
    .filter((t) => t > 0);
  const memory = limits.storageBytes - (sums ? THREADS * 16 : 0);
  let best: { t: ExpandTiling; work: number; workgroups: number } | null = null;
  for (const TH of sides(g.OH)) {
    for (const TW of sides(g.OW)) {
      const IH = (TH - 1) * g.SH + (g.KH - 1) * g.DH + 1;
      const IW = (TW - 1) * g.SW + (g.KW - 1) * g.DW + 1;
      const tiles = Math.ceil(g.OH / TH) * Math.ceil(g.OW / TW);
      for (const CB4 of LANES) {
        if (CB4 > g.C4 && CB4 > 1) continue;
        if (IH * IW * CB4 * 16 > memory || Math.ceil(IH * IW * CB4 / THREADS) > MAX_EXPAND_ITEMS) continue;
        const workgroups = g.N * tiles * Math.ceil(g.C4 / CB4);
        const work = tiles * IH * IW * Math.ceil(g.C4 / CB4) * CB4;
        const enough = (w: number) => w >= WANTED_WORKGROUPS;
        const better = !best
          || (enough(workgroups) && !enough(best.workgroups))
          || (enough(workgroups) === enough(best.workgroups)
            && (enough(workgroups) ? work < best.work : workgroups > best.workgroups));
        if (better) best = { t: { TH, TW, IH, IW, CB4, tiles }, work, workgroups };
      }
    }
  }
  return best?.t ?? null;
}

const isPointwise = (a: Record<string, any>) =>  // eslint-disable-line @typescript-eslint/no-explicit-any
  a.kernel?.every((k: number) => k === 1) && a.stride?.every((s: number) => s === 1)
  && a.pads?.every((p: number) => p === 0) && a.groups === 1;

/** Plain means nothing fused into the conv's input or output besides bias and activations. */
const isPlain = (op: OpSpec) => !op.attrs.residual && !op.attrs.input_scale && !op.attrs.input_affine && !op.attrs.int8
  && op.inputs.length === 1;

/** The expansions each depthwise conv computes itself, by the depthwise conv's name: a 1×1 conv
 *  whose output only that conv reads, both in vec4 channel rows, small enough to gain
 *  (MAX_FUSED_EXPAND_MACS, MAX_FUSED_EXPAND_CHANNELS) and with a tiling that fits the device
 *  (`gated`: the depthwise outputs whose channel sums it also writes). */
export function planExpandFusions(manifest: Manifest, producers: Map<string, OpSpec>, shape: (tensor: string) => number[],
  isDepthwise: (op: OpSpec) => boolean, limits: WorkgroupLimits, gated: Set<string>): Map<string, ExpandFusion> {
  const readers = new Map<string, number>();
  for (const op of manifest.ops) for (const i of op.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const outputs = new Set(manifest.outputs.map((o) => o.name));
  const fused = new Map<string, ExpandFusion>();
  for (const dw of manifest.ops) {
    if (dw.op !== 'conv2d' || !isDepthwise(dw) || !isPlain(dw)) continue;
    const expanded = dw.inputs[0];
    const expand = producers.get(expanded);
    if (!expand || expand.op !== 'conv2d' || isDepthwise(expand) || !isPlain(expand) || !isPointwise(expand.attrs)) continue;
    if (readers.get(expanded) !== 1 || outputs.has(expanded)) continue;
    // It reads the expansion's input while it writes its output: not in one buffer (a package
    // whose memory plan predates the fusion may have put them there: compiler/memory_plan.py).
    if (manifest.tensors[expand.inputs[0]].buffer === manifest.tensors[dw.outputs[0]].buffer) continue;
    const [N, H, W, CI] = shape(expand.inputs[0]);
    const [, , , C] = shape(expanded);
    if (CI % 4 !== 0 || C % 4 !== 0 || C > MAX_FUSED_EXPAND_CHANNELS || N * H * W * CI * C > MAX_FUSED_EXPAND_MACS) continue;
    const { OH, OW, KH, KW, SH, SW, DH, DW } = windowGeometry(dw, { shape });
    const tiling = expandTiling({ N, OH, OW, KH, KW, SH, SW, DH, DW, C4: C / 4 }, limits, gated.has(dw.outputs[0]));
    if (tiling) fused.set(dw.name, { expand, tiling });
  }
  return fused;
}

/** The fused expansion and the depthwise conv `dw` as one dispatch (see the header). */
export function expandDepthwise({ expand, tiling }: ExpandFusion, dw: OpSpec, ctx: OpContext): KernelDispatch {
  const { N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL } = windowGeometry(dw, ctx);
  const [, , , CI] = ctx.shape(expand.inputs[0]);
  const C4 = C / 4;
  const sums = ctx.channelSums?.get(dw.outputs[0]);
  const { TH, TW, IH, IW, CB4, tiles } = tiling;
  const tilesX = Math.ceil(OW / TW);
  const blocks = Math.ceil(C4 / CB4);
  const workgroups = N * tiles * blocks;
  const haloItems = IH * IW * CB4;
  const R = Math.ceil(haloItems / THREADS);        // halo vec4s per thread
  const x = new RowTensor('x', CI);
  const y = new RowTensor('y', C);
  const args: Arg[] = [{ kind: 'tensor', name: expand.inputs[0] }, { kind: 'weight', slice: expand.weights.weight },
    { kind: 'weight', slice: expand.weights.bias }, { kind: 'weight', slice: dw.weights.weight },
    { kind: 'weight', slice: dw.weights.bias }, { kind: 'tensor', name: dw.outputs[0] }];
  if (sums) args.push({ kind: 'scratch', id: sums.id, bytes: N * tiles * C4 * 16 });
  const items = [...Array(R).keys()];
  // Halo item i = lid + r·THREADS: pixel i / CB4 of the window, the thread's lane i % CB4.
  const expandStep = items.map((r) => `acc${r} += xr${r}.x * w0 + xr${r}.y * w1 + xr${r}.z * w2 + xr${r}.w * w3;`).join(' ');
  const taps: string[] = [];
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      taps.push(`acc += e[(base + ${u32(ky * DH * IW + kx * DW)}) * ${u32(CB4)} + lane] * w4_weight(${u32((ky * KW + kx) * C4)} + c4);`);
    }
  }
  const source = `
${x.decl(0, false)}
${weightDecl(1, 'ew', ctx.precision)}
${weightDecl(2, 'eb', ctx.precision)}
${weightDecl(3, 'weight', ctx.precision)}
${weightDecl(4, 'bias', ctx.precision)}
${y.decl(5, true)}
${x.helpers(false)}
${y.helpers(true)}
${sums ? `@group(0) @binding(6) var<storage, read_write> sums: array<vec4<f32>>;
var<workgroup> part: array<vec4<f32>, ${THREADS}>;` : ''}
var<workgroup> e: array<vec4<f32>, ${haloItems}>;

// expand+depthwise: ${TH}x${TW} outputs, ${IH}x${IW} window, ${CB4} lanes
@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(workgroups)}) { return; }
  let lane = lid % ${u32(CB4)};
  let c4 = (wg % ${u32(blocks)}) * ${u32(CB4)} + lane;
  let tile = (wg / ${u32(blocks)}) % ${u32(tiles)};
  let n = wg / ${u32(blocks * tiles)};
  let oy0 = (tile / ${u32(tilesX)}) * ${u32(TH)};
  let ox0 = (tile % ${u32(tilesX)}) * ${u32(TW)};
  let iy0 = i32(oy0 * ${u32(SH)}) - ${PT};
  let ix0 = i32(ox0 * ${u32(SW)}) - ${PL};
  let cw = min(c4, ${u32(C4 - 1)});             // lanes past the channels compute a copy, unused
  ${items.map((r) => `
  let hp${r} = (lid + ${u32(r * THREADS)}) / ${u32(CB4)};
  let hy${r} = iy0 + i32(hp${r} / ${u32(IW)});
  let hx${r} = ix0 + i32(hp${r} % ${u32(IW)});
  let in${r} = hp${r} < ${u32(IH * IW)} && hy${r} >= 0 && hy${r} < ${H} && hx${r} >= 0 && hx${r} < ${W};
  let row${r} = n * ${u32(H * W)} + u32(clamp(hy${r}, 0, ${H - 1}) * ${W} + clamp(hx${r}, 0, ${W - 1}));
  var acc${r} = w4_eb(cw);`).join('')}
  for (var k = 0u; k < ${u32(CI)}; k += 4u) {
    let w = k * ${u32(C4)} + cw;
    let w0 = w4_ew(w); let w1 = w4_ew(w + ${u32(C4)}); let w2 = w4_ew(w + ${u32(2 * C4)}); let w3 = w4_ew(w + ${u32(3 * C4)});
    ${items.map((r) => `let xr${r} = ld_x(row${r}, k);`).join(' ')}
    ${expandStep}
  }
  ${items.map((r) => `
  if (hp${r} < ${u32(IH * IW)}) {
    var v = acc${r};
    ${activationCode(expand.attrs.activations, 'v')}
    e[lid + ${u32(r * THREADS)}] = select(vec4<f32>(0.0), v, in${r});
  }`).join('')}
  workgroupBarrier();
  ${sums ? 'var kept = vec4<f32>(0.0);' : ''}
  for (var j = lid; j < ${u32(TH * TW * CB4)}; j += ${u32(THREADS)}) {
    let p = j / ${u32(CB4)};
    let oy = oy0 + p / ${u32(TW)};
    let ox = ox0 + p % ${u32(TW)};
    if (oy < ${u32(OH)} && ox < ${u32(OW)} && c4 < ${u32(C4)}) {
      let base = (p / ${u32(TW)}) * ${u32(SH * IW)} + (p % ${u32(TW)}) * ${u32(SW)};
      var acc = w4_bias(c4);
      ${taps.join('\n      ')}
      var v = acc;
      ${activationCode(dw.attrs.activations, 'v')}
      st_y(n * ${u32(OH * OW)} + oy * ${u32(OW)} + ox, c4 * 4u, v);
      ${sums ? 'kept += v;' : ''}
    }
  }
  ${sums ? `part[lid] = kept;
  workgroupBarrier();
  let slot = lid / ${u32(CB4)};
  ${sliceTree('part', THREADS / CB4, CB4, 'slot')}
  if (slot == 0u && c4 < ${u32(C4)}) { sums[(n * ${u32(tiles)} + tile) * ${u32(C4)} + c4] = part[lid]; }` : ''}
}`;
  return { label: `${expand.name}+${dw.name}`, source, workgroups, args };
}
