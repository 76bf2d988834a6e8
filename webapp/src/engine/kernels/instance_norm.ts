// instance_norm over NHWC x: per (n, c), y = (x − mean)/sqrt(var + ε)·scale + bias, then
// activations. Three dispatches, so that a 1024×1024 image still spreads over many workgroups:
//   stats:   workgroup per (n, chunk of CHUNK pixels, vec4 of channels): the chunk's mean, then
//            the sum of squared deviations from it (two passes: no E[x²]−E[x]² cancellation),
//            each a workgroup reduction (reduce.ts: with subgroups where the device has them);
//   combine: thread per (n, vec4 of channels): merges the chunks' (mean, M2) pairs exactly
//            (Chan et al.), reads scale and bias (weights, or activations [C] / [N, C] for the
//            conditional form of `affine_inputs`) and writes mean, 1/sqrt(var + ε)·scale, bias;
//   apply:   thread per element vec4.
// Under ctx.normStats (norm_stats.ts) combine also keeps (mean, variance) per (n, vec4) in the
// op's statistics buffer (capture), or stats is skipped and combine reads them from that
// buffer, filled by the caller (supply).

import { activationCode, elementIndex, ENTRY_PARAMS, f32, pad4, RowTensor, u32, weightDecl, WORKGROUP_INDEX,
  type Arg, type KernelDispatch, type OpContext } from './common';
import { normStatsArg } from './norm_stats';
import { chunkMerge, SUM_VEC4, subgroupsEnable, workgroupReduce } from './reduce';
import type { OpSpec } from '../manifest';

const THREADS = 64;
const CHUNK = 4096;   // pixels per stats workgroup: 64 per thread

/** WGSL reading the per-channel scale or bias (role) as fn <role>_at(n, c) -> vec4. */
function affineSource(op: OpSpec, ctx: OpContext, role: 'scale' | 'bias', binding: number, C: number): {
  decl: string; arg: Arg } {
  const index = (op.attrs.affine_inputs as string[] | undefined)?.indexOf(role) ?? -1;
  if (index < 0) {
    return { decl: `${weightDecl(binding, role, ctx.precision)}
fn ${role}_at(n: u32, c4: u32) -> vec4<f32> { return w4_${role}(c4); }`,
    arg: { kind: 'weight', slice: op.weights[role] } };
  }
  const name = op.inputs[1 + index];
  const perImage = ctx.shape(name).length === 2;   // [N, C], else [C] shared by every image
  const t = new RowTensor(role, C);
  return { decl: `${t.decl(binding, false)}
${t.helpers(false)}
fn ${role}_at(n: u32, c4: u32) -> vec4<f32> { return ld_${role}(${perImage ? 'n' : '0u'}, c4 * 4u); }`,
  arg: { kind: 'tensor', name } };
}

