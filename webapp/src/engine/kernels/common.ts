// What every kernel generator shares: the dispatch description handed to the executor, buffer
// declarations and accessors in WGSL, literals, activation epilogues and workgroup indexing.

import type { Activation, Dim, OpSpec, Precision } from '../manifest';
import type { ExpandFusion } from './expand_depthwise';

/** A buffer a dispatch binds, in @binding order. */
export type Arg =
  | { kind: 'tensor'; name: string }                      // an activation of the memory plan
  | { kind: 'weight'; slice: string }                     // a slice of a weight shard
  | { kind: 'scratch'; id: string; bytes: number };       // a small buffer private to one op

export interface KernelDispatch {
  label: string;
  source: string;           // complete WGSL, constants baked in
  workgroups: number;       // total; the executor lays them out in 2-D when past the 1-D limit
  args: Arg[];
  /** Runs once, when the call is prepared, not in every call: what it writes (scratch buffers)
   *  depends on the weights only (e.g. weights repacked for a kernel). */
  once?: boolean;
  /** Dispatches with the same key write the same scratch buffer from the same tensors: the plan
   *  keeps the first (e.g. one input quantised for two convs that read it). */
  key?: string;
}

export interface OpContext {
  shape(tensor: string): number[];   // physical shape with symbols bound
  dims(shape: Dim[]): number[];      // a shape written in an op's attributes, symbols bound
  precision: Precision;              // of the weights as stored on the GPU
  weightShape(slice: string): number[];  // a weight slice's packed shape (binary's constant operand)
  /** What one workgroup may use on this device (kernels that keep a whole reduction in one). */
  workgroupLimits: WorkgroupLimits;
  /** Instance-norm statistics kept for a later call, or taken from the caller (norm_stats.ts);
   *  absent: computed and used within the call. */
  normStats?: 'capture' | 'supply';
  /** The device's subgroup sizes when kernels may use subgroup operations (kernels/reduce.ts),
   *  else null. */
  subgroups: SubgroupSizes | null;
  /** 'large': every conv that can take the 128×128 tiling does, whatever its size (tests of
   *  that form on small shapes); otherwise conv2d.ts chooses by shape. */
  convTiles?: 'large';
  /** Small 1×1 convs that would split K split it inside the workgroup (pointwise_split.ts); the
   *  engine turns this off on software adapters, where that form runs slower than split-K. */
  splitKInWorkgroup: boolean;
  /** The depthwise convs' outputs a squeeze-excite gate reads, by tensor: the conv also writes
   *  their channel sums there, and the gate starts from those (depthwise.ts, planDepthwiseFusions). */
  channelSums?: Map<string, ChannelSums>;
  /** The 1×1 expansions that depthwise convs compute themselves, by the depthwise conv's name
   *  (expand_depthwise.ts): those expansions have no dispatch of their own. */
  expandFusions?: Map<string, ExpandFusion>;
  /** How convs marked int8 run in integers (conv2d_int8.ts); absent: as float convs. */
  int8?: Int8Matrices;
}

/** How marked convs run: on the subgroup matrix units (those big enough to gain), or all of them
 *  with the plain-WGSL stand-in for the units (tests). */
export type Int8Matrices = 'subgroup-matrix' | 'emulated';

/** Partial sums over pixels of a depthwise conv's output per channel: a scratch buffer of
 *  [N, parts, C/4] vec4s, one per strip of pixels of each image. */
export interface ChannelSums { id: string; parts: number }

/** The subgroup sizes the adapter says it may use (any size in the range, per pipeline). */
export interface SubgroupSizes { minSize: number; maxSize: number }

export interface WorkgroupLimits { threads: number; storageBytes: number }

/** WebGPU's guaranteed minimums, for plans made without a device's limits. */
export const DEFAULT_WORKGROUP_LIMITS: WorkgroupLimits = { threads: 256, storageBytes: 16384 };

export type KernelGenerator = (op: OpSpec, ctx: OpContext) => KernelDispatch[];

