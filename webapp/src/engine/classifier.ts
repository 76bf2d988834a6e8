// The page's one interface to a model: give it an image, get the top-k classes. Today the
// onnxruntime-web runtime sits behind it; Tessera's own WebGPU engine will plug in here too.

import type { BackendName } from './adapter';
import type { LoadedModel } from './model';
import { imageToTensor } from './preprocess';
import { softmax, topK, type Prediction } from './topk';
import { createOrtSession, type TensorRunner } from './ort_runtime';

export interface Classifier {
  readonly backend: BackendName;
  readonly model: LoadedModel;
  classify(image: ImageBitmap, k: number): Promise<Prediction[]>;
  dispose(): Promise<void>;
}

export async function createClassifier(model: LoadedModel, backend: BackendName): Promise<Classifier> {
  if (model.meta.task !== 'classify') throw new Error(`${model.meta.name} is not a classification model`);
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
