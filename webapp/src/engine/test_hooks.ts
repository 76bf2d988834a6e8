// The engine test page (mode=engine-test): the engine on window, for the browser tests
// (tests/test_engine_*.py) to drive with page.evaluate.

import { EngineModel } from './engine';
import type { Precision } from './manifest';

const models = new Map<number, EngineModel>();
let nextId = 1;

const hooks = {
  async load(url: string, precision: Precision): Promise<number> {
    const model = await EngineModel.load(new URL(url, document.baseURI).href, { precision });
    models.set(nextId, model);
    return nextId++;
  },
  /** Runs with every buffer poisoned first; returns the output in logical order. */
  async run(id: number, input: number[], shape: number[], others: Record<string, number[]> = {}): Promise<number[]> {
    const model = models.get(id)!;
    await model.poison(shape);
    const extra = Object.fromEntries(Object.entries(others).map(([k, v]) => [k, Float32Array.from(v)]));
    return Array.from(await model.run(Float32Array.from(input), shape, extra));
  },
  async topK(id: number, input: number[], shape: number[], k: number) {
    const model = models.get(id)!;
    await model.poison(shape);
    return model.topK(Float32Array.from(input), shape, k);
  },
  async dispose(id: number): Promise<void> {
    await models.get(id)?.dispose();
    models.delete(id);
  },
};

export function installEngineTestHooks(): void {
  (window as unknown as { tesseraEngine: typeof hooks }).tesseraEngine = hooks;
  document.body.dataset.engineTest = 'ready';
}
