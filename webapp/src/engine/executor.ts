// A plan made runnable on a device: pipelines (deduplicated by source, created in parallel
// with createComputePipelineAsync), every buffer and bind group built once. A call writes the
// input (staged floats, or images resampled on the GPU), encodes all dispatches into one
// compute pass, submits once and maps only the bytes the caller wants (or draws the output
// into a canvas and maps nothing). Up to CALLS_IN_FLIGHT calls may be in flight at once, each
// with its own staging and readback buffers. Callers may add their own work around the
// model's dispatches (CallHooks): the tiled render writes the input, supplies statistics and
// blends the output on the GPU, in the same submit.

import { CanvasOutput } from './canvas_output';
import { ImageInput } from './image_input';
import type { KernelDispatch } from './kernels/common';
import { softmaxTopK } from './kernels/softmax_topk';
import type { Manifest } from './manifest';
import { LOGICAL_INPUT, type Plan } from './planner';
import type { ImageSource } from './preprocess';
import { Readback, ReadbackRing } from './readback';
import { InputUploader } from './upload';
import type { WeightStore } from './weights';

const MAX_WORKGROUPS_PER_DIM = 65535;
/** Calls run inside a validation error scope until this many of the same kind (input shape,
 *  tensor or image input, what is read back, see `submit`) have passed, unless every call is
 *  validated: a scope costs a round trip to the GPU process per call, and a kind's later calls
 *  encode the same commands on the same buffers. Were one invalid after all, the device's
 *  uncaptured-error check still fails it (or the next call) loudly. */
const VALIDATED_CALLS = 2;
const TOPK_OUT = 'topk:out';
const ALL_OUTPUTS = 'outputs:all';   // every output side by side, for runAllPhysical

export interface TopEntry { index: number; score: number }

/** A call's inputs: the first as a logical tensor, as one image per batch row, or null when
 *  the call's hooks write it (in its physical layout, `first`); the others (e.g.
 *  style_weights) by name, in plain layout. */
export interface CallInput {
  data: Float32Array | ImageSource[] | null;
  others?: Record<string, Float32Array>;
}

/** Work a caller adds to a call's command buffer: before the compute pass, at the start and
 *  the end of it (after the input is in, around the model's dispatches), and after it. */
export interface CallHooks {
  before?(enc: GPUCommandEncoder): void;
  first?(pass: GPUComputePassEncoder): void;
  last?(pass: GPUComputePassEncoder): void;
  after?(enc: GPUCommandEncoder): void;
}

interface Step { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; grid: [number, number] }

function encodeStep(pass: GPUComputePassEncoder, s: Step): void {
  pass.setPipeline(s.pipeline);
  pass.setBindGroup(0, s.bindGroup);
  pass.dispatchWorkgroups(s.grid[0], s.grid[1]);
}

export function grid(total: number): [number, number] {
  if (total <= MAX_WORKGROUPS_PER_DIM) return [total, 1];
  const y = Math.ceil(total / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(total / y), y];
}

/** How the cache's compiles went, in ms from the cache's creation: whether they overlap
 *  (`summed_ms` well above `last_done_ms`) or run one after another says what bounds a load. */
export interface CompileTimes { pipelines: number; last_done_ms: number; summed_ms: number; slowest_ms: number }

export class PipelineCache {
  /** By WGSL source: the first dispatch's label and its pipeline. */
  private readonly bySource = new Map<string, { label: string; pipeline: Promise<GPUComputePipeline> }>();
  private readonly created = performance.now();
  private readonly times: CompileTimes = { pipelines: 0, last_done_ms: 0, summed_ms: 0, slowest_ms: 0 };
  constructor(private readonly device: GPUDevice) {}

  get compileTimes(): CompileTimes { return { ...this.times }; }

  private record(started: number): void {
    const now = performance.now();
    const t = this.times;
    t.pipelines++;
    t.last_done_ms = Math.max(t.last_done_ms, now - this.created);
    t.summed_ms += now - started;
    t.slowest_ms = Math.max(t.slowest_ms, now - started);
  }

