// TensorFlow.js 4.22 on its WebGPU and WebGL backends, running the exported graph (tfjs_graph.ts).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import type { BenchInput, BenchModelFiles, BenchRuntime } from './runtime';
import { TfjsGraph } from './tfjs_graph';

class TfjsRuntime implements BenchRuntime {
  readonly device: 'webgpu' | 'webgl';
  private graph: TfjsGraph | null = null;

  constructor(readonly name: string, private readonly backend: 'webgpu' | 'webgl') {
    this.device = backend;
  }

  async load(model: BenchModelFiles): Promise<void> {
    if (!(await tf.setBackend(this.backend))) throw new Error(`tfjs could not start its ${this.backend} backend`);
    await tf.ready();
    this.graph = await TfjsGraph.load(model.tfjsGraphUrl, model.tfjsWeightsUrl);
  }

  async run(inputs: BenchInput[]): Promise<Float32Array> {
    const out = this.graph!.execute(inputs);
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  /** tf.time()'s kernel time: WebGL timer queries (EXT_disjoint_timer_query), when offered. */
  async kernelTimeMs(inputs: BenchInput[]): Promise<number | null> {
    let out: tf.Tensor | null = null;
    const timing = await tf.time(() => { out = this.graph!.execute(inputs); });
    await out!.data();
    out!.dispose();
    return typeof timing.kernelMs === 'number' ? timing.kernelMs : null;
  }

  gpuBytes(): number {
    const memory = tf.memory() as { numBytesInGPUAllocated?: number };
    return memory.numBytesInGPUAllocated ?? 0;
  }

  describe(): Record<string, unknown> {
    return { backend: tf.getBackend(), version: tf.version_core };
  }

  async dispose(): Promise<void> {
    this.graph?.dispose();
    this.graph = null;
  }
}

export const tfjsWebgpu = (): BenchRuntime => new TfjsRuntime('tfjs-webgpu', 'webgpu');
export const tfjsWebgl = (): BenchRuntime => new TfjsRuntime('tfjs-webgl', 'webgl');
