// One measurement: one runtime, one model, one input shape, in a fresh page. Every figure is
// taken with the output read back to the CPU, as an app would; the first and the last timed
// outputs are checked against onnxruntime (CPU), and a failed check ends the measurement.

import { checkOutput, worse, type OutputCheck } from './check';
import type { DispatchTime, GpuInstruments } from './gpu_instrument';
import { UnsupportedModelError, type BenchInput, type BenchModelFiles, type BenchRuntime } from './runtime';

export interface BenchSettings {
  runs: number;            // timed runs after warm-up (fewer if budget_s runs out first)
  warmup: number;
  warmup_s: number;        // and keep warming up until this long has passed: GPUs clock down when idle
  budget_s: number;        // wall-time cap for the timed runs; at least 3 runs are always made
  fps_seconds: number;     // length of the continuous loop
  fps_max_frames: number;
  gpu_time_runs: number;   // extra runs with GPU timers on (kept out of the latency figures)
  tolerance: number;       // relative L2 error above which the output FAILS
  profile: boolean;        // also time every dispatch in a pass of its own (WebGPU runtimes)
  load_again: boolean;     // also time a second load in the same page (ttfr_again_ms)
}

export interface Measurement {
  status: 'ok' | 'failed' | 'unsupported' | 'error';
  error: string | null;
  load_ms: number | null;
  first_ms: number | null;
  ttfr_ms: number | null;
  ttfr_again_ms: number | null;   // load + first result again, same page: the browser's caches warm
  median_ms: number | null;
  p95_ms: number | null;
  runs: number;
  warmup: number;
  fps: number | null;
  fps_frames: number;
  images_per_s: number | null;   // pipelined throughput: up to maxInFlight calls overlapped
  in_flight: number;
  canvas_fps: number | null;     // image outputs drawn into a canvas, no readback (pipelined)
  gpu_ms: number | null;
  gpu_method: string | null;
  gpu_note: string | null;
  peak_gpu_bytes: number | null;
  memory_method: string | null;
  rel_l2: number | null;
  max_abs: number | null;
  profile: DispatchTime[] | null;
  runtime_info: Record<string, unknown>;
}

const MIN_TIMED_RUNS = 3;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 0.5);

async function timedRun(runtime: BenchRuntime, inputs: BenchInput[]): Promise<[number, Float32Array]> {
  const t0 = performance.now();
  const out = await runtime.run(inputs);
  return [performance.now() - t0, out];
}

/** Calls kept `depth` deep for `seconds` (or `maxCalls`): each new input is submitted before
 *  the oldest result is read, as an app streaming camera frames or a folder would. */
async function pipelined(runtime: BenchRuntime, inputs: BenchInput[], depth: number, seconds: number,
  maxCalls: number): Promise<{ calls: number; seconds: number; outputs: Float32Array[] }> {
  const inFlight: Promise<Float32Array>[] = [];
  const outputs: Float32Array[] = [];
  let calls = 0;
  const t0 = performance.now();
  const more = () => calls < maxCalls && performance.now() - t0 < seconds * 1000;
  while (more() || inFlight.length > 0) {
    while (inFlight.length < depth && more()) {
      inFlight.push(runtime.run(inputs));
      calls++;
    }
    outputs.push(await inFlight.shift()!);
    if (outputs.length > depth) outputs.shift();     // keep only the last few for the check
  }
  return { calls, seconds: (performance.now() - t0) / 1000, outputs };
}

async function gpuTime(runtime: BenchRuntime, inputs: BenchInput[], n: number, gpu: GpuInstruments | null)
    : Promise<Pick<Measurement, 'gpu_ms' | 'gpu_method' | 'gpu_note'>> {
  const times: number[] = [];
  if (runtime.device === 'webgpu' && gpu) {
    let note: string | null = null;
    for (let i = 0; i < n; i++) {
      gpu.timer.start();
      await runtime.run(inputs);
      const r = await gpu.timer.stop();
      if (r.passes === 0) return { gpu_ms: null, gpu_method: null, gpu_note: 'no timestamped compute passes (no timestamp-query on this adapter?)' };
      if (!r.complete) note = 'some compute passes could not be timestamped: a lower bound';
      times.push(r.ms);
    }
    return { gpu_ms: median(times), gpu_method: 'timestamp-query, sum of compute passes', gpu_note: note };
  }
  if (runtime.kernelTimeMs) {
    for (let i = 0; i < n; i++) {
      const ms = await runtime.kernelTimeMs(inputs);
      if (ms === null) return { gpu_ms: null, gpu_method: null, gpu_note: 'the runtime offers no GPU timer here' };
      times.push(ms);
    }
    return { gpu_ms: median(times), gpu_method: 'runtime timer (tf.time kernelMs)', gpu_note: null };
  }
  return { gpu_ms: null, gpu_method: null, gpu_note: runtime.device === 'cpu' ? 'runs on the CPU' : 'no GPU timer' };
}

/** Each dispatch's GPU time, median over `n` profiled runs (dispatch order as encoded). */
async function profileDispatches(runtime: BenchRuntime, inputs: BenchInput[], n: number, gpu: GpuInstruments)
    : Promise<DispatchTime[] | null> {
  const runs: DispatchTime[][] = [];
  for (let i = 0; i < n; i++) {
    gpu.timer.start(true);
    await runtime.run(inputs);
    runs.push((await gpu.timer.stop()).dispatches);
  }
  if (runs[0].length === 0) return null;
  return runs[0].map(({ label }, d) => ({ label, ms: median(runs.map((r) => r[d]?.ms ?? 0)) }));
}

