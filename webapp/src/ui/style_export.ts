// Exporting the editor's picture at full resolution: the engine's tiled render of the photo at
// the chosen output size (progress per tile, cancel between tiles), read back once, and sent
// with the original's pixels to the shell's style-export endpoint, which finishes it
// (strength, colours) and writes it with the photo's EXIF into the output folder.

import { postFor } from '../api';
import { renderTiled, TiledRenderRefused, type TiledRenderProgress } from '../engine/tiled_render';
import type { GrantedFolder } from './folder_source';
import type { PreviewStyle } from './style_camera';
import type { StyleState } from './style_state';

export type ExportFormat = 'png' | 'jpg' | 'webp';

export class ExportCancelled extends Error {
  constructor() { super('Export cancelled.'); }
}

/** The output size: the longer side at `resolution` (never enlarged; 0: the photo's own),
 *  both sides rounded down to the network's multiple. */
export function outputSize(width: number, height: number, resolution: number, multiple: number): { width: number; height: number } {
  const scale = resolution > 0 ? Math.min(1, resolution / Math.max(width, height)) : 1;
  const round = (v: number) => Math.max(multiple, Math.floor(v * scale / multiple) * multiple);
  return { width: round(width), height: round(height) };
}

function rgb(rgba: Uint8ClampedArray): Uint8Array {
  const out = new Uint8Array(rgba.length / 4 * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) { out[q] = rgba[p]; out[q + 1] = rgba[p + 1]; out[q + 2] = rgba[p + 2]; }
  return out;
}

function originalPixels(image: ImageBitmap): Uint8Array {
  const ctx = new OffscreenCanvas(image.width, image.height).getContext('2d')!;
  ctx.drawImage(image, 0, 0);
  return rgb(ctx.getImageData(0, 0, image.width, image.height).data);
}

export interface ExportJob {
  /** The network and style the preview shows. */
  style: PreviewStyle;
  sizeMultiple: number;
  photo: ImageBitmap;          // the whole photo, upright
  state: StyleState;
  styleName: string;           // the style as the metadata names it
  format: ExportFormat;
  folder: GrantedFolder;
  /** Aborted with an ExportCancelled reason: the render stops before its next tile. */
  signal: AbortSignal;
  onProgress(p: TiledRenderProgress): void;
}

/** Renders and writes the file; returns the name written. */
export async function exportStyled(job: ExportJob): Promise<string> {
  const { width, height } = outputSize(job.photo.width, job.photo.height, job.state.resolution, job.sizeMultiple);
  const input = await createImageBitmap(job.photo, { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' });
  let stylised: Uint8Array;
  try {
    const { network, style } = job.style;
    const image = await renderTiled(network.model, input, {
      others: { [network.styleInput]: style }, onProgress: job.onProgress, signal: job.signal,
    });
    stylised = rgb(await image.pixels());
    image.destroy();
  } catch (e) {
    if (e instanceof TiledRenderRefused) throw new Error(`${e.message} Choose a smaller output resolution and export again.`);
    throw e;
  }
  const body = new Blob([stylised as BlobPart, originalPixels(input) as BlobPart]);
  input.close();
  const stem = (job.state.photo?.name ?? 'photo').replace(/\.[^.]*$/, '');
  const label = job.styleName.replace(/[^\w+.-]+/g, '_').slice(0, 60);
  const meta = {
    name: `${stem}-${label}.${job.format}`, width, height, style: job.styleName, strength: job.state.strength,
    preserve_colours: job.state.preserveColours, source: job.state.photo?.url ?? null,
  };
  const reply = await postFor<{ name: string }>(
    `api/style-export/${job.folder.id}?meta=${encodeURIComponent(JSON.stringify(meta))}`, body);
  return reply.name;
}
