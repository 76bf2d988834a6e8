// Tessera's WebGPU engine: load a model package from a URL, run it. Loading fetches the
// weights (fp16 by default: half the bytes; kernels unpack them to f32) and uploads them while
// the pipelines for the reference input shape compile; other input shapes (e.g. batch sizes)
// are planned and compiled on first use and kept.

import { openDevice, type EngineDevice } from './device';
import { PipelineCache, PreparedCall, type TopEntry } from './executor';
import { checkSupported } from './kernels/index';
import { fetchPackage, type LoadProgress } from './loader';
import { evaluateShape, type Manifest, type Precision } from './manifest';
import { planCall } from './planner';
import { Readback } from './readback';
import { uploadWeights, type WeightStore } from './weights';

export { UnsupportedOpError } from './kernels/common';
export type { TopEntry } from './executor';

export interface EngineOptions {
  precision?: Precision;
  onProgress?: (p: LoadProgress) => void;
}

export class EngineModel {
  private readonly calls = new Map<string, Promise<PreparedCall>>();
  private constructor(readonly manifest: Manifest, private readonly gpu: EngineDevice,
    private readonly weights: WeightStore, private readonly pipelines: PipelineCache,
    private readonly readback: Readback) {}

  static async load(baseUrl: string, options: EngineOptions = {}): Promise<EngineModel> {
    const fetched = await fetchPackage(baseUrl, options.precision ?? 'fp16', options.onProgress);
    checkSupported(fetched.manifest);
    const gpu = await openDevice();
    const { device } = gpu;
    const uploading = uploadWeights(device, fetched);
    const pipelines = new PipelineCache(device);
    const { manifest, precision } = fetched;
    const shape = evaluateShape(manifest.inputs[0].shape, manifest.memory.reference_bindings);
    // Pipelines start compiling now, while the shards still download and upload.
    planCall(manifest, shape, precision, device.limits).dispatches.forEach((d) => pipelines.get(d));
    const model = new EngineModel(manifest, gpu, await uploading, pipelines, new Readback(device));
    await model.prepare(shape);
    model.throwIfFailed();
    return model;
  }

  get precision(): Precision { return this.weights.precision; }
  get adapterInfo(): GPUAdapterInfo { return this.gpu.adapterInfo; }
  /** The device is gone (driver reset, GPU removed): load the model again to go on. */
  get deviceLost(): boolean { return this.gpu.isLost(); }
  get pipelineCount(): number { return this.pipelines.size; }

  /** Plans, compiles and allocates for one logical input shape (once per shape). */
  prepare(shape: number[]): Promise<PreparedCall> {
    const key = shape.join('x');
    let call = this.calls.get(key);
    if (!call) {
      const { device } = this.gpu;
      const plan = planCall(this.manifest, shape, this.weights.precision, device.limits);
      call = PreparedCall.create(device, this.manifest, plan, this.weights, this.pipelines, this.readback);
      this.calls.set(key, call);
    }
    return call;
  }

  private throwIfFailed(): void {
    const failure = this.gpu.failure();
    if (failure) throw new Error(failure);
  }

  /** Fills every activation and scratch buffer of the call for `shape` with NaN (tests: a
   *  kernel that skips an element can't pass with a stale value). */
  async poison(shape: number[]): Promise<void> {
    (await this.prepare(shape)).fill(NaN);
  }

  /** The whole output in logical (ONNX) order. `shape` is the first input's; a model with
   *  more inputs (multistyle26's style_weights) takes them by name in `others`. */
  async run(input: Float32Array, shape: number[], others: Record<string, Float32Array> = {}): Promise<Float32Array> {
    const call = await this.prepare(shape);
    call.writeOtherInputs(others);
    const physical = await call.runPhysical(input);
    this.throwIfFailed();
    return toLogical(physical, call.plan.shapes.get(this.manifest.outputs[0].name)!, this.manifest.outputs[0].perm);
  }

  /** Top-k (index, probability) per row of the output, softmax applied when it is logits. */
  async topK(input: Float32Array, shape: number[], k: number, logits = true): Promise<TopEntry[][]> {
    const result = await (await this.prepare(shape)).runTopK(input, k, logits);
    this.throwIfFailed();
    return result;
  }

  async dispose(): Promise<void> {
    for (const call of this.calls.values()) (await call).destroy();
    this.calls.clear();
    this.weights.destroy();
    this.readback.destroy();
    this.gpu.device.destroy();
  }
}

/** physical = logical.transpose(perm) → logical. */
function toLogical(data: Float32Array, physical: number[], perm: number[]): Float32Array {
  if (perm.every((p, i) => p === i)) return data;
  if (physical.length === 4 && perm.join() === '0,2,3,1') return nhwcToNchw(data, physical);
  const logical = new Array<number>(perm.length);
  perm.forEach((p, i) => { logical[p] = physical[i]; });
  const out = new Float32Array(data.length);
  const lStrides = logical.map((_, i) => logical.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(physical.length).fill(0);
  for (let t = 0; t < data.length; t++) {
    let o = 0;
    for (let i = 0; i < physical.length; i++) o += idx[i] * lStrides[perm[i]];
    out[o] = data[t];
    for (let i = physical.length - 1; i >= 0 && ++idx[i] === physical[i]; i--) idx[i] = 0;
  }
  return out;
}

/** The image case of toLogical as plain loops: the general odometer above costs ~100 ms on a
 *  1024×1024×3 style output, these a few ms. */
function nhwcToNchw(data: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    const src = b * plane * c;
    const dst = b * plane * c;
    for (let ch = 0; ch < c; ch++) {
      const o = dst + ch * plane;
      for (let p = 0, i = src + ch; p < plane; p++, i += c) out[o + p] = data[i];
    }
  }
  return out;
}
