// Tessera's WebGPU engine: load a model package from a URL, run it. Loading fetches the
// weights (fp16 by default: half the bytes; kernels unpack them to f32) and uploads them while
// the pipelines for the reference input shape compile; other input shapes (e.g. batch sizes)
// are planned and compiled on first use and kept.

import { isSoftwareAdapter } from './adapter';
import { openDevice, type EngineDevice } from './device';
import { PipelineCache, PreparedCall, type CallHooks, type CallInput, type CompileTimes, type TopEntry } from './executor';
import { imageInputShape, imageScaling } from './image_input';
import type { Int8Matrices, KernelDispatch, SubgroupSizes } from './kernels/common';
import { checkSupported } from './kernels/index';
import { fetchPackage, type LoadProgress } from './loader';
import { evaluateShape, type Manifest, type Precision } from './manifest';
import { NormStats } from './norm_stats';
import { planCall, type KernelChoices, type NormStatsMode, type Plan } from './planner';
import type { ImageSource } from './preprocess';
import { Readback } from './readback';
import { checkWeightsFit, uploadWeights, type WeightStore } from './weights';

export { UnsupportedOpError } from './kernels/common';
export { WeightsTooLargeError } from './weights';
export type { TopEntry } from './executor';
export { NormStats } from './norm_stats';

export interface EngineOptions {
  precision?: Precision;
  onProgress?: (p: LoadProgress) => void;
  /** The value of white in an image-to-image model's input and output (1 or 255), for a
   *  package whose manifest has no pixel_range. */
  pixelRange?: number;
  /** Wrap every call in a validation error scope (tests, development builds). By default only
   *  the first calls of each input shape are; later ones rely on the uncaptured-error check. */
  validateEveryCall?: boolean;
  /** Kernels may use subgroup operations where the adapter has them (default); false: never
   *  (tests compare both forms). */
  subgroups?: boolean;
  /** Tests: every conv that can take the large tiling does (conv2d.ts), whatever its size. */
  largeConvTiles?: boolean;
  /** Small 1×1 convs split K inside the workgroup (pointwise_split.ts). Default: on a hardware
   *  adapter only (on SwiftShader that form is slower than split-K); tests force it. */
  splitKInWorkgroup?: boolean;
  /** Convs the compiler marked int8 (QDQ networks) run in integers on the GPU's matrix units
   *  where it has them and they are big enough to gain ('auto', the default); 'off': always as
   *  float convs; 'emulated' (tests): all of them in integers, with plain WGSL in place of the
   *  matrix units (kernels/conv2d_int8.ts); 'matrix' (tests): the matrix-unit kernels even on a
   *  device without them, where they don't compile and the model falls back to floats. */
  int8?: 'auto' | 'off' | 'emulated' | 'matrix';
}

/** When each part of a load was done, in ms from its start (the bench reports these: what
 *  bounds a load decides what to make faster). Compiles start once the device is open. */
export interface LoadTimings {
  manifest_ms: number;
  device_ms: number;
  weights_ms: number;         // every shard downloaded and queued for upload
  ready_ms: number;           // the reference shape's call prepared (pipelines, bind groups)
  compile: CompileTimes;      // ms from the device being open
}

function int8Kernels(option: NonNullable<EngineOptions['int8']>, matrixUnits: boolean): Int8Matrices | undefined {
  if (option === 'emulated') return 'emulated';
  return option === 'matrix' || (option === 'auto' && matrixUnits) ? 'subgroup-matrix' : undefined;
}

export class EngineModel {
  private readonly calls = new Map<string, Promise<PreparedCall>>();
  private loadTimes: Omit<LoadTimings, 'compile'> | null = null;
  /** Why the int8 kernels were given up for floats (their compile error), or null. */
  int8Refusal: string | null = null;
  private constructor(readonly manifest: Manifest, private readonly gpu: EngineDevice,
    private readonly weights: WeightStore, private readonly pipelines: PipelineCache,
    private readonly readback: Readback, private readonly validateEveryCall: boolean,
    private choices: KernelChoices) {}

