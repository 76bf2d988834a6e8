// binary {fn: add|sub|mul|div|pow|max|min|prelu, constant_operand, activations} with numpy broadcasting over
// physical shapes, and unary {fn, params} (an activation function on its own). One thread per
// output element; when every operand's innermost axis is either the output's (a multiple of 4)
// or 1, a thread does a vec4 of that axis (the residual adds and per-channel constants of
// NHWC tensors), else one element. constant {} is the copy of its weight into its tensor,
// expand {} its input broadcast to its output's shape.

import { activationCode, elementIndex, ENTRY_PARAMS, prod, u32, weightDecl,
  type Arg, type KernelDispatch, type OpContext } from './common';
import type { OpSpec, Precision } from '../manifest';

const THREADS = 64;

const BINARY: Record<string, (a: string, b: string) => string> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  pow: (a, b) => `signed_pow(${a}, ${b})`,
  max: (a, b) => `max(${a}, ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
  prelu: (a, b) => `select(${a}, ${a} * ${b}, ${a} < vec4<f32>(0.0))`,
};

// WGSL's pow is undefined for a negative base; ONNX (C's pow) gives ±|a|^b for an integer b,
// and x^0 = 1 for every x.
const SIGNED_POW = `
fn signed_pow(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  let m = pow(abs(a), b);
  let whole = select(pow(a, b), select(m, -m, abs(b % 2.0) == vec4<f32>(1.0)), b == floor(b));
  return select(select(whole, m, a >= vec4<f32>(0.0)), vec4<f32>(1.0), b == vec4<f32>(0.0));
}`;

interface Operand { arg: Arg; shape: number[]; decl: (binding: number) => string; load: (i: string) => string }

function tensorOperand(name: string, ctx: OpContext, id: string): Operand {
  return { arg: { kind: 'tensor', name }, shape: ctx.shape(name),
    decl: (b) => `@group(0) @binding(${b}) var<storage, read> ${id}: array<f32>;`, load: (i) => `${id}[${i}]` };
}

function weightOperand(slice: string, shape: number[], precision: Precision, id: string): Operand {
  return { arg: { kind: 'weight', slice }, shape, decl: (b) => weightDecl(b, id, precision), load: (i) => `w1_${id}(${i})` };
}

/** WGSL expression (vec4) of operand `o` at the output's element `base` (lane 0 of the vec4
 *  when vectorised), broadcasting its axes against the output shape `out` (right-aligned). */
function gather(o: Operand, out: number[], lanes: number): string {
  const shape = [...new Array(out.length - o.shape.length).fill(1), ...o.shape];
  const terms = out.map((d, i) => {
    if (shape[i] === 1) return '';
    return `((base / ${u32(prod(out.slice(i + 1)))}) % ${u32(d)}) * ${u32(prod(shape.slice(i + 1)))}`;
  }).filter(Boolean);
  const index = terms.length ? terms.join(' + ') : '0u';
  if (lanes === 1 || shape[shape.length - 1] === 1) return `vec4<f32>(${o.load(index)})`;
  return `vec4<f32>(${[0, 1, 2, 3].map((j) => o.load(`${index} + ${j}u`)).join(', ')})`;
}

function elementwise(op: OpSpec, ctx: OpContext, operands: Operand[], expr: (vs: string[]) => string,
  preamble = ''): KernelDispatch[] {
  const out = ctx.shape(op.outputs[0]);
  const inner = out[out.length - 1];
  const lanes = inner % 4 === 0 && operands.every((o) => [1, inner].includes(o.shape[o.shape.length - 1] ?? 1)) ? 4 : 1;
  const total = prod(out) / lanes;
  const decls = operands.map((o, i) => o.decl(i)).join('\n');
  const store = lanes === 4 ? 'y[t] = v;' : 'y[t] = v.x;';
  const source = `
${decls}
@group(0) @binding(${operands.length}) var<storage, read_write> y: array<${lanes === 4 ? 'vec4<f32>' : 'f32'}>;
${preamble}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let base = t * ${u32(lanes)};
  ${operands.map((o, i) => `let v${i} = ${gather(o, out, lanes)};`).join('\n  ')}
  var v = ${expr(operands.map((_, i) => `v${i}`))};
  ${activationCode(op.attrs.activations, 'v')}
  ${store}
}`;
  return [{ label: op.name, source, workgroups: Math.ceil(total / THREADS),
    args: [...operands.map((o) => o.arg), { kind: 'tensor', name: op.outputs[0] }] }];
}

export function binary(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const a = op.attrs;
  const fn = BINARY[a.fn];
  if (!fn) throw new Error(`binary: ${a.fn} has no kernel`);
  const operands = op.inputs.map((name, i) => tensorOperand(name, ctx, `in${i}`));
  if (a.constant_operand !== null && a.constant_operand !== undefined) {
    const slice = op.weights.operand;
    operands.splice(a.constant_operand, 0, weightOperand(slice, ctx.weightShape(slice), ctx.precision, 'operand'));
  }
  return elementwise(op, ctx, operands, ([x, y]) => fn(x, y), a.fn === 'pow' ? SIGNED_POW : '');
}

/** constant: writes its weight `value` (the tensor's own shape) into the tensor. */
export function constant(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const slice = op.weights.value;
  return elementwise(op, ctx, [weightOperand(slice, ctx.weightShape(slice), ctx.precision, 'value')], ([x]) => x);
}

/** expand: its input broadcast to the output's shape. */
export function expand(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  return elementwise(op, ctx, [tensorOperand(op.inputs[0], ctx, 'in0')], ([x]) => x);
}

export function unary(op: OpSpec, ctx: OpContext): KernelDispatch[] {
  const acts = [{ fn: op.attrs.fn, params: op.attrs.params }];
  return elementwise({ ...op, attrs: { activations: acts } }, ctx, [tensorOperand(op.inputs[0], ctx, 'in0')], ([x]) => x);
}