  get(d: KernelDispatch): Promise<GPUComputePipeline> {
    const known = this.bySource.get(d.source);
    if (known) return known.pipeline;
    const started = performance.now();
    // A kernel that doesn't compile rejects its pipeline; the scope keeps its module's error
    // from also counting as an uncaptured one, which would mark the whole device as failed
    // (the int8 kernels fall back to floats where a driver won't build them: engine.ts).
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: d.label, code: d.source });
    const pipeline = this.device.createComputePipelineAsync({ label: d.label, layout: 'auto',
      compute: { module, entryPoint: 'main' } });
    void this.device.popErrorScope();
    const compiled = pipeline.then((compiled) => {
      this.record(started);
      return compiled;
    }, async (e) => {
      // A generator bug: say where in the generated WGSL, not just "invalid module".
      const messages = (await module.getCompilationInfo()).messages
        .map((m) => `${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`);
      throw new Error(`kernel for ${d.label} does not compile: ${messages.join('; ') || e}`);
    });
    // Its users await it and see the error; a compile started ahead of use (the load starts
    // them all at once) and never awaited must not count as an unhandled rejection.
    compiled.catch(() => {});
    this.bySource.set(d.source, { label: d.label, pipeline: compiled });
    return compiled;
  }

  get size(): number { return this.bySource.size; }

  kernels(): { label: string; source: string }[] {
    return [...this.bySource].map(([source, { label }]) => ({ label, source }));
  }
}

export class PreparedCall {
  private buffers: GPUBuffer[] = [];            // everything this call owns, destroyed with it
  private setupBuffers = new Set<GPUBuffer>();   // of those, what the setup dispatches wrote
  private readonly rings = new Map<number, ReadbackRing>();
  private topKSteps = new Map<string, Step>();
  private otherInputs = new Map<string, GPUBuffer>();   // inputs after the first, by name
  private outputBuffers: GPUBuffer[] = [];               // every output's, in manifest order
  private imageInput: Promise<ImageInput> | null = null;
  private canvasOutput: CanvasOutput | null = null;
  private readonly validated = new Map<string, number>();   // calls passed in a scope, by kind
  private validateEveryCall = false;       // every call in an error scope, not only the first

  private constructor(private readonly device: GPUDevice, private readonly manifest: Manifest,
    readonly plan: Plan, private readonly steps: Step[], private readonly uploader: InputUploader,
    private readonly inputTensor: GPUBuffer, private readonly outputBinding: GPUBufferBinding,
    private readonly readback: Readback, private readonly pipelines: PipelineCache,
    private readonly scratchBuffer: (id: string, bytes: number) => GPUBuffer) {}