  static async load(baseUrl: string, options: EngineOptions = {}): Promise<EngineModel> {
    const t0 = performance.now();
    const since = (p: Promise<unknown>) => p.then(() => performance.now() - t0);
    // The device opens while the manifest downloads (adapter and device requests take tens of ms).
    const opening = openDevice({ subgroups: options.subgroups });
    const deviceMs = since(opening);
    let fetched: Awaited<ReturnType<typeof fetchPackage>>;
    try {
      fetched = await fetchPackage(baseUrl, options.precision ?? 'fp16', options.onProgress);
      checkSupported(fetched.manifest);
    } catch (e) {
      void opening.then((g) => g.device.destroy(), () => {});
      throw e;
    }
    const manifestMs = performance.now() - t0;
    const gpu = await opening;
    const { device } = gpu;
    try {
      checkWeightsFit(fetched.manifest, fetched.precision, device.limits);
    } catch (e) {
      device.destroy();
      throw e;
    }
    const uploading = uploadWeights(device, fetched);
    const weightsMs = since(uploading);
    const pipelines = new PipelineCache(device);
    const { precision } = fetched;
    const manifest = { ...fetched.manifest, pixel_range: options.pixelRange ?? fetched.manifest.pixel_range };
    const shape = evaluateShape(manifest.inputs[0].shape, manifest.memory.reference_bindings);
    // Pipelines start compiling now, all at once, while the shards still download and upload.
    const choices: KernelChoices = { subgroups: gpu.subgroups, convTiles: options.largeConvTiles ? 'large' : undefined,
      splitKInWorkgroup: options.splitKInWorkgroup ?? !isSoftwareAdapter(gpu.adapterInfo),
      int8: int8Kernels(options.int8 ?? 'auto', gpu.int8Matrices) };
    const plan = planCall(manifest, shape, precision, device.limits, undefined, choices);
    [...plan.dispatches, ...plan.setup].forEach((d) => pipelines.get(d));
    const model = new EngineModel(manifest, gpu, await uploading, pipelines, new Readback(device),
      options.validateEveryCall ?? false, choices);
    await model.prepare(shape, undefined, plan);
    model.throwIfFailed();
    model.loadTimes = { manifest_ms: manifestMs, device_ms: await deviceMs, weights_ms: await weightsMs,
      ready_ms: performance.now() - t0 };
    return model;
  }

  /** How this model's load went (compile figures grow as other input shapes compile). */
  get loadTimings(): LoadTimings | null {
    return this.loadTimes && { ...this.loadTimes, compile: this.pipelines.compileTimes };
  }

  get precision(): Precision { return this.weights.precision; }
  get adapterInfo(): GPUAdapterInfo { return this.gpu.adapterInfo; }
  /** The subgroup sizes the kernels are generated for; null: no subgroup operations. */
  get subgroups(): SubgroupSizes | null { return this.gpu.subgroups; }
  /** The device is gone (driver reset, GPU removed): load the model again to go on. */
  get deviceLost(): boolean { return this.gpu.isLost(); }
  get pipelineCount(): number { return this.pipelines.size; }
  /** Every kernel compiled so far (label and WGSL), one per distinct source. */
  get kernels(): { label: string; source: string }[] { return this.pipelines.kernels(); }
  get device(): GPUDevice { return this.gpu.device; }

  /** A pipeline for a kernel of the caller's own (tiled render), from the model's cache. */
  pipeline(d: KernelDispatch): Promise<GPUComputePipeline> { return this.pipelines.get(d); }

