// Runtime-independent WebGPU instrumentation, installed before any runtime loads: it wraps the
// WebGPU prototypes, so onnxruntime-web (whose WebGPU calls come from wasm through the same JS
// API), TensorFlow.js and Tessera's engine are measured the same way.
//
// - Memory: every GPUBuffer created and destroyed is counted; the peak of live bytes over a
//   window is what the runtime had allocated at most. Buffers dropped without destroy() stay
//   counted (an over-estimate); textures are not counted (these runtimes compute in buffers).
// - GPU time: while a timing window is open, each compute pass without timestamps of its own
//   gets beginning/end timestamp writes; the window's GPU time is the sum of pass durations.
//   Needs the adapter's `timestamp-query` feature, which is added to every device requested.
// - Profile: with `start(true)`, each compute pass is recorded instead of encoded and, at its
//   end(), replayed as one timestamped pass per dispatch, labelled by its bind group: where the
//   GPU time goes, dispatch by dispatch (barriers between passes included, so the sum is a bit
//   above the single-pass figure).

const QUERY_CAPACITY = 4096;          // WebGPU's maximum query set size: 2048 passes per window

interface BufferRecord { device: GPUDevice; size: number }
interface EncoderTiming { first: number; count: number; labels: string[] }
export interface DispatchTime { label: string; ms: number }

class MemoryTracker {
  live = 0;
  private peak = 0;
  private baseline = 0;
  readonly buffers = new WeakMap<GPUBuffer, BufferRecord>();
  readonly perDevice = new Map<GPUDevice, number>();

  created(buffer: GPUBuffer, device: GPUDevice): void {
    this.buffers.set(buffer, { device, size: buffer.size });
    this.perDevice.set(device, (this.perDevice.get(device) ?? 0) + buffer.size);
    this.live += buffer.size;
    this.peak = Math.max(this.peak, this.live);
  }

  destroyed(buffer: GPUBuffer): void {
    const rec = this.buffers.get(buffer);
    if (!rec) return;
    this.buffers.delete(buffer);
    this.live -= rec.size;
    this.perDevice.set(rec.device, (this.perDevice.get(rec.device) ?? 0) - rec.size);
  }

  deviceDestroyed(device: GPUDevice): void {
    this.live -= this.perDevice.get(device) ?? 0;
    this.perDevice.delete(device);
  }

  /** Start a window: later peaks are measured from what is live now. */
  reset(): void {
    this.baseline = this.peak = this.live;
  }

  peakBytes(): number {
    return this.peak - this.baseline;
  }
}

class PassTimer {
  private open = false;
  private readonly querySets = new Map<GPUDevice, GPUQuerySet>();
  private readonly nextSlot = new Map<GPUDevice, number>();
  private readonly encoderTimings = new WeakMap<GPUCommandEncoder, EncoderTiming>();
  private pending: { buffer: GPUBuffer; count: number; labels: string[] }[] = [];
  private overflow = false;
  profiling = false;
  untimedPasses = 0;
  readonly encoderDevice = new WeakMap<GPUCommandEncoder, GPUDevice>();

  constructor(private readonly rawCreateBuffer: GPUDevice['createBuffer']) {}

  start(profile = false): void {
    this.open = true;
    this.profiling = profile;
    this.overflow = false;
    this.untimedPasses = 0;
    this.pending = [];
    this.nextSlot.clear();
  }

  /** Close the window and sum the GPU time of its passes (all its work must be submitted). */
  async stop(): Promise<{ ms: number; passes: number; complete: boolean; dispatches: DispatchTime[] }> {
    this.open = false;
    this.profiling = false;
    let ns = 0n;
    let passes = 0;
    const dispatches: DispatchTime[] = [];
    for (const { buffer, count, labels } of this.pending) {
      await buffer.mapAsync(GPUMapMode.READ);
      const stamps = new BigUint64Array(buffer.getMappedRange());
      for (let i = 0; i + 1 < count; i += 2) {
        const pass = stamps[i + 1] > stamps[i] ? stamps[i + 1] - stamps[i] : 0n;
        ns += pass;
        dispatches.push({ label: labels[i / 2], ms: Number(pass) / 1e6 });
        passes++;
      }
      buffer.unmap();
      buffer.destroy();
    }
    this.pending = [];
    return { ms: Number(ns) / 1e6, passes, complete: !this.overflow && this.untimedPasses === 0, dispatches };
  }