export const pad4 = (n: number) => Math.ceil(n / 4) * 4;
export const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Each axis's stride, in elements, in a row-major tensor of `shape`. */
export const rowMajorStrides = (shape: number[]) => shape.map((_, i) => prod(shape.slice(i + 1)));

/** A WGSL f32 literal that parses back to the same float32 as the manifest's number. */
export function f32(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`non-finite constant ${x}`);
  const s = String(Math.fround(x));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

export const u32 = (x: number) => `${x}u`;
/** The lowest finite f32 (start of a max reduction), exactly. */
export const F32_LOWEST = '-0x1.fffffep+127f';
export const i32 = (x: number) => `${x}i`;

/** Workgroup index over a dispatch laid out as x*y; the executor's layout must agree. */
export const WORKGROUP_INDEX = 'let wg = wid.x + wid.y * nwg.x;';
export const ENTRY_PARAMS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, '
  + '@builtin(local_invocation_index) lid: u32';

/** An activation tensor seen as rows of `channels` floats: declaration plus vec4 accessors
 *  over 4 channels starting at c (masked past `channels` when the rows aren't vec4-aligned). */
export class RowTensor {
  readonly vec: boolean;
  constructor(readonly name: string, readonly channels: number, vectorOk = true) {
    this.vec = vectorOk && channels % 4 === 0;
  }

  decl(binding: number, write: boolean): string {
    const type = this.vec ? 'array<vec4<f32>>' : 'array<f32>';
    return `@group(0) @binding(${binding}) var<storage, ${write ? 'read_write' : 'read'}> ${this.name}: ${type};`;
  }

  /** WGSL functions ld_<name>(row, c) and st_<name>(row, c, v); c a multiple of 4 when vec. */
  helpers(write: boolean): string {
    const C = this.channels;
    const n = this.name;
    if (this.vec) {
      return write
        ? `fn st_${n}(row: u32, c: u32, v: vec4<f32>) { ${n}[(row * ${u32(C)} + c) / 4u] = v; }`
        : `fn ld_${n}(row: u32, c: u32) -> vec4<f32> { return ${n}[(row * ${u32(C)} + c) / 4u]; }`;
    }
    if (write) {
      return `fn st_${n}(row: u32, c: u32, v: vec4<f32>) {
  let b = row * ${u32(C)} + c;
  for (var j = 0u; j < 4u; j++) { if (c + j < ${u32(C)}) { ${n}[b + j] = v[j]; } }
}`;
    }
    return `fn ld_${n}(row: u32, c: u32) -> vec4<f32> {
  let b = row * ${u32(C)} + c;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (c + j < ${u32(C)}) { v[j] = ${n}[b + j]; } }
  return v;
}`;
  }
}

/** A weight slice: fp32 as vec4s, fp16 as pairs of u32 unpacked to f32 (math stays f32).
 *  w4_<name>(i) reads the i-th group of 4, w1_<name>(i) one element. */
export function weightDecl(binding: number, name: string, precision: Precision): string {
  if (precision === 'fp32') {
    return `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4<f32>>;
fn w4_${name}(i: u32) -> vec4<f32> { return ${name}[i]; }
fn w1_${name}(i: u32) -> f32 { return ${name}[i / 4u][i % 4u]; }`;
  }
  return `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec2<u32>>;
fn w4_${name}(i: u32) -> vec4<f32> { let p = ${name}[i]; return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y)); }
fn w1_${name}(i: u32) -> f32 { return unpack2x16float(${name}[i / 4u][(i / 2u) % 2u])[i % 2u]; }`;
}

// A numeric parameter (null where JSON has none, e.g. an unbounded clip); gelu's `approximate` is a string.
const param = (a: Activation, key: string) => (a.params?.[key] ?? null) as number | null;

