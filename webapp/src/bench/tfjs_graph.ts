// Runs an exported compute graph (desktop/tessera/bench/tfjs_export.py) with TensorFlow.js ops:
// the same network and weights as the ONNX file, built from tfjs ops the way a tfjs user would.
// Weights are uploaded and put into tfjs's layouts once at load; each intermediate is freed right
// after its last use, so peak memory is the network's, not the sum of all its activations.

import * as tf from '@tensorflow/tfjs-core';
import type { BenchInput } from './runtime';
import { UnsupportedModelError } from './runtime';
import { OPS, toLogical, toStored, type Attrs } from './tfjs_ops';

interface TensorEntry { offset: number; shape: number[]; dtype: 'float32' | 'int32' }
interface NodeJson { op: string; inputs: string[]; outputs: string[]; attrs: Attrs }
export interface GraphJson {
  format: number;
  inputs: { name: string; shape: number[] }[];
  outputs: string[];
  weights: { file: string; bytes: number };
  tensors: Record<string, TensorEntry>;
  nodes: NodeJson[];
  unsupported: string[];
}

const FORMAT = 1;
const FILTER = '#filter';

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

/** Every reason the graph can't run here; empty when it can. */
function unsupportedReasons(graph: GraphJson): string[] {
  const reasons = new Set(graph.unsupported);
  for (const node of graph.nodes) {
    const def = OPS[node.op];
    if (!def) { reasons.add(node.op); continue; }
    if (node.outputs.length !== 1) reasons.add(`${node.op} (several outputs)`);
    const reason = def.check?.(node.attrs, node.inputs.map((n) => graph.tensors[n]?.shape));
    if (reason) reasons.add(reason);
  }
  return [...reasons];
}

/** ONNX conv weights (OIHW) in tfjs's filter layouts: HWIO, or [H, W, C, multiplier] when depthwise. */
function convFilter(w: tf.Tensor, group: number): tf.Tensor {
  if (group === 1) return tf.transpose(w, [2, 3, 1, 0]);
  const [out, , kh, kw] = w.shape;
  return tf.transpose(tf.reshape(w, [group, out / group, kh, kw]), [2, 3, 0, 1]);
}

export class TfjsGraph {
  private constructor(
    private readonly graph: GraphJson,
    private readonly consts: Map<string, tf.Tensor>,
    private readonly args: string[][],            // per node: names to look up, filters renamed
    private readonly dying: string[][],           // per node: intermediates used last there
  ) {}

  static async load(graphUrl: string, weightsUrl: string): Promise<TfjsGraph> {
    const graph = (await (await fetchOk(graphUrl)).json()) as GraphJson;
    if (graph.format !== FORMAT) throw new Error(`tfjs graph format ${graph.format}, expected ${FORMAT}`);
    const reasons = unsupportedReasons(graph);
    if (reasons.length) throw new UnsupportedModelError(`unsupported: ${reasons.join(', ')}`);
    const bytes = await (await fetchOk(weightsUrl)).arrayBuffer();

    const consts = new Map<string, tf.Tensor>();
    const raw = (name: string): tf.Tensor => {
      const e = graph.tensors[name];
      const size = e.shape.reduce((p, d) => p * d, 1);
      const data = e.dtype === 'int32' ? new Int32Array(bytes, e.offset, size) : new Float32Array(bytes, e.offset, size);
      return tf.tensor(data, e.shape, e.dtype);
    };
    const args = graph.nodes.map((node) => node.inputs.map((name, i) => {
      if (!(name in graph.tensors)) return name;
      const filterName = name + FILTER;
      if (node.op === 'Conv' && i === 1) {
        if (!consts.has(filterName)) {
          consts.set(filterName, tf.tidy(() => convFilter(raw(name), (node.attrs.group as number | undefined) ?? 1)));
        }
        return filterName;
      }
      if (!consts.has(name)) consts.set(name, tf.tidy(() => toStored(raw(name))));
      return name;
    }));

    const lastUse = new Map<string, number>();
    graph.nodes.forEach((node, i) => node.inputs.forEach((n) => { if (!(n in graph.tensors)) lastUse.set(n, i); }));
    const dying: string[][] = graph.nodes.map(() => []);
    for (const [name, i] of lastUse) if (!graph.outputs.includes(name)) dying[i].push(name);
    return new TfjsGraph(graph, consts, args, dying);
  }

  /** One inference; returns the first output in the logical (NCHW) layout. Caller disposes it. */
  execute(inputs: BenchInput[]): tf.Tensor {
    const env = new Map<string, tf.Tensor>();
    for (const spec of this.graph.inputs) {
      const given = inputs.find((x) => x.name === spec.name);
      if (!given) throw new Error(`input ${spec.name} was not given`);
      env.set(spec.name, tf.tidy(() => toStored(tf.tensor(given.data, given.shape))));
    }
    this.graph.nodes.forEach((node, i) => {
      const args = this.args[i].map((n) => env.get(n) ?? this.consts.get(n)!);
      let out = tf.tidy(() => OPS[node.op].run(args, node.attrs));
      if (args.includes(out)) out = tf.clone(out);   // never alias a tensor that may be freed
      env.set(node.outputs[0], out);
      for (const name of this.dying[i]) {
        env.get(name)?.dispose();
        env.delete(name);
      }
    });
    const out = env.get(this.graph.outputs[0]) ?? this.consts.get(this.graph.outputs[0])!;
    const result = tf.tidy(() => toLogical(out));
    for (const t of env.values()) if (t !== result) t.dispose();
    return result;
  }

  dispose(): void {
    for (const t of this.consts.values()) t.dispose();
    this.consts.clear();
  }
}
