// ONNX ops as TensorFlow.js ops. Activations run in NHWC, tfjs's native layout: every rank-4
// tensor is stored NHWC while its logical (ONNX) shape is NCHW; other ranks are stored as they
// are. Ops that care about axes map them; the few that reshape go through the logical layout.
// Constant parameters (shapes, pads, bounds) arrive as attributes, folded by the Python export.

import * as tf from '@tensorflow/tfjs-core';

export type Attrs = Record<string, unknown>;
export interface OpDef {
  /** Why this node can't run, or null; checked for every node before anything is loaded. */
  check?(attrs: Attrs, weightShapes: (number[] | undefined)[]): string | null;
  run(inputs: tf.Tensor[], attrs: Attrs): tf.Tensor;
}

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
/** Logical (NCHW) axis -> stored (NHWC) axis, for rank-4 tensors. */
const STORED_AXIS = [0, 3, 1, 2];

export const toStored = (t: tf.Tensor): tf.Tensor => (t.rank === 4 ? tf.transpose(t, TO_NHWC) : t);
export const toLogical = (t: tf.Tensor): tf.Tensor => (t.rank === 4 ? tf.transpose(t, TO_NCHW) : t);

const ints = (v: unknown): number[] => (v as number[] | undefined) ?? [];
const num = (v: unknown, dflt: number): number => (v === undefined ? dflt : (v as number));
const storedAxis = (axis: number, rank: number): number => {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? STORED_AXIS[a] : a;
};

/** Bring a lower-rank operand into a rank-4 (stored NHWC) operand's layout, per numpy broadcasting. */
function aligned(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const lift = (t: tf.Tensor) => toStored(tf.reshape(t, [...Array(4 - t.rank).fill(1), ...t.shape]));
  if (a.rank === 4 && b.rank < 4) return [a, lift(b)];
  if (b.rank === 4 && a.rank < 4) return [lift(a), b];
  return [a, b];
}

const binary = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OpDef => ({
  run: ([a, b]) => f(...aligned(a, b)),
});
const unary = (f: (x: tf.Tensor) => tf.Tensor): OpDef => ({ run: ([x]) => f(x) });

/** Apply f in the logical layout (for reshapes and rank changes). */
const logical = (f: (inputs: tf.Tensor[], attrs: Attrs) => tf.Tensor): OpDef => ({
  run: (inputs, attrs) => toStored(f(inputs.map(toLogical), attrs)),
});

type Activation = 'linear' | 'relu' | 'relu6' | 'sigmoid';

/** ONNX [top, left, bottom, right] -> tfjs NHWC explicit padding. */
function explicitPad(pads: number[]): [[number, number], [number, number], [number, number], [number, number]] {
  const [t = 0, l = 0, b = 0, r = 0] = pads;
  return [[0, 0], [t, b], [l, r], [0, 0]];
}

function conv(inputs: tf.Tensor[], attrs: Attrs): tf.Tensor {
  const [x, filter, bias] = inputs as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D | undefined];
  const strides = ints(attrs.strides).length ? ints(attrs.strides) as [number, number] : [1, 1] as [number, number];
  const dilations = ints(attrs.dilations).length ? ints(attrs.dilations) as [number, number] : [1, 1] as [number, number];
  const pads = ints(attrs.pads);
  const activation = (attrs.activation as Activation | undefined) ?? 'linear';
  if (num(attrs.group, 1) === 1) {
    const pad = pads.some((p) => p !== 0) ? explicitPad(pads) : 'valid';
    return tf.fused.conv2d({ x, filter, bias, strides, dilations, pad, activation });
  }
  // tfjs's depthwise conv takes only symmetric padding: pad explicitly otherwise.
  const [t = 0, l = 0, b = 0, r = 0] = pads;
  const symmetric = t === b && l === r && t === l;
  const input = symmetric ? x : tf.pad(x, explicitPad(pads));
  return tf.fused.depthwiseConv2d({ x: input, filter, bias, strides, dilations,
    pad: symmetric ? t : 'valid', activation });
}

function pool(kind: 'max' | 'avg', x: tf.Tensor4D, attrs: Attrs): tf.Tensor {
  const k = ints(attrs.kernel_shape) as [number, number];
  const s = (ints(attrs.strides).length ? ints(attrs.strides) : [1, 1]) as [number, number];
  const pads = ints(attrs.pads);
  const pad = pads.some((p) => p !== 0) ? explicitPad(pads) : 'valid';
  return kind === 'max' ? tf.maxPool(x, k, s, pad) : tf.avgPool(x, k, s, pad as 'valid');
}