  /** Plans, compiles and allocates for one logical input shape (once per shape and
   *  statistics mode; `plan`: one already made for them). */
  prepare(shape: number[], normStats?: NormStatsMode, plan?: Plan): Promise<PreparedCall> {
    const key = callKey(shape, normStats);
    let call = this.calls.get(key);
    if (!call) {
      const create = (p: Plan) => PreparedCall.create(this.gpu.device, this.manifest, p, this.weights, this.pipelines,
        this.readback, this.validateEveryCall);
      call = create(plan ?? this.plan(shape, normStats)).catch((e) => {
        if (this.choices.int8 !== 'subgroup-matrix') throw e;
        this.giveUpInt8(e);
        return create(this.plan(shape, normStats));
      });
      this.calls.set(key, call);
    }
    return call;
  }

  private plan(shape: number[], normStats?: NormStatsMode): Plan {
    return planCall(this.manifest, shape, this.weights.precision, this.gpu.device.limits, normStats, this.choices);
  }

  /** The subgroup-matrix feature is experimental: where this driver won't build the int8
   *  kernels, the same convs run from now on as the float convs they stand for. */
  private giveUpInt8(e: unknown): void {
    this.int8Refusal = e instanceof Error ? e.message : String(e);
    this.choices = { ...this.choices, int8: undefined };
    console.warn(`${this.manifest.name}: int8 kernels unavailable, running its convs in floats (${this.int8Refusal})`);
  }

  /** Frees the buffers of the call for `shape` (a large one-off size, e.g. a statistics pass). */
  async release(shape: number[], normStats?: NormStatsMode): Promise<void> {
    const key = callKey(shape, normStats);
    const call = this.calls.get(key);
    this.calls.delete(key);
    (await call?.catch(() => null))?.destroy();
  }

  private throwIfFailed(): void {
    const failure = this.gpu.failure();
    if (failure) throw new Error(failure);
  }

  /** Fills every activation and scratch buffer of the call for `shape` with NaN, but not what its
   *  setup dispatches prepared from the weights (tests: a kernel that skips an element can't pass
   *  with a stale value). */
  async poison(shape: number[], normStats?: NormStatsMode): Promise<void> {
    (await this.prepare(shape, normStats)).fill(NaN);
  }

  /** Runs one call with the model's health checked before and after: an uncaptured WebGPU
   *  error or a lost device fails the call instead of letting it return junk. */
  private async checked<T>(shape: number[], call: (c: PreparedCall) => Promise<T>, normStats?: NormStatsMode): Promise<T> {
    this.throwIfFailed();
    const prepared = await this.prepare(shape, normStats);
    const result = await call(prepared).catch((e) => { this.throwIfFailed(); throw e; });
    this.throwIfFailed();
    return result;
  }

  private async wholeOutput(input: CallInput, shape: number[]): Promise<Float32Array> {
    const output = this.manifest.outputs[0];
    return this.checked(shape, async (call) => toLogical(await call.runPhysical(input),
      call.plan.shapes.get(output.name)!, output.perm));
  }

  /** The shape images give the first input: [images, 3, crop, crop] under the manifest's
   *  preprocessing, else the images' own size. */
  imageShape(sources: ImageSource[]): number[] {
    return imageInputShape(imageScaling(this.manifest), sources);
  }

  /** The whole output in logical (ONNX) order. `shape` is the first input's; a model with
   *  more inputs (multistyle26's style_weights) takes them by name in `others`. */
  run(input: Float32Array, shape: number[], others: Record<string, Float32Array> = {}): Promise<Float32Array> {
    return this.wholeOutput({ data: input, others }, shape);
  }

  /** Every output in logical order, from one call; `run` gives the first alone (all a
   *  classifier or a style network has), this the rest too (a Split's parts, auxiliary heads). */
  runAll(input: Float32Array, shape: number[], others: Record<string, Float32Array> = {}): Promise<Float32Array[]> {
    const outputs = this.manifest.outputs;
    return this.checked(shape, async (call) => (await call.runAllPhysical({ data: input, others }))
      .map((data, i) => toLogical(data, call.plan.shapes.get(outputs[i].name)!, outputs[i].perm)));
  }

