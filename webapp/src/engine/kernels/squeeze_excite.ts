// squeeze_excite: y = x · act₂(act₁(mean_hw(x)·Wr + br)·We + be), in three dispatches:
// the global mean (pool.ts), both small FC layers in one workgroup per image (the squeezed
// vector stays in workgroup memory), then the channel scaling of x.

import { activationCode, ENTRY_PARAMS, pixelVec4Index, RowTensor, u32, weightDecl, WORKGROUP_INDEX, pad4,
  type KernelDispatch, type OpContext } from './common';
import { globalPoolSource } from './pool';
import type { OpSpec } from '../manifest';

const FC_THREADS = 256;
const SCALE_THREADS = 64;

/** Scalar activations, via the vec4 epilogue code on a splat. */
const scalarActivations = (acts: OpSpec['attrs'][string], v: string) =>
  `{ var t = vec4<f32>(${v}); ${activationCode(acts, 't')} ${v} = t.x; }`;

export function squeezeExcite(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const CR: number = a.squeeze_channels;
  const C4 = pad4(C) / 4;
  const mean = { kind: 'scratch' as const, id: `${op.name}:mean`, bytes: N * pad4(C) * 4 };
  const gate = { kind: 'scratch' as const, id: `${op.name}:gate`, bytes: N * pad4(C) * 4 };
  const fc = `
@group(0) @binding(0) var<storage, read> mean: array<f32>;
${weightDecl(1, 'rw', ctx.precision)}
${weightDecl(2, 'rb', ctx.precision)}
${weightDecl(3, 'ew', ctx.precision)}
${weightDecl(4, 'eb', ctx.precision)}
@group(0) @binding(5) var<storage, read_write> gate: array<f32>;
var<workgroup> s: array<f32, ${C}>;
var<workgroup> hidden: array<f32, ${CR}>;

@compute @workgroup_size(${FC_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${WORKGROUP_INDEX}
  let n = wg;
  for (var c = lid; c < ${u32(C)}; c += ${u32(FC_THREADS)}) { s[c] = mean[n * ${u32(C)} + c]; }
  workgroupBarrier();
  for (var j = lid; j < ${u32(CR)}; j += ${u32(FC_THREADS)}) {
    var v = w1_rb(j);
    for (var c = 0u; c < ${u32(C)}; c++) { v += s[c] * w1_rw(c * ${u32(pad4(CR))} + j); }
    ${scalarActivations(a.reduce_activations, 'v')}
    hidden[j] = v;
  }
  workgroupBarrier();
  for (var c = lid; c < ${u32(C)}; c += ${u32(FC_THREADS)}) {
    var v = w1_eb(c);
    for (var j = 0u; j < ${u32(CR)}; j++) { v += hidden[j] * w1_ew(j * ${u32(pad4(C))} + c); }
    ${scalarActivations(a.expand_activations, 'v')}
    gate[n * ${u32(C)} + c] = v;
  }
}`;
  const x = new RowTensor('x', C);
  const y = new RowTensor('y', C);
  const g = new RowTensor('gate', C);
  const total = N * H * W * C4;
  const scale = `
${x.decl(0, false)}
${g.decl(1, false)}
${y.decl(2, true)}
${x.helpers(false)}
${g.helpers(false)}
${y.helpers(true)}

@compute @workgroup_size(${SCALE_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${pixelVec4Index(SCALE_THREADS, total, C4)}
  st_y(m, c, ld_x(m, c) * ld_gate(m / ${u32(H * W)}, c));
}`;
  const w = op.weights;
  return [
    { label: `${op.name}:mean`, source: globalPoolSource(N, H * W, C, 'avg'), workgroups: N * C4,
      args: [{ kind: 'tensor', name: op.inputs[0] }, mean] },
    { label: `${op.name}:fc`, source: fc, workgroups: N, args: [mean,
      { kind: 'weight', slice: w.reduce_weight }, { kind: 'weight', slice: w.reduce_bias },
      { kind: 'weight', slice: w.expand_weight }, { kind: 'weight', slice: w.expand_bias }, gate] },
    { label: `${op.name}:scale`, source: scale, workgroups: Math.ceil(total / SCALE_THREADS),
      args: [{ kind: 'tensor', name: op.inputs[0] }, gate, { kind: 'tensor', name: op.outputs[0] }] },
  ];
}
