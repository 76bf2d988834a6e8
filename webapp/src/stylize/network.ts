// One style network (a model package of task "stylize") behind "image tensor in, image tensor
// out", on Tessera's WebGPU engine or on onnxruntime-web's wasm backend over the package's
// source ONNX. The image is the network's first input in its logical layout; the style (the
// 26 style weights, or a style vector) is its second input, if it has one.

import type { BackendName } from '../engine/adapter';
import { EngineModel } from '../engine/engine';
import { renderTiled } from '../engine/tiled_render';
import { loadOrt } from '../engine/ort_runtime';

/** The parts of manifest.json a style job reads (docs/model-package.md, docs/stylize.md). */
export interface StyleManifest {
  name: string;
  source: string;
  pixel_range?: number;
  inputs: { name: string; shape: (number | string)[] }[];
  stylize: {
    role: 'multistyle' | 'predictor' | 'transform';
    size_multiple?: number;
    style_count?: number;
    vector_size?: number;
  };
}

export interface StyleNetwork {
  readonly backend: BackendName;
  readonly manifest: StyleManifest;
  /** Whether the image input is NHWC (the arbitrary pair) rather than NCHW (multistyle26). */
  readonly channelsLast: boolean;
  run(image: Float32Array, dims: number[], style?: Float32Array): Promise<Float32Array>;
  /** On the engine: the image stylised at its full size, in tiles when it doesn't fit in one
   *  pass (instance-norm statistics stay the whole image's), as RGBA bytes. */
  renderPixels?(image: ImageData, style?: Float32Array): Promise<Uint8ClampedArray>;
  dispose(): Promise<void>;
}

export async function fetchStyleManifest(url: string): Promise<StyleManifest> {
  const res = await fetch(`${url}manifest.json`);
  if (!res.ok) throw new Error(`model package not found at ${url} (HTTP ${res.status})`);
  const manifest = (await res.json()) as StyleManifest;
  if (!manifest.stylize) throw new Error(`${manifest.name} is not a style network`);
  return manifest;
}

export async function openStyleNetwork(url: string, backend: BackendName): Promise<StyleNetwork> {
  const manifest = await fetchStyleManifest(url);
  const channelsLast = manifest.inputs[0].shape[3] === 3;
  const styleInput = manifest.inputs[1];
  if (backend === 'webgpu') {
    // fp32 weights: the int8 networks' dequantised weights rounded to fp16 move activations
    // across quantisation steps (docs/model-package.md), and these weights are a few MB.
    const model = await EngineModel.load(url, { precision: 'fp32' });
    const others = (style?: Float32Array) => (style && styleInput ? { [styleInput.name]: style } : {});
    return {
      backend, manifest, channelsLast,
      run: (image, dims, style) => model.run(image, dims, others(style)),
      async renderPixels(image, style) {
        const bitmap = await createImageBitmap(image);
        try {
          const tiled = await renderTiled(model, bitmap, { others: others(style) });
          try {
            return await tiled.pixels();
          } finally {
            tiled.destroy();
          }
        } finally {
          bitmap.close();
        }
      },
      dispose: () => model.dispose(),
    };
  }
  const ort = await loadOrt(true);
  const res = await fetch(`${url}${manifest.source}`);
  if (!res.ok) throw new Error(`model file for ${manifest.name} not found (HTTP ${res.status})`);
  // The int8 pair at 'basic': higher levels fuse its Q/DQ pairs into integer kernels, a
  // different function (the style vector moves 20-45 %); 'basic' keeps the ONNX semantics the
  // engine computes (docs/stylize.md).
  const graphOptimizationLevel = manifest.stylize.role === 'multistyle' ? 'all' : 'basic';
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()),
    { executionProviders: ['wasm'], graphOptimizationLevel });
  return {
    backend, manifest, channelsLast,
    async run(image, dims, style) {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
        [session.inputNames[0]]: new ort.Tensor('float32', image, dims),
      };
      if (style && styleInput) {
        feeds[session.inputNames[1]] = new ort.Tensor('float32', style, styleInput.shape as number[]);
      }
      const result = await session.run(feeds);
      const out = result[session.outputNames[0]];
      const data = (await out.getData()) as Float32Array;
      out.dispose();
      return data;
    },
    dispose: () => session.release(),
  };
}
