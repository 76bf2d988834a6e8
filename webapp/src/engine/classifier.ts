// The page's one interface to a model: give it an image, get the top-k classes. Behind it,
// backend 'webgpu' is Tessera's own WebGPU engine and 'wasm' onnxruntime-web's wasm backend.

import type { BackendChoice, BackendName } from './adapter';
import type { LoadedModel } from './model';
import { imageToTensor, type ImageSource } from './preprocess';
import { softmax, topK, type Prediction } from './topk';
import { createOrtSession, type TensorRunner } from './ort_runtime';
import { createEngineClassifier, DeviceLostError } from './engine_classifier';

export interface Classifier {
  readonly backend: BackendName;
  readonly model: LoadedModel;
  /** Set when the classifier changed backend while in use (the GPU device kept failing):
   *  one sentence for the user, which the page shows. */
  readonly note?: string;
  classify(image: ImageSource, k: number): Promise<Prediction[]>;
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
    const classifier = await createClassifier(model, preferred);
    return { classifier: choice === 'auto' && preferred === 'webgpu' ? withWasmFallback(classifier) : classifier };
  } catch (e) {
    // Only `auto` may quietly change backend; an explicit choice fails loudly.
    if (choice !== 'auto' || preferred === 'wasm') throw e;
    const classifier = await createClassifier(model, 'wasm');
    return { classifier, note: `the WebGPU engine could not run this model (${e instanceof Error ? e.message : e}); used wasm instead` };
  }
}

/** The engine's classifier that, once its device is lost for good (a second time, after the
 *  reload), goes on with wasm for this and every later image and says so in `note`. */
function withWasmFallback(engine: Classifier): Classifier {
  let current = engine;
  let fallback: Promise<Classifier> | null = null;
  let note: string | undefined;
  return {
    get backend() { return current.backend; },
    get note() { return note; },
    model: engine.model,
    async classify(image, k) {
      try {
        return await current.classify(image, k);
      } catch (e) {
        if (!(e instanceof DeviceLostError)) throw e;
        fallback ??= createClassifier(engine.model, 'wasm').then((wasm) => {
          current = wasm;
          note = `${e.message}; switched to wasm`;
          void engine.dispose().catch(() => {});
          return wasm;
        });
        return (await fallback).classify(image, k);
      }
    },
    dispose: () => current.dispose(),
  };
}
