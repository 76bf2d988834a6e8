// The Classifier on Tessera's WebGPU engine: the model's package (manifest.json beside
// model.json), fp16-stored weights, the image resized, cropped and normalised on the GPU in
// the same submit as the model, softmax + top-k on the GPU so only k pairs come back.
// A lost device is recreated and the model reloaded once; a second loss is a DeviceLostError,
// on which openClassifier (under `auto`) switches to wasm and says so.

import type { Classifier } from './classifier';
import { EngineModel } from './engine';
import type { LoadedModel } from './model';
import type { ImageSource } from './preprocess';
import type { Prediction } from './topk';

export class DeviceLostError extends Error {}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function createEngineClassifier(model: LoadedModel): Promise<Classifier> {
  const load = () => EngineModel.load(model.baseUrl);
  const first = await load();
  let engine = first;
  let reload: Promise<EngineModel> | null = null;    // shared by calls that failed together
  const logits = model.meta.output.kind === 'logits';

  async function classifyOn(on: EngineModel, image: ImageSource, k: number): Promise<Prediction[]> {
    const [row] = await on.topKFromImages([image], k, logits);
    return row.map(({ index, score }) => ({ index, label: model.labels[index] ?? `class ${index}`, score }));
  }

  return {
    backend: 'webgpu',
    model,
    async classify(image, k) {
      const used = engine;
      try {
        return await classifyOn(used, image, k);
      } catch (e) {
        if (!used.deviceLost) throw e;
        if (used !== first) throw new DeviceLostError(`the GPU device was lost again after a reload (${message(e)})`);
        reload ??= load().then((m) => (engine = m), (err) => {
          throw new DeviceLostError(`the GPU device was lost and the model could not be reloaded (${message(err)})`);
        });
        return classifyOn(await reload, image, k);
      }
    },
    dispose: () => engine.dispose(),
  };
}
