// The page's one interface to a model: give it an image, get the top-k classes. Behind it,
// backend 'webgpu' is Tessera's own WebGPU engine and 'wasm' onnxruntime-web's wasm backend.

import type { BackendChoice, BackendName } from './adapter';
import type { LoadedModel } from './model';
import { imageToTensor } from './preprocess';
import { softmax, topK, type Prediction } from './topk';
import { createOrtSession, type TensorRunner } from './ort_runtime';
import { createEngineClassifier } from './engine_classifier';

export interface Classifier {
  readonly backend: BackendName;
  readonly model: LoadedModel;
  classify(image: ImageBitmap, k: number): Promise<Prediction[]>;
  dispose(): Promise<void>;
}

export async function createClassifier(model: LoadedModel, backend: BackendName): Promise<Classifier> {
  if (model.meta.task !== 'classify') throw new Error(`${model.meta.name} is not a classification model`);
  if (backend === 'webgpu') return createEngineClassifier(model);
  const runner: TensorRunner = await createOrtSession(model, backend);
  const [, c, h, w] = model.meta.input.shape;
  return {
    backend,
    model,
    async classify(image, k) {
      const input = imageToTensor(image, model.meta.preprocess);
      const out = await runner.run(input, [1, c, h, w]);
      const probs = model.meta.output.kind === 'logits' ? softmax(out) : out;
      return topK(probs, model.labels, k);
    },
    dispose: () => runner.dispose(),
  };
}

/** The classifier on the preferred backend; under `auto`, wasm when the engine can't run the
 *  model (an op without a kernel, a device that keeps failing), with a note saying so. */
export async function openClassifier(model: LoadedModel, choice: BackendChoice, preferred: BackendName)
    : Promise<{ classifier: Classifier; note?: string }> {
  try {
    return { classifier: await createClassifier(model, preferred) };
  } catch (e) {
    // Only `auto` may quietly change backend; an explicit choice fails loudly.
    if (choice !== 'auto' || preferred === 'wasm') throw e;
    const classifier = await createClassifier(model, 'wasm');
    return { classifier, note: `the WebGPU engine could not run this model (${e instanceof Error ? e.message : e}); used wasm instead` };
  }
}
