// The Classifier on Tessera's WebGPU engine: the model's package (manifest.json beside
// model.json), fp16-stored weights, softmax + top-k on the GPU so only k pairs come back.
// A lost device is recreated and the model reloaded once; a second loss is reported to the
// caller (which then falls back to wasm and says so).

import type { Classifier } from './classifier';
import { EngineModel } from './engine';
import type { LoadedModel } from './model';
import { imageToTensor } from './preprocess';
import type { Prediction } from './topk';

export async function createEngineClassifier(model: LoadedModel): Promise<Classifier> {
  const load = () => EngineModel.load(model.baseUrl);
  let engine = await load();
  let reloaded = false;
  const [, c, h, w] = model.meta.input.shape;
  const logits = model.meta.output.kind === 'logits';

  async function topK(input: Float32Array, k: number): Promise<Prediction[]> {
    const [row] = await engine.topK(input, [1, c, h, w], k, logits);
    return row.map(({ index, score }) => ({ index, label: model.labels[index] ?? `class ${index}`, score }));
  }

  return {
    backend: 'webgpu',
    model,
    async classify(image, k) {
      const input = imageToTensor(image, model.meta.preprocess);
      try {
        return await topK(input, k);
      } catch (e) {
        if (!engine.deviceLost || reloaded) throw e;
        reloaded = true;
        engine = await load();
        return topK(input, k);
      }
    },
    dispose: () => engine.dispose(),
  };
}
