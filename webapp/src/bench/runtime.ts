// The one interface every benchmarked runtime implements: onnxruntime-web's EPs, TensorFlow.js's
// backends, and Tessera's own engine when it lands. Inputs and the output are logical NCHW
// float32, read back to the CPU: what an app gets, so the timings include the readback.

export interface BenchInput {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Where the model's files are, as the page sees them. */
export interface BenchModelFiles {
  name: string;
  onnxUrl: string;          // the ONNX file (onnxruntime-web; Tessera's compiler input)
  packageUrl: string;       // the Tessera model package compiled from it (folder, ending in '/')
  tfjsGraphUrl: string;     // the same network as a plain compute graph (see tfjs_graph.ts)
  tfjsWeightsUrl: string;
}

export interface BenchRuntime {
  readonly name: string;
  /** What the runtime computes on: decides how the harness times kernels and counts memory. */
  readonly device: 'webgpu' | 'webgl' | 'cpu';
  /** How many calls the runtime overlaps (the next input submitted before the previous result
   *  is read); 1 when absent: the harness then measures throughput one call at a time. */
  readonly maxInFlight?: number;
  load(model: BenchModelFiles): Promise<void>;
  run(inputs: BenchInput[]): Promise<Float32Array>;
  dispose(): Promise<void>;
  /** GPU time of one run by the runtime's own timer, for devices the harness can't time itself;
   *  null when that timer is unavailable. */
  kernelTimeMs?(inputs: BenchInput[]): Promise<number | null>;
  /** GPU bytes the runtime holds, for devices whose allocations the harness can't see (WebGL). */
  gpuBytes?(): number;
  /** Image-to-image models: frames per second drawing the output straight into a canvas, calls
   *  overlapped as deep as the runtime allows, timed until the GPU has finished them all;
   *  null when the runtime or the model can't draw into a canvas. */
  canvasFps?(inputs: BenchInput[], seconds: number, maxFrames: number): Promise<number | null>;
  /** Settings worth printing beside the figures (threads, flags). */
  describe?(): Record<string, unknown>;
}

/** The runtime cannot express this model (an op it lacks); the table says why instead of a time. */
export class UnsupportedModelError extends Error {}