function reduce(f: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): OpDef {
  return {
    run: ([x], attrs) => {
      const keep = num(attrs.keepdims, 1) === 1;
      const axes = ints(attrs.axes).length ? ints(attrs.axes) : x.shape.map((_, i) => i);
      if (x.rank === 4 && keep) return f(x, axes.map((a) => storedAxis(a, 4)), true);
      return toStored(f(toLogical(x), axes, keep));
    },
  };
}

function resolveShape(input: number[], target: number[], allowZero: boolean): number[] {
  return target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
}

function hardSigmoid(x: tf.Tensor, alpha: number, beta: number): tf.Tensor {
  return tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1);
}

function resizeSize(x: tf.Tensor, attrs: Attrs): [number, number] {
  const sizes = ints(attrs.sizes);
  if (sizes.length === 4) return [sizes[2], sizes[3]];
  const scales = ints(attrs.scales);
  return [Math.floor(x.shape[1]! * scales[2]), Math.floor(x.shape[2]! * scales[3])];
}

const RESIZE_MODES: Record<string, (x: tf.Tensor4D, size: [number, number]) => tf.Tensor> = {
  'nearest/asymmetric/floor': (x, size) => tf.image.resizeNearestNeighbor(x, size, false, false),
  'linear/half_pixel': (x, size) => tf.image.resizeBilinear(x, size, false, true),
  'linear/align_corners': (x, size) => tf.image.resizeBilinear(x, size, true, false),
};
const resizeKey = (attrs: Attrs): string => {
  const mode = (attrs.mode as string | undefined) ?? 'nearest';
  const coords = (attrs.coordinate_transformation_mode as string | undefined) ?? 'half_pixel';
  return mode === 'nearest' ? `${mode}/${coords}/${(attrs.nearest_mode as string | undefined) ?? 'round_prefer_floor'}`
    : `${mode}/${coords}`;
};

