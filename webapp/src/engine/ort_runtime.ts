// onnxruntime-web behind a minimal "tensor in, tensor out" runner. The library is loaded at
// run time from vendor/ (copied there by the build) so it finds its .wasm files beside it.
// The app's wasm sessions run in onnxruntime's proxy worker: a wasm inference takes 0.1–1 s
// on a CPU, and on the page's main thread it would freeze scrolling and input meanwhile.

import type * as Ort from 'onnxruntime-web';
import type { BackendName } from './adapter';
import type { LoadedModel } from './model';

export interface TensorRunner {
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
  dispose(): Promise<void>;
}

let ortPromise: Promise<typeof Ort> | null = null;

/** The library, set up once per page; `proxy` (wasm inference in a worker) counts only on the
 *  first call, as onnxruntime reads it when its first session starts. */
export function loadOrt(proxy = false): Promise<typeof Ort> {
  if (!ortPromise) {
    const base = new URL('vendor/ort/', document.baseURI).href;
    ortPromise = (import(/* @vite-ignore */ `${base}ort.webgpu.min.mjs`) as Promise<typeof Ort>).then((ort) => {
      ort.env.wasm.wasmPaths = base;
      // Threads need SharedArrayBuffer, which needs cross-origin isolation (COOP/COEP).
      ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency, 8) : 1;
      ort.env.wasm.proxy = proxy;
      ort.env.logLevel = 'error';
      return ort;
    });
  }
  return ortPromise;
}

export async function createOrtSession(model: LoadedModel, backend: BackendName): Promise<TensorRunner> {
  const ort = await loadOrt(backend === 'wasm');
  const res = await fetch(`${model.baseUrl}${model.meta.source}`);
  if (!res.ok) throw new Error(`model file for ${model.meta.name} not found (HTTP ${res.status})`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  return {
    async run(input, dims) {
      const feeds = { [inputName]: new ort.Tensor('float32', input, dims) };
      const result = await session.run(feeds);
      const out = result[outputName];
      const data = (await out.getData()) as Float32Array;
      out.dispose();
      return data;
    },
    dispose: () => session.release(),
  };
}
