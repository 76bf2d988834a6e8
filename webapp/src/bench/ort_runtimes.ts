// onnxruntime-web 1.30 on its WebGPU and wasm execution providers, from the same vendored build
// the app uses (engine/ort_runtime.ts: SIMD, threads when the page is cross-origin isolated).

import type * as Ort from 'onnxruntime-web';
import { loadOrt } from '../engine/ort_runtime';
import type { BenchInput, BenchModelFiles, BenchRuntime } from './runtime';

class OrtRuntime implements BenchRuntime {
  readonly device: 'webgpu' | 'cpu';
  private ort: typeof Ort | null = null;
  private session: Ort.InferenceSession | null = null;

  constructor(readonly name: string, private readonly ep: 'webgpu' | 'wasm') {
    this.device = ep === 'webgpu' ? 'webgpu' : 'cpu';
  }

  async load(model: BenchModelFiles): Promise<void> {
    this.ort = await loadOrt();
    const res = await fetch(model.onnxUrl);
    if (!res.ok) throw new Error(`${model.onnxUrl}: HTTP ${res.status}`);
    this.session = await this.ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), {
      executionProviders: [this.ep],
      graphOptimizationLevel: 'all',
    });
  }

  async run(inputs: BenchInput[]): Promise<Float32Array> {
    const { ort, session } = { ort: this.ort!, session: this.session! };
    const feeds = Object.fromEntries(inputs.map((x) => [x.name, new ort.Tensor('float32', x.data, x.shape)]));
    const results = await session.run(feeds);
    try {
      return (await results[session.outputNames[0]].getData()) as Float32Array;
    } finally {
      for (const t of Object.values(results)) t.dispose();
    }
  }

  describe(): Record<string, unknown> {
    return { ep: this.ep, wasm_threads: this.ort?.env.wasm.numThreads ?? null };
  }

  async dispose(): Promise<void> {
    await this.session?.release();
    this.session = null;
  }
}

export const ortWebgpu = (): BenchRuntime => new OrtRuntime('ort-webgpu', 'webgpu');
export const ortWasm = (): BenchRuntime => new OrtRuntime('ort-wasm', 'wasm');