  static async create(device: GPUDevice, manifest: Manifest, plan: Plan, weights: WeightStore,
    pipelines: PipelineCache, readback: Readback, validateEveryCall = false): Promise<PreparedCall> {
    const compiling = [...plan.dispatches, ...plan.setup].map((d) => pipelines.get(d));
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const own: GPUBuffer[] = [];
    const make = (label: string, size: number) => {
      const b = device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
      own.push(b);
      return b;
    };
    const activations = plan.bufferBytes.map((bytes, i) => make(`activations ${i}`, bytes));
    const scratch = new Map([...plan.scratchBytes].map(([id, bytes]) => [id, make(id, bytes)]));
    const tensorBuffer = (name: string) => activations[manifest.tensors[name].buffer];
    const scratchBuffer = (id: string, bytes: number) => scratch.get(id) ?? scratch.set(id, make(id, bytes)).get(id)!;
    const resolve = (a: KernelDispatch['args'][number]): GPUBufferBinding => {
      if (a.kind === 'weight') return weights.binding(a.slice);
      if (a.kind === 'scratch') return { buffer: scratch.get(a.id)! };
      return { buffer: tensorBuffer(a.name) };
    };
    const built = await Promise.all(compiling);
    const step = (d: KernelDispatch, pipeline: GPUComputePipeline): Step => {
      const bindGroup = device.createBindGroup({ label: d.label, layout: pipeline.getBindGroupLayout(0),
        entries: d.args.map((a, binding) => ({ binding, resource: resolve(a) })) });
      return { pipeline, bindGroup, grid: grid(d.workgroups) };
    };
    const steps = plan.dispatches.map((d, i) => step(d, built[i]));
    if (plan.setup.length) {
      // After the weights' uploads in the queue, before any call's command buffer.
      const enc = device.createCommandEncoder({ label: 'setup' });
      const pass = enc.beginComputePass();
      plan.setup.forEach((d, i) => encodeStep(pass, step(d, built[plan.dispatches.length + i])));
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    const input = manifest.inputs[0];
    const inputBuffer = scratch.get(LOGICAL_INPUT) ?? tensorBuffer(input.name);
    const output = manifest.outputs[0];
    const outputBytes = plan.shapes.get(output.name)!.reduce((a, b) => a * b, 4);
    const uploader = new InputUploader(device, inputBuffer, plan.inputShape.reduce((a, b) => a * b, 4));
    const call = new PreparedCall(device, manifest, plan, steps, uploader, tensorBuffer(input.name),
      { buffer: tensorBuffer(output.name), size: outputBytes }, readback, pipelines, scratchBuffer);
    call.buffers = own;
    const setupIds = new Set(plan.setup.flatMap((d) => d.args.flatMap((a) => (a.kind === 'scratch' ? [a.id] : []))));
    call.setupBuffers = new Set([...setupIds].map((id) => scratch.get(id)!));
    call.validateEveryCall = validateEveryCall;
    call.otherInputs = new Map(manifest.inputs.slice(1).map((s) => [s.name, tensorBuffer(s.name)]));
    call.outputBuffers = manifest.outputs.map((o) => tensorBuffer(o.name));
    return call;
  }

  private ring(bytes: number): ReadbackRing {
    let ring = this.rings.get(bytes);
    if (!ring) this.rings.set(bytes, ring = new ReadbackRing(this.device, this.readback, bytes));
    return ring;
  }

  private images(): Promise<ImageInput> {
    this.imageInput ??= ImageInput.create(this.device, this.pipelines, this.manifest, this.plan.inputShape,
      this.inputTensor, grid);
    return this.imageInput;
  }

  /** One call: the input in, every dispatch in one compute pass (with the hooks' work), then
   *  the copy of `read`, one submit; resolves to the bytes of `read`. `kind` names calls that
   *  encode the same commands each time; calls without one (callers' hooks) are always
   *  validated. */
  private async submit(input: CallInput, read: GPUBufferBinding | null, hooks: CallHooks = {},
    kind?: string): Promise<ArrayBuffer | null> {
    const images = Array.isArray(input.data) ? input.data : null;
    const physicalInput = images !== null || input.data === null;
    const kindKey = kind === undefined ? null : `${kind} ${images ? 'images' : 'tensor'}`;
    const scoped = this.validateEveryCall || kindKey === null || (this.validated.get(kindKey) ?? 0) < VALIDATED_CALLS;
    const imageInput = images ? await this.images() : null;
    const ring = read ? this.ring(read.size!) : null;
    const target = ring ? await ring.acquire() : null;
    const enc = this.device.createCommandEncoder();
    let release = () => {};
    let errors: Promise<GPUError | null> = Promise.resolve(null);
    try {
      if (input.data instanceof Float32Array) release = await this.uploader.write(enc, input.data);
      // Nothing awaits from here to the submit: the queue writes below (other inputs, image
      // copies) land right before this call's command buffer, whatever else is in flight.
      this.writeOtherInputs(input.others ?? {});
      imageInput?.upload(images!);
      if (scoped) this.device.pushErrorScope('validation');
      try {
        hooks.before?.(enc);
        const pass = enc.beginComputePass();
        imageInput?.encode(pass);
        hooks.first?.(pass);
        // Images and hook-written inputs are in the physical layout already: no layout dispatch.
        const steps = this.steps;
        for (let i = physicalInput ? this.plan.layoutDispatches : 0; i < steps.length; i++) encodeStep(pass, steps[i]);
        hooks.last?.(pass);
        pass.end();
        hooks.after?.(enc);
        if (read) enc.copyBufferToBuffer(read.buffer, read.offset ?? 0, target!, 0, read.size!);
        this.device.queue.submit([enc.finish()]);
      } finally {
        if (scoped) errors = this.device.popErrorScope();
      }
    } catch (e) {
      if (target) ring!.release(target);
      throw e;
    } finally {
      release();
    }
    const [error, bytes] = await Promise.all([errors, target ? ring!.read(target) : null]);
    if (error) throw new Error(`${this.manifest.name}: the GPU rejected the call (${error.message})`);
    if (scoped && kindKey !== null) this.validated.set(kindKey, (this.validated.get(kindKey) ?? 0) + 1);
    return bytes;
  }

  /** The whole output, in the physical layout of the package (for a plain output = logical). */
  async runPhysical(input: CallInput, hooks: CallHooks = {}): Promise<Float32Array> {
    const plain = Object.keys(hooks).length === 0;
    return new Float32Array((await this.submit(input, this.outputBinding, hooks, plain ? 'output' : undefined))!);
  }

  /** Every output of one call (a model with several), each in the package's physical layout:
   *  copied side by side into one buffer after the pass, one readback. */
  async runAllPhysical(input: CallInput): Promise<Float32Array[]> {
    const bytes = this.manifest.outputs.map((o) => this.plan.shapes.get(o.name)!.reduce((a, b) => a * b, 4));
    const offsets = bytes.map((_, i) => bytes.slice(0, i).reduce((a, b) => a + b, 0));
    const total = offsets[offsets.length - 1] + bytes[bytes.length - 1];
    const all = this.scratchBuffer(ALL_OUTPUTS, total);
    const copyAll = (enc: GPUCommandEncoder) => this.outputBuffers.forEach((buffer, i) => {
      if (bytes[i] > 0) enc.copyBufferToBuffer(buffer, 0, all, offsets[i], bytes[i]);
    });
    const raw = (await this.submit(input, { buffer: all, size: total }, { after: copyAll }, 'all outputs'))!;
    return bytes.map((b, i) => new Float32Array(raw, offsets[i], b / 4));
  }

  /** A call whose results stay on the GPU, for the hooks to use; nothing is read back. */
  async run(input: CallInput, hooks: CallHooks): Promise<void> {
    await this.submit(input, null, hooks);
  }

  /** The first input's buffer, in its physical layout (what `first` hooks write). */
  get inputBuffer(): GPUBuffer { return this.inputTensor; }
  /** The first output's buffer, in its physical layout (valid at `last` and after). */
  get outputBuffer(): GPUBuffer { return this.outputBinding.buffer; }
  /** A scratch buffer of the plan by id (e.g. its norm statistics, plan.normStats). */
  scratch(id: string): GPUBuffer {
    if (!this.plan.scratchBytes.has(id)) throw new Error(`${this.manifest.name}: no scratch buffer ${id} in this plan`);
    return this.scratchBuffer(id, this.plan.scratchBytes.get(id)!);
  }

  /** Softmax (when the output is logits) and top-k on the GPU: k pairs per row come back. */
  async runTopK(input: CallInput, k: number, logits: boolean): Promise<TopEntry[][]> {
    const shape = this.plan.shapes.get(this.manifest.outputs[0].name)!;
    const classes = shape[shape.length - 1];
    const rows = shape.reduce((a, b) => a * b, 1) / classes;
    k = Math.min(k, classes);
    const key = `${k} ${logits}`;
    let step = this.topKSteps.get(key);
    if (!step) {
      const out = { kind: 'scratch' as const, id: `${TOPK_OUT} ${key}`, bytes: rows * k * 8 };
      const d = softmaxTopK({ kind: 'tensor', name: this.manifest.outputs[0].name }, out, rows, classes, k, logits,
        this.plan.subgroups);
      const pipeline = await this.pipelines.get(d);
      const bindGroup = this.device.createBindGroup({ label: d.label, layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: this.outputBinding }, { binding: 1, resource: { buffer: this.scratchBuffer(out.id, out.bytes) } }] });
      step = { pipeline, bindGroup, grid: grid(rows) };
      this.topKSteps.set(key, step);
    }
    const outBuffer = this.scratchBuffer(`${TOPK_OUT} ${key}`, rows * k * 8);
    const topK = step;
    const raw = (await this.submit(input, { buffer: outBuffer, size: rows * k * 8 }, { last: (pass) => encodeStep(pass, topK) },
      `top-k ${key}`))!;
    const idx = new Uint32Array(raw);
    const val = new Float32Array(raw);
    return Array.from({ length: rows }, (_, r) => Array.from({ length: k }, (_, j) => (
      { index: idx[(r * k + j) * 2], score: val[(r * k + j) * 2 + 1] })));
  }

  /** Runs and draws the output image into the canvas's current texture; nothing is read back. */
  async renderToCanvas(input: CallInput, context: GPUCanvasContext): Promise<void> {
    this.canvasOutput ??= new CanvasOutput(this.device, this.manifest,
      this.plan.shapes.get(this.manifest.outputs[0].name)!, this.outputBinding.buffer, this.manifest.pixel_range);
    await this.submit(input, null, { after: await this.canvasOutput.prepare(context) });
  }

  /** Writes the inputs after the first (e.g. style_weights [26]), each in its plain layout;
   *  queued before the call's submit, so that call reads them. */
  private writeOtherInputs(values: Record<string, Float32Array>): void {
    for (const [name, buffer] of this.otherInputs) {
      const data = values[name];
      const size = this.plan.shapes.get(name)!.reduce((a, b) => a * b, 1);
      if (data?.length !== size) throw new Error(`${this.manifest.name} needs input ${name} with ${size} values`);
      this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
  }

  fill(value: number): void {
    for (const b of this.buffers) {
      if (b.usage & GPUBufferUsage.STORAGE && !this.setupBuffers.has(b)) {
        this.device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4).fill(value));
      }
    }
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    for (const r of this.rings.values()) r.destroy();
    this.uploader.destroy();
    this.canvasOutput?.destroy();
    void this.imageInput?.then((i) => i.destroy(), () => {});
  }
}
