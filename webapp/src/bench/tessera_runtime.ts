// Tessera's own WebGPU engine as a benchmarked runtime, on the package our compiler made from
// the same ONNX file the other runtimes load. fp32 weights: the same math as the reference,
// so the correctness gate holds it to the same tolerance as everyone else.

import { EngineModel, UnsupportedOpError } from '../engine/engine';
import { CALLS_IN_FLIGHT } from '../engine/readback';
import { UnsupportedModelError, type BenchInput, type BenchModelFiles, type BenchRuntime } from './runtime';

class TesseraRuntime implements BenchRuntime {
  readonly name = 'tessera';
  readonly device = 'webgpu' as const;
  readonly maxInFlight = CALLS_IN_FLIGHT;
  private model: EngineModel | null = null;
  private dispatches: number | null = null;     // of the last input shape run

  async load(files: BenchModelFiles): Promise<void> {
    try {
      this.model = await EngineModel.load(files.packageUrl, { precision: 'fp32' });
    } catch (e) {
      if (e instanceof UnsupportedOpError) throw new UnsupportedModelError(e.message);
      throw e;
    }
  }

  async run(inputs: BenchInput[]): Promise<Float32Array> {
    // The model's first input gives the shape; the others (multistyle26's style_weights) go by name.
    const model = this.model!;
    const firstName = model.manifest.inputs[0].name;
    const first = inputs.find((i) => i.name === firstName) ?? inputs[0];
    const others = Object.fromEntries(inputs.filter((i) => i !== first).map((i) => [i.name, i.data]));
    this.dispatches ??= (await model.prepare(first.shape)).plan.dispatches.length;
    return model.run(first.data, first.shape, others);
  }

  describe(): Record<string, unknown> {
    const m = this.model;
    return m ? { weights: m.precision, pipelines: m.pipelineCount, dispatches: this.dispatches,
      adapter: m.adapterInfo.description || m.adapterInfo.vendor } : {};
  }

  async dispose(): Promise<void> {
    await this.model?.dispose();
    this.model = null;
  }
}

export const tessera = (): BenchRuntime => new TesseraRuntime();