export const OPS: Record<string, OpDef> = {
  Conv: {
    check: (attrs, [, w]) => {
      const group = num(attrs.group, 1);
      if (ints(attrs.kernel_shape).length !== 2) return 'Conv (not 2-D)';
      if (group !== 1 && (!w || w[1] !== 1)) return `Conv (grouped, group=${group})`;
      if (ints(attrs.strides).some((s) => s > 1) && ints(attrs.dilations).some((d) => d > 1)) {
        return 'Conv (stride and dilation both > 1)';
      }
      return null;
    },
    run: conv,
  },
  BatchNormalization: {
    run: ([x, scale, bias, mean, variance], attrs) =>
      tf.batchNorm(x, mean, variance, bias, scale, num(attrs.epsilon, 1e-5)),
  },
  InstanceNormalization: {
    run: ([x, scale, bias], attrs) => {
      const { mean, variance } = tf.moments(x, [1, 2], true);
      const perChannel = (t: tf.Tensor) => tf.reshape(t, [1, 1, 1, -1]);  // batchNorm wants equal ranks
      return tf.batchNorm(x, mean, variance, perChannel(bias), perChannel(scale), num(attrs.epsilon, 1e-5));
    },
  },
  Relu: unary(tf.relu),
  Sigmoid: unary(tf.sigmoid),
  Tanh: unary(tf.tanh),
  Sqrt: unary(tf.sqrt),
  Exp: unary(tf.exp),
  Neg: unary(tf.neg),
  Reciprocal: unary(tf.reciprocal),
  LeakyRelu: { run: ([x], attrs) => tf.leakyRelu(x, num(attrs.alpha, 0.01)) },
  Clip: {
    run: ([x], attrs) => (attrs.min === 0 && attrs.max === 6 ? tf.relu6(x)
      : tf.clipByValue(x, num(attrs.min, -Infinity), num(attrs.max, Infinity))),
  },
  HardSigmoid: { run: ([x], attrs) => hardSigmoid(x, num(attrs.alpha, 0.2), num(attrs.beta, 0.5)) },
  HardSwish: { run: ([x]) => tf.mul(x, hardSigmoid(x, 1 / 6, 0.5)) },
  Add: binary(tf.add),
  Sub: binary(tf.sub),
  Mul: binary(tf.mul),
  Div: binary(tf.div),
  Pow: { run: ([x], attrs) => (attrs.exponent === 2 ? tf.square(x) : tf.pow(x, num(attrs.exponent, 1))) },
  GlobalAveragePool: { run: ([x]) => tf.mean(x, [1, 2], true) },
  GlobalMaxPool: { run: ([x]) => tf.max(x, [1, 2], true) },
  MaxPool: {
    check: (attrs) => (num(attrs.ceil_mode, 0) ? 'MaxPool (ceil_mode)' : null),
    run: ([x], attrs) => pool('max', x as tf.Tensor4D, attrs),
  },
  AveragePool: {
    check: (attrs) => (ints(attrs.pads).some((p) => p !== 0) || num(attrs.ceil_mode, 0)
      ? 'AveragePool (padded or ceil_mode)' : null),
    run: ([x], attrs) => pool('avg', x as tf.Tensor4D, attrs),
  },
  Gemm: {
    check: (attrs) => (num(attrs.alpha, 1) !== 1 || num(attrs.beta, 1) !== 1 ? 'Gemm (alpha/beta != 1)' : null),
    run: ([a, b, c], attrs) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c,
      transposeA: num(attrs.transA, 0) === 1, transposeB: num(attrs.transB, 0) === 1 }),
  },
  MatMul: {
    run: ([a, b]) => {
      if (a.rank === 4 || b.rank === 4) return toStored(tf.matMul(toLogical(a), toLogical(b)));
      return tf.matMul(a, b);
    },
  },
  Softmax: {
    run: ([x], attrs) => {
      const axis = storedAxis(num(attrs.axis, -1), x.rank);
      if (axis === x.rank - 1) return tf.softmax(x);
      // tfjs's softmax is over the last axis: move the axis there and back.
      const rank = x.rank;
      const logicalAxis = (num(attrs.axis, -1) + rank) % rank;
      const perm = [...Array(rank).keys()].filter((i) => i !== logicalAxis).concat(logicalAxis);
      const back = perm.map((_, i) => perm.indexOf(i));
      return toStored(tf.transpose(tf.softmax(tf.transpose(toLogical(x), perm)), back));
    },
  },
  Concat: {
    run: (inputs, attrs) => tf.concat(inputs, storedAxis(num(attrs.axis, 0), inputs[0].rank)),
  },
  ReduceMean: reduce(tf.mean),
  ReduceSum: reduce(tf.sum),
  ReduceMax: reduce(tf.max),
  Flatten: logical(([x], attrs) => {
    const axis = num(attrs.axis, 1);
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    return tf.reshape(x, [outer, -1]);
  }),
  Reshape: logical(([x], attrs) => tf.reshape(x, resolveShape(x.shape, ints(attrs.shape), num(attrs.allowzero, 0) === 1))),
  Transpose: logical(([x], attrs) => tf.transpose(x, ints(attrs.perm).length ? ints(attrs.perm) : undefined)),
  Unsqueeze: logical(([x], attrs) => {
    const rank = x.rank + ints(attrs.axes).length;
    const axes = new Set(ints(attrs.axes).map((a) => (a < 0 ? a + rank : a)));
    const dims = [...x.shape];
    const shape = Array.from({ length: rank }, (_, i) => (axes.has(i) ? 1 : dims.shift()!));
    return tf.reshape(x, shape);
  }),
  Squeeze: logical(([x], attrs) => tf.squeeze(x, ints(attrs.axes).length ? ints(attrs.axes) : undefined)),
  Pad: {
    check: (attrs) => {
      const mode = (attrs.mode as string | undefined) ?? 'constant';
      if (attrs.axes !== undefined) return 'Pad (axes)';
      if (mode !== 'constant' && mode !== 'reflect') return `Pad (mode ${mode})`;
      return ints(attrs.pads).some((p) => p < 0) ? 'Pad (negative pads)' : null;
    },
    run: ([x], attrs) => {
      const pads = ints(attrs.pads);
      const r = x.rank;
      const logicalPairs = Array.from({ length: r }, (_, i): [number, number] => [pads[i], pads[i + r]]);
      const pairs = r === 4 ? TO_NHWC.map((i) => logicalPairs[i]) : logicalPairs;
      return attrs.mode === 'reflect' ? tf.mirrorPad(x, pairs, 'reflect') : tf.pad(x, pairs, num(attrs.value, 0));
    },
  },
  Resize: {
    check: (attrs) => (resizeKey(attrs) in RESIZE_MODES ? null : `Resize (${resizeKey(attrs)})`),
    run: ([x], attrs) => RESIZE_MODES[resizeKey(attrs)](x as tf.Tensor4D, resizeSize(x, attrs)),
  },
};
