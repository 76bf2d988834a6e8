// The model package's manifest.json (docs/model-package.md), as the engine reads it, and the
// evaluation of its symbolic dims.

export type Dim = number | string;

export interface IoSpec {
  name: string;
  dtype: 'float32';
  shape: Dim[];             // logical (ONNX order)
  perm: number[];           // physical = logical.transpose(perm)
  physical_shape: Dim[];
  layout: string;
}

export interface Activation { fn: string; params?: Record<string, number | string | null> }

export interface OpSpec {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, any>;  // eslint-disable-line @typescript-eslint/no-explicit-any
  weights: Record<string, string>;
}

export type Precision = 'fp32' | 'fp16';

export interface SliceLocation { shard: number; offset: number; bytes: number }

export interface WeightSlice {
  layout: string;
  shape: number[];
  fp32: SliceLocation;
  fp16: SliceLocation;
}

export interface Manifest {
  format: 'tessera-model-package';
  version: number;
  name: string;
  title: string;
  task: string;
  labels: string | null;
  preprocess: { resize: number; crop: number; mean: number[]; std: number[] } | null;
  /** Image-to-image models: the value of white in the image input and output (1 or 255). */
  pixel_range?: number;
  symbols: string[];
  inputs: IoSpec[];
  outputs: IoSpec[];
  ops: OpSpec[];
  tensors: Record<string, { shape: Dim[]; buffer: number }>;
  memory: { buffers: number; reference_bindings: Record<string, number> };
  weights: { shards: Record<Precision, string[]>; slices: Record<string, WeightSlice> };
}

export type Bindings = Record<string, number>;

/** A dim expression: integers, symbols, + - * // and parentheses (floor division). */
export function evaluateDim(d: Dim, bindings: Bindings): number {
  if (typeof d === 'number') return d;
  const tokens = d.match(/\d+|[A-Za-z_]\w*|\/\/|[-+*()]/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const primary = (): number => {
    const t = tokens[pos++];
    if (t === '(') { const v = sum(); pos++; return v; }
    if (t === '-') return -primary();
    if (/^\d+$/.test(t)) return Number(t);
    if (!(t in bindings)) throw new Error(`no value bound for ${t} in ${d}`);
    return bindings[t];
  };
  const product = (): number => {
    let v = primary();
    while (peek() === '*' || peek() === '//') {
      const op = tokens[pos++];
      const r = primary();
      v = op === '*' ? v * r : Math.floor(v / r);
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-') v = tokens[pos++] === '+' ? v + product() : v - product();
    return v;
  };
  return sum();
}

export const evaluateShape = (shape: Dim[], b: Bindings): number[] => shape.map((d) => evaluateDim(d, b));

/** Symbols bound from the logical shape of the (first) input the caller gives. */
export function bindSymbols(spec: IoSpec, shape: number[]): Bindings {
  if (shape.length !== spec.shape.length) {
    throw new Error(`input ${spec.name} has rank ${shape.length}, the model expects ${spec.shape.length}`);
  }
  const bindings: Bindings = {};
  spec.shape.forEach((d, i) => {
    if (typeof d === 'string' && /^[A-Za-z_]\w*$/.test(d)) bindings[d] ??= shape[i];
  });
  const expected = evaluateShape(spec.shape, bindings);
  if (expected.some((d, i) => d !== shape[i])) {
    throw new Error(`input ${spec.name} has shape [${shape}], the model expects [${spec.shape}]`);
  }
  return bindings;
}