/** WGSL statements applying the manifest's activation list, in order, to the vec4 `v`. */
export function activationCode(acts: Activation[] | undefined, v: string): string {
  return (acts ?? []).map((a) => {
    switch (a.fn) {
      case 'relu': return `${v} = max(${v}, vec4<f32>(0.0));`;
      case 'clip': {
        const lo = param(a, 'min');
        const hi = param(a, 'max');
        return [lo === null ? '' : `${v} = max(${v}, vec4<f32>(${f32(lo)}));`,
          hi === null ? '' : `${v} = min(${v}, vec4<f32>(${f32(hi)}));`].join(' ');
      }
      case 'sigmoid': return `${v} = 1.0 / (1.0 + exp(-${v}));`;
      case 'tanh': return `${v} = tanh(clamp(${v}, vec4<f32>(-15.0), vec4<f32>(15.0)));`;
      case 'scale': return `${v} = ${v} * ${f32(param(a, 'factor')!)};`;
      case 'hard_sigmoid':
        return `${v} = clamp(${f32(param(a, 'alpha')!)} * ${v} + ${f32(param(a, 'beta')!)}, vec4<f32>(0.0), vec4<f32>(1.0));`;
      case 'hard_swish': return `${v} = ${v} * clamp(${v} / 6.0 + 0.5, vec4<f32>(0.0), vec4<f32>(1.0));`;
      case 'silu': return `${v} = ${v} / (1.0 + exp(-${v}));`;
      case 'leaky_relu': return `${v} = select(${v} * ${f32(param(a, 'alpha')!)}, ${v}, ${v} >= vec4<f32>(0.0));`;
      case 'sqrt': return `${v} = sqrt(${v});`;
      case 'reciprocal': return `${v} = 1.0 / ${v};`;
      case 'fake_quant': {
        const s = f32(param(a, 'scale')!);
        const zp = f32(param(a, 'zero_point')!);
        return `${v} = (clamp(round(${v} / ${s}) + ${zp}, vec4<f32>(${f32(param(a, 'qmin')!)}), `
          + `vec4<f32>(${f32(param(a, 'qmax')!)})) - ${zp}) * ${s};`;
      }
      case 'exp': return `${v} = exp(${v});`;
      case 'sin': return `${v} = sin4(${v});`;
      case 'cos': return `${v} = cos4(${v});`;
      case 'log': return `${v} = log4(${v});`;
      case 'neg': return `${v} = -${v};`;
      case 'abs': return `${v} = abs(${v});`;
      case 'erf': return `${v} = erf4(${v});`;
      case 'gelu': return a.params?.approximate === 'tanh'
        ? `${v} = 0.5 * ${v} * (1.0 + tanh(clamp(0.7978845608028654 * (${v} + 0.044715 * ${v} * ${v} * ${v}), `
          + `vec4<f32>(-15.0), vec4<f32>(15.0))));`
        : `${v} = 0.5 * ${v} * (1.0 + erf4(${v} * 0.7071067811865476));`;
      case 'elu': return `${v} = select(${f32(param(a, 'alpha')!)} * (exp(min(${v}, vec4<f32>(0.0))) - 1.0), ${v}, ${v} > vec4<f32>(0.0));`;
      case 'celu': {
        const alpha = f32(param(a, 'alpha')!);
        return `${v} = max(${v}, vec4<f32>(0.0)) + min(vec4<f32>(0.0), ${alpha} * (exp(min(${v}, vec4<f32>(0.0)) / ${alpha}) - 1.0));`;
      }
      case 'selu': return `${v} = ${f32(param(a, 'gamma')!)} * select(${f32(param(a, 'alpha')!)} * (exp(min(${v}, vec4<f32>(0.0))) - 1.0), ${v}, ${v} > vec4<f32>(0.0));`;
      case 'softplus': return `${v} = softplus4(${v});`;
      case 'softsign': return `${v} = ${v} / (1.0 + abs(${v}));`;
      case 'mish': return `${v} = ${v} * tanh(clamp(softplus4(${v}), vec4<f32>(-15.0), vec4<f32>(15.0)));`;
      default: throw new UnsupportedOpError(`unsupported activation ${a.fn}`);
    }
  }).join('\n    ');
}