  /** As run, with the first input made on the GPU from images, one per batch row. */
  runImages(sources: ImageSource[], others: Record<string, Float32Array> = {}): Promise<Float32Array> {
    return this.wholeOutput({ data: sources, others }, this.imageShape(sources));
  }

  /** Top-k (index, probability) per row of the output, softmax applied when it is logits. */
  topK(input: Float32Array, shape: number[], k: number, logits = true): Promise<TopEntry[][]> {
    return this.checked(shape, (call) => call.runTopK({ data: input }, k, logits));
  }

  /** Top-k per image: each source is one batch row, resized, cropped and normalised on the GPU
   *  per the manifest's preprocessing. */
  topKFromImages(sources: ImageSource[], k: number, logits = true): Promise<TopEntry[][]> {
    return this.checked(this.imageShape(sources), (call) => call.runTopK({ data: sources }, k, logits));
  }

  /** Runs an image-to-image model and draws its output (first batch row) into the canvas's
   *  current texture, scaled by the manifest's pixel_range and clamped: nothing is read back.
   *  The input is an image, or a logical tensor with its `shape`. The canvas is configured
   *  with the engine's device. */
  renderToCanvas(input: ImageSource | Float32Array, context: GPUCanvasContext,
    options: { shape?: number[]; others?: Record<string, Float32Array> } = {}): Promise<void> {
    let shape: number[];
    if (input instanceof Float32Array) {
      if (!options.shape) throw new Error('renderToCanvas needs the shape of a tensor input');
      shape = options.shape;
    } else {
      shape = this.imageShape([input]);
    }
    const data = input instanceof Float32Array ? input : [input];
    return this.checked(shape, (call) => call.renderToCanvas({ data, others: options.others }, context));
  }

  /** Runs once, as `run` or `runImages` would, and keeps every instance norm's statistics
   *  (mean and variance per image and channel) on the GPU for runWithNormStats or a tiled
   *  render. */
  captureNormStats(input: Float32Array | ImageSource[], shape: number[] | null,
    others: Record<string, Float32Array> = {}): Promise<NormStats> {
    return this.checked(this.shapeOf(input, shape), async (call) => {
      const { stats, copyOut } = NormStats.forCapture(this.gpu.device, call);
      await call.run({ data: input, others }, { after: copyOut }).catch((e) => { stats.destroy(); throw e; });
      return stats;
    }, 'capture');
  }

  /** The whole output, as run/runImages, with every instance norm taking `stats` (captured
   *  with the same batch size, at any image size) instead of computing its own. */
  runWithNormStats(stats: NormStats, input: Float32Array | ImageSource[], shape: number[] | null,
    others: Record<string, Float32Array> = {}): Promise<Float32Array> {
    const output = this.manifest.outputs[0];
    return this.checked(this.shapeOf(input, shape), async (call) => toLogical(
      await call.runPhysical({ data: input, others }, { before: stats.copyInto(call) }),
      call.plan.shapes.get(output.name)!, output.perm), 'supply');
  }

  private shapeOf(input: Float32Array | ImageSource[], shape: number[] | null): number[] {
    if (!(input instanceof Float32Array)) return this.imageShape(input);
    if (!shape) throw new Error('a tensor input needs its shape');
    return shape;
  }

  /** One call of the caller's making (tiled render): `input.data` null when `hooks.first`
   *  writes the input; nothing is read back. */
  runEncoded(shape: number[], normStats: NormStatsMode | undefined, input: CallInput,
    hooks: (call: PreparedCall) => CallHooks): Promise<void> {
    return this.checked(shape, (call) => call.run(input, hooks(call)), normStats);
  }

  async dispose(): Promise<void> {
    for (const call of this.calls.values()) (await call).destroy();
    this.calls.clear();
    this.weights.destroy();
    this.readback.destroy();
    this.gpu.device.destroy();
  }
}

const callKey = (shape: number[], normStats?: NormStatsMode) => `${shape.join('x')}${normStats ? ` ${normStats}` : ''}`;

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
