// Tessera's own WebGPU engine as a benchmarked runtime, on the package our compiler made from
// the same ONNX file the other runtimes load. fp32 weights: the same math as the reference,
// so the correctness gate holds it to the same tolerance as everyone else.

import { EngineModel, UnsupportedOpError } from '../engine/engine';
import { CALLS_IN_FLIGHT } from '../engine/readback';
import { UnsupportedModelError, type BenchInput, type BenchModelFiles, type BenchRuntime } from './runtime';

const INT8_CONV = /:int8( split-k)?$/;

class TesseraRuntime implements BenchRuntime {
  readonly name = 'tessera';
  readonly device = 'webgpu' as const;
  readonly maxInFlight = CALLS_IN_FLIGHT;
  private model: EngineModel | null = null;
  private dispatches: number | null = null;     // of the last input shape run
  private int8Convs: number | null = null;      // of those, int8 convs (conv2d_int8.ts)

  async load(files: BenchModelFiles): Promise<void> {
    try {
      this.model = await EngineModel.load(files.packageUrl, { precision: 'fp32' });
    } catch (e) {
      if (e instanceof UnsupportedOpError) throw new UnsupportedModelError(e.message);
      throw e;
    }
  }

  /** The model's first input (its shape is the call's) and the others (multistyle26's
   *  style_weights) by name. */
  private split(inputs: BenchInput[]): { first: BenchInput; others: Record<string, Float32Array> } {
    const firstName = this.model!.manifest.inputs[0].name;
    const first = inputs.find((i) => i.name === firstName) ?? inputs[0];
    return { first, others: Object.fromEntries(inputs.filter((i) => i !== first).map((i) => [i.name, i.data])) };
  }

  async run(inputs: BenchInput[]): Promise<Float32Array> {
    const model = this.model!;
    const { first, others } = this.split(inputs);
    if (this.dispatches === null) {
      const { plan } = await model.prepare(first.shape);
      this.dispatches = plan.dispatches.length;
      this.int8Convs = plan.dispatches.filter((d) => INT8_CONV.test(d.label)).length;
    }
    return model.run(first.data, first.shape, others);
  }

  async canvasFps(inputs: BenchInput[], seconds: number, maxFrames: number): Promise<number | null> {
    const model = this.model!;
    if (model.manifest.pixel_range === undefined) return null;      // not an image output
    const { first, others } = this.split(inputs);
    const [, , height, width] = first.shape;
    const context = new OffscreenCanvas(width, height).getContext('webgpu');
    if (!context) return null;
    const draw = () => model.renderToCanvas(first.data, context, { shape: first.shape, others });
    await draw();
    const { queue } = context.getConfiguration()!.device;
    await queue.onSubmittedWorkDone();
    const inFlight: Promise<void>[] = [];
    let frames = 0;
    const t0 = performance.now();
    while (frames < maxFrames && performance.now() - t0 < seconds * 1000) {
      inFlight.push(draw());
      frames++;
      if (inFlight.length >= this.maxInFlight) await inFlight.shift();
    }
    await Promise.all(inFlight);
    await queue.onSubmittedWorkDone();
    return frames / ((performance.now() - t0) / 1000);
  }

  describe(): Record<string, unknown> {
    const m = this.model;
    return m ? { weights: m.precision, pipelines: m.pipelineCount, dispatches: this.dispatches,
      adapter: m.adapterInfo.description || m.adapterInfo.vendor, load: m.loadTimings,
      subgroups: m.subgroups, int8_convs: this.int8Convs, int8_refusal: m.int8Refusal } : {};
  }

  async dispose(): Promise<void> {
    await this.model?.dispose();
    this.model = null;
  }
}

export const tessera = (): BenchRuntime => new TesseraRuntime();
