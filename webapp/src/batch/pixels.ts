// The wire format of a batch job's pixels (see desktop/tessera/api/batch.py): one binary body
// of RGB rows, image after image, and a header with the batch's sequence number and each
// image's width and height. Python decodes the files; the page only wraps the pixels.

import { ApiError } from '../api';

export interface PixelBatch {
  seq: number;
  images: ImageData[];
}

/** The next batch; 'again' when none was ready within the server's long poll, 'finished' when
 *  the job has no more. */
export async function fetchBatch(url: string): Promise<PixelBatch | 'again' | 'finished'> {
  const res = await fetch(url, { cache: 'no-store' });
  if (res.status === 204) return 'again';
  if (res.status === 410) return 'finished';
  if (!res.ok) throw new ApiError(`${url}: HTTP ${res.status} ${await res.text()}`);
  const header = JSON.parse(res.headers.get('X-Tessera-Batch') ?? 'null') as
    { seq: number; sizes: [number, number][] } | null;
  if (!header) throw new ApiError(`${url}: the batch came without its X-Tessera-Batch header`);
  const rgb = new Uint8Array(await res.arrayBuffer());
  const expected = header.sizes.reduce((n, [w, h]) => n + w * h * 3, 0);
  if (rgb.length !== expected) throw new ApiError(`${url}: ${rgb.length} bytes of pixels, expected ${expected}`);
  let offset = 0;
  const images = header.sizes.map(([w, h]) => {
    const image = rgbToImageData(rgb.subarray(offset, offset + w * h * 3), w, h);
    offset += w * h * 3;
    return image;
  });
  return { seq: header.seq, images };
}

/** RGB bytes → an opaque RGBA ImageData (what createImageBitmap and canvases take). */
export function rgbToImageData(rgb: Uint8Array, width: number, height: number): ImageData {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  return new ImageData(rgba, width, height);
}