// Module-scope WGSL that activationCode's output may call. WGSL has no erf: erf4 is 1 − erfc
// with erfc by its Chebyshev fit (Numerical Recipes' erfcc, fractional error below 1.2e-7), so
// erf is within ~1.2e-7 of exact everywhere. softplus4 never overflows: max(x, 0) + log(1 + e^-|x|).
const ACTIVATION_HELPERS = `
fn erf4(x: vec4<f32>) -> vec4<f32> {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return sign(x) * (1.0 - t * exp(p - z * z));
}
fn log4(x: vec4<f32>) -> vec4<f32> {
  // log(±0) = -inf as ONNX says (some devices give log of the smallest normal instead); the
  // infinity is made at run time, since a WGSL constant can't be one.
  let lowest = abs(x) * 0.0 + ${F32_LOWEST};
  return select(log(x), lowest * 2.0, x == vec4<f32>(0.0));
}
// sin and cos of our own: WGSL's builtins need only be within 2^-11 (absolute) on [-π, π] and
// nothing outside it (SwiftShader's are ~2e-4 off near ±1). x = k·π/2 + r with |r| ≤ π/4
// (Cody and Waite: π/2 as 1.5703125, exact in 8 bits so k·1.5703125 is exact, plus the rest),
// then Taylor polynomials of r to r⁹ and r⁸ (truncation below 3e-8 there) and the quadrant k mod 4.
struct Quadrant { s: vec4<f32>, c: vec4<f32>, q: vec4<i32> }
fn quadrant4(x: vec4<f32>) -> Quadrant {
  let k = round(x * 0.6366197723675814);
  let r = (x - k * 1.5703125) - k * 0.000483826794896558;
  let r2 = r * r;
  let s = r + r * r2 * (-0.16666666666666666 + r2 * (0.008333333333333333 + r2 * (-0.0001984126984126984
    + r2 * 2.7557319223985893e-6)));
  let c = 1.0 + r2 * (-0.5 + r2 * (0.041666666666666664 + r2 * (-0.001388888888888889 + r2 * 2.48015873015873e-5)));
  return Quadrant(s, c, vec4<i32>(k) & vec4<i32>(3));
}
fn sin4(x: vec4<f32>) -> vec4<f32> {
  let p = quadrant4(x);
  return select(select(p.s, p.c, p.q == vec4<i32>(1)), select(-p.s, -p.c, p.q == vec4<i32>(3)), p.q >= vec4<i32>(2));
}
fn cos4(x: vec4<f32>) -> vec4<f32> {
  let p = quadrant4(x);
  return select(select(p.c, -p.s, p.q == vec4<i32>(1)), select(-p.c, p.s, p.q == vec4<i32>(3)), p.q >= vec4<i32>(2));
}
fn softplus4(x: vec4<f32>) -> vec4<f32> {
  return max(x, vec4<f32>(0.0)) + log(1.0 + exp(-abs(x)));
}`;

/** The dispatch with the activation helpers appended when its source calls one: any kernel
 *  that applies activations may, and only those that do carry them. */
