// Headless mode for `tessera stylize`: load the job's style network(s), say so (or why not),
// then stylise each batch of pixels the shell offers and post the output pixels back as raw
// RGB bytes. With image styles, the first batch holds the style images (256×256): their style
// vectors, blended by the job's weights, are the style of every later image.

import { getJSON, postFor, postJSON } from '../api';
import { chooseBackend, probeAdapter, type BackendChoice, type BackendName } from '../engine/adapter';
import { UnsupportedOpError } from '../engine/engine';
import { TiledRenderRefused } from '../engine/tiled_render';
import { fetchBatch } from '../batch/pixels';
import { openStyleNetwork, type StyleNetwork } from './network';
import { imageTensor, tensorToRgb } from './tensors';

interface StylizeJobSpec {
  id: string;
  backend: BackendChoice;
  network: string;              // package URL of multistyle26 or of the arbitrary transform
  predictor: string | null;     // package URL of the arbitrary predictor (image styles)
  weights: number[];            // multistyle26: 26 style weights; image styles: one per image
  style_images: number;         // how many style images the first batch holds
}

type ImageOutcome =
  | { ok: true; width: number; height: number }
  | { ok: false; error: string; too_large: boolean };

interface Stages { unpack: number; render: number; pack: number }

export async function runStylizePage(jobId: string): Promise<void> {
  const base = `api/jobs/${encodeURIComponent(jobId)}`;
  const fail = (e: unknown) => postJSON(`${base}/status`, { state: 'failed', error: message(e) });
  const job = await getJSON<StylizeJobSpec>(base);
  let networks: StyleNetwork[];
  let note: string | null = null;
  try {
    const adapter = await probeAdapter();
    const t0 = performance.now();
    const preferred = chooseBackend(job.backend, adapter);
    const urls = [job.network, ...(job.predictor ? [job.predictor] : [])];
    try {
      networks = await openAll(urls, preferred);
    } catch (e) {
      // Only `auto` may change backend, and only when the engine can't run the network.
      if (job.backend !== 'auto' || preferred === 'wasm' || !(e instanceof UnsupportedOpError)) throw e;
      networks = await openAll(urls, 'wasm');
      note = `the WebGPU engine could not run this network (${message(e)}); used wasm instead`;
    }
    await postJSON(`${base}/status`, {
      state: 'ready', backend: networks[0].backend, note, adapter, load_ms: performance.now() - t0,
    });
  } catch (e) {
    return fail(e);
  }
  try {
    const [network, predictor] = networks;
    let style: Float32Array | null = job.style_images ? null : new Float32Array(job.weights);
    for (;;) {
      const batch = await fetchBatch(`${base}/batch`);
      if (batch === 'finished') break;
      if (batch === 'again') continue;
      const stages: Stages = { unpack: 0, render: 0, pack: 0 };
      const outcomes: ImageOutcome[] = [];
      const bodies: Uint8Array[] = [];
      if (style === null) {
        style = await blendedStyleVector(predictor, batch.images, job.weights, stages);
      } else {
        for (const image of batch.images) {
          try {
            bodies.push(await stylizeOne(network, image, style, stages));
            outcomes.push({ ok: true, width: image.width, height: image.height });
          } catch (e) {
            const tooLarge = e instanceof TiledRenderRefused || /needs a .* buffer/.test(message(e));
            outcomes.push({ ok: false, error: message(e), too_large: tooLarge });
          }
        }
      }
      const meta = JSON.stringify({ seq: batch.seq, results: outcomes, stages_ms: stages });
      await postFor(`${base}/stylized?meta=${encodeURIComponent(meta)}`, new Blob(bodies as BlobPart[]));
    }
    await postJSON(`${base}/status`, { state: 'done' });
  } catch (e) {
    await fail(e);
  } finally {
    for (const n of networks) await n.dispose();
  }
}

async function openAll(urls: string[], backend: BackendName): Promise<StyleNetwork[]> {
  const opened: StyleNetwork[] = [];
  try {
    for (const url of urls) opened.push(await openStyleNetwork(url, backend));
    return opened;
  } catch (e) {
    for (const n of opened) await n.dispose();
    throw e;
  }
}

async function stylizeOne(network: StyleNetwork, image: ImageData, style: Float32Array,
                          stages: Stages): Promise<Uint8Array> {
  const t0 = performance.now();
  if (network.renderPixels) {
    const rgba = await network.renderPixels(image, style);
    const t1 = performance.now();
    const rgb = new Uint8Array(image.width * image.height * 3);
    for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
      rgb[j] = rgba[i];
      rgb[j + 1] = rgba[i + 1];
      rgb[j + 2] = rgba[i + 2];
    }
    stages.render += t1 - t0;
    stages.pack += performance.now() - t1;
    return rgb;
  }
  const white = network.manifest.pixel_range ?? 1;
  const input = imageTensor(image, network.channelsLast, white);
  const t1 = performance.now();
  const output = await network.run(input.data, input.dims, style);
  const t2 = performance.now();
  const rgb = tensorToRgb(output, image.width, image.height, network.channelsLast, white);
  stages.unpack += t1 - t0;
  stages.render += t2 - t1;
  stages.pack += performance.now() - t2;
  return rgb;
}

/** Σ weight × the predictor's style vector of each style image. */
async function blendedStyleVector(predictor: StyleNetwork | undefined, images: ImageData[],
                                  weights: number[], stages: Stages): Promise<Float32Array> {
  if (!predictor) throw new Error('the job has style images but no style predictor');
  if (images.length !== weights.length) throw new Error(`${images.length} style images for ${weights.length} weights`);
  let blend: Float32Array | null = null;
  for (const [i, image] of images.entries()) {
    const t0 = performance.now();
    const input = imageTensor(image, predictor.channelsLast, predictor.manifest.pixel_range ?? 1);
    const vector = await predictor.run(input.data, input.dims);
    stages.render += performance.now() - t0;
    blend ??= new Float32Array(vector.length);
    for (let k = 0; k < vector.length; k++) blend[k] += weights[i] * vector[k];
  }
  return blend!;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