export function instanceNorm(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const HW = H * W;
  const C4 = pad4(C) / 4;
  const chunks = Math.ceil(HW / CHUNK);
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  // per (n, chunk, c4): mean and M2 of the chunk, as two vec4s
  const partial: Arg = { kind: 'scratch', id: `${op.name}:partial`, bytes: N * chunks * C4 * 32 };
  // per (n, c4): mean, multiplier, bias
  const coeffs: Arg = { kind: 'scratch', id: `${op.name}:coeffs`, bytes: N * C4 * 48 };
  const input: Arg = { kind: 'tensor', name: op.inputs[0] };

  const stats = `${subgroupsEnable(ctx.subgroups)}
${x.decl(0, false)}
@group(0) @binding(1) var<storage, read_write> partial: array<vec4<f32>>;
${x.helpers(false)}
${workgroupReduce(SUM_VEC4, THREADS, ctx.subgroups)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  if (wg >= ${u32(N * chunks * C4)}) { return; }
  let c = (wg % ${u32(C4)}) * 4u;
  let nk = wg / ${u32(C4)};
  let n = nk / ${u32(chunks)};
  let p0 = (nk % ${u32(chunks)}) * ${u32(CHUNK)};
  let p1 = min(p0 + ${u32(CHUNK)}, ${u32(HW)});
  let row0 = n * ${u32(HW)};
  var sum = vec4<f32>(0.0);
  for (var p = p0 + lid; p < p1; p += ${u32(THREADS)}) { sum += ld_x(row0 + p, c); }
  let mean = reduce_sum4(sum, lid) / f32(p1 - p0);
  var m2 = vec4<f32>(0.0);
  for (var p = p0 + lid; p < p1; p += ${u32(THREADS)}) { let d = ld_x(row0 + p, c) - mean; m2 += d * d; }
  m2 = reduce_sum4(m2, lid);
  if (lid == 0u) { partial[wg * 2u] = mean; partial[wg * 2u + 1u] = m2; }
}`;

  const scale = affineSource(op, ctx, 'scale', 2, C);
  const bias = affineSource(op, ctx, 'bias', 3, C);
  const combineTotal = N * C4;
  // per (n, c4): mean and variance, as two vec4s
  const moments = normStatsArg(op, N * C4 * 32);
  const supplied = ctx.normStats === 'supply';
  const captured = ctx.normStats === 'capture';
  const at = (k: string) => `((n * ${u32(chunks)} + ${k}) * ${u32(C4)} + c4) * 2u`;
  const fromChunks = `${chunkMerge('vec4<f32>', chunks, CHUNK, HW, (k) => `partial[${at(k)}]`, (k) => `partial[${at(k)} + 1u]`)}
  let variance = m2 / ${f32(HW)};`;
  const combine = `
${supplied ? '@group(0) @binding(0) var<storage, read> moments: array<vec4<f32>>;'
    : '@group(0) @binding(0) var<storage, read> partial: array<vec4<f32>>;'}
@group(0) @binding(1) var<storage, read_write> coeffs: array<vec4<f32>>;
${scale.decl}
${bias.decl}
${captured ? '@group(0) @binding(4) var<storage, read_write> moments: array<vec4<f32>>;' : ''}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, combineTotal)}
  let c4 = t % ${u32(C4)};
  let n = t / ${u32(C4)};
  ${supplied ? 'let mean = moments[t * 2u]; let variance = moments[t * 2u + 1u];' : fromChunks}
  let mul = inverseSqrt(variance + ${f32(op.attrs.epsilon)}) * scale_at(n, c4);
  coeffs[t * 3u] = mean;
  coeffs[t * 3u + 1u] = mul;
  coeffs[t * 3u + 2u] = bias_at(n, c4);
  ${captured ? 'moments[t * 2u] = mean; moments[t * 2u + 1u] = variance;' : ''}
}`;

  const applyTotal = N * HW * C4;
  const apply = `
${x.decl(0, false)}
@group(0) @binding(1) var<storage, read> coeffs: array<vec4<f32>>;
${y.decl(2, true)}
${x.helpers(false)}
${y.helpers(true)}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, applyTotal)}
  let c4 = t % ${u32(C4)};
  let m = t / ${u32(C4)};
  let k = ((m / ${u32(HW)}) * ${u32(C4)} + c4) * 3u;
  var v = (ld_x(m, c4 * 4u) - coeffs[k]) * coeffs[k + 1u] + coeffs[k + 2u];
  ${activationCode(op.attrs.activations, 'v')}
  st_y(m, c4 * 4u, v);
}`;

  const statsDispatch: KernelDispatch = { label: `${op.name}:stats`, source: stats, workgroups: N * chunks * C4,
    args: [input, partial] };
  const combineDispatch: KernelDispatch = { label: `${op.name}:${supplied ? 'supplied' : 'combine'}`, source: combine,
    workgroups: Math.ceil(combineTotal / THREADS),
    args: [supplied ? moments : partial, coeffs, scale.arg, bias.arg, ...(captured ? [moments] : [])] };
  return [
    ...(supplied ? [] : [statsDispatch]),
    combineDispatch,
    { label: `${op.name}:apply`, source: apply, workgroups: Math.ceil(applyTotal / THREADS),
      args: [input, coeffs, { kind: 'tensor', name: op.outputs[0] }] },
  ];
}