  /** Timestamp writes for a new compute pass, or undefined to leave the pass alone. */
  claim(encoder: GPUCommandEncoder, desc?: GPUComputePassDescriptor, label = desc?.label ?? 'pass')
      : GPUComputePassTimestampWrites | undefined {
    if (!this.open) return undefined;
    const device = this.encoderDevice.get(encoder);
    if (!device || desc?.timestampWrites || !device.features.has('timestamp-query')) {
      this.untimedPasses++;
      return undefined;
    }
    const slot = this.nextSlot.get(device) ?? 0;
    if (slot + 2 > QUERY_CAPACITY) {
      this.overflow = true;
      return undefined;
    }
    this.nextSlot.set(device, slot + 2);
    let querySet = this.querySets.get(device);
    if (!querySet) {
      querySet = device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY });
      this.querySets.set(device, querySet);
    }
    const timing = this.encoderTimings.get(encoder);
    if (timing) {
      timing.count = slot + 2 - timing.first;
      timing.labels.push(label);
    } else {
      this.encoderTimings.set(encoder, { first: slot, count: 2, labels: [label] });
    }
    return { querySet, beginningOfPassWriteIndex: slot, endOfPassWriteIndex: slot + 1 };
  }

  /** Called just before an encoder finishes: resolve its timestamps into a readable buffer. */
  resolve(encoder: GPUCommandEncoder): void {
    const timing = this.encoderTimings.get(encoder);
    const device = this.encoderDevice.get(encoder);
    if (!timing || !device) return;
    this.encoderTimings.delete(encoder);
    const bytes = timing.count * 8;
    const create = (usage: number) => this.rawCreateBuffer.call(device, { size: bytes, usage });
    const resolved = create(GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    const readable = create(GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    encoder.resolveQuerySet(this.querySets.get(device)!, timing.first, timing.count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
    this.pending.push({ buffer: readable, count: timing.count, labels: timing.labels });
  }
}

type PassCommand = (pass: GPUComputePassEncoder) => void;

/** Stands in for a compute pass while profiling: records its commands, and at end() replays
 *  each dispatch (with the pipeline and bind groups set before it) in a pass of its own. */
function recordingPass(encoder: GPUCommandEncoder, timer: PassTimer, desc: GPUComputePassDescriptor | undefined,
  begin: (desc?: GPUComputePassDescriptor) => GPUComputePassEncoder): GPUComputePassEncoder {
  const state = new Map<string, PassCommand>();     // the latest setPipeline / setBindGroup(i)
  let label = 'dispatch';
  const replay = (dispatch: PassCommand) => {
    const timestampWrites = timer.claim(encoder, desc, label);
    const pass = begin(timestampWrites ? { ...desc, timestampWrites } : desc);
    for (const set of state.values()) set(pass);
    dispatch(pass);
    pass.end();
  };
  const recorder = {
    label: desc?.label ?? '',
    setPipeline(p: GPUComputePipeline) { state.set('pipeline', (pass) => pass.setPipeline(p)); },
    setBindGroup(index: number, group: GPUBindGroup | null, offsets?: Iterable<number>) {
      if (index === 0 && group) label = group.label || label;
      state.set(`group ${index}`, (pass) => pass.setBindGroup(index, group, offsets));
    },
    dispatchWorkgroups(x: number, y?: number, z?: number) { replay((pass) => pass.dispatchWorkgroups(x, y, z)); },
    dispatchWorkgroupsIndirect(buffer: GPUBuffer, offset: number) {
      replay((pass) => pass.dispatchWorkgroupsIndirect(buffer, offset));
    },
    end() { /* every dispatch was replayed as it came */ },
    pushDebugGroup() {}, popDebugGroup() {}, insertDebugMarker() {},
  };
  return recorder as unknown as GPUComputePassEncoder;
}

export interface GpuInstruments {
  memory: MemoryTracker;
  timer: PassTimer;
}

let installed: GpuInstruments | null = null;

function wrap<T extends object, K extends keyof T>(proto: T, key: K,
  make: (original: T[K]) => T[K]): void {
  proto[key] = make(proto[key]);
}

/** Install once, before any runtime touches WebGPU; null when the browser has no WebGPU. */
export function installGpuInstruments(): GpuInstruments | null {
  if (installed || typeof GPUDevice === 'undefined') return installed;
  const memory = new MemoryTracker();
  const rawCreateBuffer = GPUDevice.prototype.createBuffer;
  const timer = new PassTimer(rawCreateBuffer);

  wrap(GPUAdapter.prototype, 'requestDevice', (original) => function (this: GPUAdapter, desc?: GPUDeviceDescriptor) {
    const features = new Set<GPUFeatureName>(desc?.requiredFeatures ?? []);
    if (this.features.has('timestamp-query')) features.add('timestamp-query');
    return original.call(this, { ...desc, requiredFeatures: [...features] });
  });
  wrap(GPUDevice.prototype, 'createBuffer', (original) => function (this: GPUDevice, desc: GPUBufferDescriptor) {
    const buffer = original.call(this, desc);
    memory.created(buffer, this);
    return buffer;
  });
  wrap(GPUBuffer.prototype, 'destroy', (original) => function (this: GPUBuffer) {
    memory.destroyed(this);
    return original.call(this);
  });
  wrap(GPUDevice.prototype, 'destroy', (original) => function (this: GPUDevice) {
    memory.deviceDestroyed(this);
    return original.call(this);
  });
  wrap(GPUDevice.prototype, 'createCommandEncoder', (original) => function (this: GPUDevice, desc?: GPUCommandEncoderDescriptor) {
    const encoder = original.call(this, desc);
    timer.encoderDevice.set(encoder, this);
    return encoder;
  });
  wrap(GPUCommandEncoder.prototype, 'beginComputePass', (original) => function (this: GPUCommandEncoder, desc?: GPUComputePassDescriptor) {
    if (timer.profiling && !desc?.timestampWrites) {
      return recordingPass(this, timer, desc, (d) => original.call(this, d));
    }
    const timestampWrites = timer.claim(this, desc);
    return original.call(this, timestampWrites ? { ...desc, timestampWrites } : desc);
  });
  wrap(GPUCommandEncoder.prototype, 'finish', (original) => function (this: GPUCommandEncoder, desc?: GPUCommandBufferDescriptor) {
    timer.resolve(this);
    return original.call(this, desc);
  });
  installed = { memory, timer };
  return installed;
}