function gpuMemory(runtime: BenchRuntime, gpu: GpuInstruments | null): Pick<Measurement, 'peak_gpu_bytes' | 'memory_method'> {
  if (runtime.device === 'webgpu' && gpu) {
    return { peak_gpu_bytes: gpu.memory.peakBytes(), memory_method: 'peak live GPUBuffer bytes' };
  }
  if (runtime.gpuBytes) return { peak_gpu_bytes: runtime.gpuBytes(), memory_method: 'runtime report (tf.memory)' };
  return { peak_gpu_bytes: null, memory_method: null };
}

export async function measure(runtime: BenchRuntime, model: BenchModelFiles, inputs: BenchInput[],
  expected: Float32Array, s: BenchSettings, gpu: GpuInstruments | null,
  stage: (name: string) => Promise<void>): Promise<Measurement> {
  const m: Measurement = {
    status: 'error', error: null, load_ms: null, first_ms: null, ttfr_ms: null, ttfr_again_ms: null, median_ms: null,
    p95_ms: null, runs: 0, warmup: 0, fps: null, fps_frames: 0, images_per_s: null, in_flight: 0, canvas_fps: null, gpu_ms: null, gpu_method: null,
    gpu_note: null, peak_gpu_bytes: null, memory_method: null, rel_l2: null, max_abs: null, profile: null, runtime_info: {},
  };
  let current = 'load';
  const record = (check: OutputCheck) => {
    m.rel_l2 = check.relL2;
    m.max_abs = check.maxAbs;
    if (!check.passed) {
      m.status = 'failed';
      m.error = check.error ?? `output differs from onnxruntime (CPU): relative L2 ${check.relL2.toExponential(2)} > ${s.tolerance}`;
    }
    return check.passed;
  };
  try {
    gpu?.memory.reset();
    await stage(current);
    const t0 = performance.now();
    await runtime.load(model);
    m.load_ms = performance.now() - t0;
    m.runtime_info = runtime.describe?.() ?? {};

    await stage(current = 'first run');
    const [first, firstOut] = await timedRun(runtime, inputs);
    m.first_ms = first;
    m.ttfr_ms = m.load_ms + first;
    let check = checkOutput(firstOut, expected, s.tolerance);
    if (!record(check)) return m;

    await stage(current = 'warm-up');
    const w0 = performance.now();
    for (; m.warmup < s.warmup || performance.now() - w0 < s.warmup_s * 1000; m.warmup++) await runtime.run(inputs);

    await stage(current = 'timed runs');
    const times: number[] = [];
    const deadline = performance.now() + s.budget_s * 1000;
    let last = firstOut;
    while (times.length < s.runs && (times.length < Math.min(MIN_TIMED_RUNS, s.runs) || performance.now() < deadline)) {
      const [ms, out] = await timedRun(runtime, inputs);
      times.push(ms);
      last = out;
    }
    m.runs = times.length;
    times.sort((a, b) => a - b);
    m.median_ms = percentile(times, 0.5);
    m.p95_ms = percentile(times, 0.95);
    check = worse(check, checkOutput(last, expected, s.tolerance));
    if (!record(check)) return m;

    await stage(current = 'fps loop');
    const f0 = performance.now();
    do {
      await runtime.run(inputs);
      m.fps_frames++;
    } while (performance.now() - f0 < s.fps_seconds * 1000 && m.fps_frames < s.fps_max_frames);
    m.fps = m.fps_frames / ((performance.now() - f0) / 1000);

    await stage(current = 'pipelined');
    m.in_flight = runtime.maxInFlight ?? 1;
    const p = await pipelined(runtime, inputs, m.in_flight, s.fps_seconds, s.fps_max_frames);
    const images = inputs.find((i) => i.shape.length === 4) ?? inputs[0];
    m.images_per_s = (p.calls * images.shape[0]) / p.seconds;
    for (const out of p.outputs) check = worse(check, checkOutput(out, expected, s.tolerance));
    if (!record(check)) return m;

    await stage(current = 'gpu time');
    Object.assign(m, gpuMemory(runtime, gpu), await gpuTime(runtime, inputs, s.gpu_time_runs, gpu));
    if (s.profile && gpu && runtime.device === 'webgpu') {
      await stage(current = 'profile');
      m.profile = await profileDispatches(runtime, inputs, s.gpu_time_runs, gpu);
    }
    m.runtime_info = runtime.describe?.() ?? {};     // again: some details are known only after a run
    // A second load of the same files in the same browser: what a later launch of the app (which
    // keeps its browser profile, and with it the shader cache) waits for.
    if (s.load_again) {
      await stage(current = 'load again');
      await runtime.dispose();
      const a0 = performance.now();
      await runtime.load(model);
      await runtime.run(inputs);
      m.ttfr_again_ms = performance.now() - a0;
    }
    if (runtime.canvasFps) {
      // Last: a software adapter (SwiftShader) can lose its device drawing into a WebGPU canvas.
      await stage(current = 'canvas');
      m.canvas_fps = await runtime.canvasFps(inputs, s.fps_seconds, s.fps_max_frames).catch(() => null);
    }
    m.status = 'ok';
  } catch (e) {
    m.status = e instanceof UnsupportedModelError ? 'unsupported' : 'error';
    const message = e instanceof Error ? e.message : String(e);
    m.error = m.status === 'unsupported' ? message : `${current}: ${message}`;
  } finally {
    await runtime.dispose().catch(() => undefined);
  }
  return m;
}