export function withActivationHelpers(d: KernelDispatch): KernelDispatch {
  return /\b(erf4|log4|softplus4|sin4|cos4)\(/.test(d.source) ? { ...d, source: d.source + ACTIVATION_HELPERS } : d;
}

/** The model uses something the engine has no kernel for: callers fall back to wasm. */
export class UnsupportedOpError extends Error {}

/** Prologue of a one-thread-per-element kernel: `t` is the element, past `total` returns. */
export const elementIndex = (threads: number, total: number) =>
  `${WORKGROUP_INDEX}
  let t = wg * ${u32(threads)} + lid;
  if (t >= ${u32(total)}) { return; }`;

const COPY_THREADS = 64;

/** A one-thread-per-element dispatch reading f32 array `src` and writing f32 array `dst`
 *  (copies, gathers, scatters, row loops): `body` sees the element index `t`, below `total`;
 *  `decls` are module-scope WGSL it uses. */
export function elementCopy(label: string, src: Arg, dst: Arg, total: number, body: string, decls = ''): KernelDispatch {
  const source = `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
${decls}

@compute @workgroup_size(${COPY_THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(COPY_THREADS, total)}
  ${body}
}`;
  return { label, source, workgroups: Math.ceil(total / COPY_THREADS), args: [src, dst] };
}

/** Prologue of a kernel that handles one vec4 of channels of one pixel per thread: `c` is the
 *  first of its 4 channels, `m` the pixel (row) index. */
export const pixelVec4Index = (threads: number, total: number, C4: number) =>
  `${elementIndex(threads, total)}
  let c = (t % ${u32(C4)}) * 4u;
  let m = t / ${u32(C4)};`;

/** Bindings and load/store helpers of a kernel that reads x (binding 0) and writes y (1). */
export const inOutRows = (x: RowTensor, y: RowTensor) =>
  [x.decl(0, false), y.decl(1, true), x.helpers(false), y.helpers(true)].join('\n');

/** The bindings shared by conv2d, depthwise conv2d and gemm: input x, weight, bias, output y
 *  and, when the op fuses a residual add, res (shaped like y). */
export function weightedOpBindings(op: OpSpec, x: RowTensor, y: RowTensor, res: RowTensor | null,
  precision: Precision): { decls: string; args: Arg[] } {
  const decls = [x.decl(0, false), weightDecl(1, 'weight', precision), weightDecl(2, 'bias', precision),
    y.decl(3, true), res ? res.decl(4, false) : ''].join('\n');
  const args: Arg[] = [{ kind: 'tensor', name: op.inputs[0] }, { kind: 'weight', slice: op.weights.weight },
    { kind: 'weight', slice: op.weights.bias }, { kind: 'tensor', name: op.outputs[0] }];
  if (res) args.push({ kind: 'tensor', name: op.inputs[1] });
  return { decls, args };
}

/** A conv's input prologue (the compiler's `input_affine`: a pre-activation BatchNorm and its
 *  activations folded into the conv's loads, compiler/passes/preactivation.py): its two weights
 *  declared from `binding` on, WGSL pre4(v, c4) (channels 4·c4 …) and pre1(v, c) mapping loaded
 *  values through x · in_scale + in_shift and the input activations, and the args to bind.
 *  Null for a conv without one. Kernels apply it to values read from inside the image only. */
export function inputAffine(op: OpSpec, binding: number, precision: Precision): { decls: string; args: Arg[] } | null {
  if (!op.attrs.input_affine) return null;
  const acts = activationCode(op.attrs.input_activations, 'v');
  const decls = `${weightDecl(binding, 'in_scale', precision)}
${weightDecl(binding + 1, 'in_shift', precision)}
fn pre4(x: vec4<f32>, c4: u32) -> vec4<f32> { var v = x * w4_in_scale(c4) + w4_in_shift(c4); ${acts} return v; }
fn pre1(x: f32, c: u32) -> f32 { var v = vec4<f32>(x * w1_in_scale(c) + w1_in_shift(c)); ${acts} return v.x; }`;
  return { decls, args: [{ kind: 'weight', slice: op.weights.in_scale }, { kind: 'weight', slice: op.weights.in_shift }] };
}

/** WGSL adding the residual `load` to the vec4 `v` of a conv2d, after the activations a QDQ
 *  network applies before its add (the op's pre_activations: compiler/passes/fuse.py). */
export function residualCode(op: OpSpec, load: string): string {
  return `${activationCode(op.attrs.pre_activations, 'v')}
    v += ${load};`;
}

/** The geometry of a windowed op over NHWC (conv2d, pooling). */
export function windowGeometry(op: OpSpec, ctx: Pick<OpContext, 'shape'>) {
  const a = op.attrs;
  const [N, H, W, C] = ctx.shape(op.inputs[0]);
  const [, OH, OW, CO] = ctx.shape(op.outputs[0]);
  const [KH, KW] = a.kernel as number[];
  const [SH, SW] = a.stride as number[];
  const [DH, DW] = a.dilation as number[];
  const [PT, PL, PB, PR] = a.pads as number[];
  return { N, H, W, C, OH, OW, CO, KH, KW, SH, SW, DH, DW, PT, PL, PB, PR };
}
