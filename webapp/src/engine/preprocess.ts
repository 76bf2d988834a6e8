// Image -> normalised NCHW float tensor. The crop is drawn straight from the source bitmap, so
// a large photo is resampled once, by the browser's (GPU-backed) canvas scaler.

import type { Preprocess } from './model';

export class ImageDecodeError extends Error {}

export async function decodeImage(blob: Blob): Promise<ImageBitmap> {
  if (blob.size === 0) throw new ImageDecodeError('the file is empty');
  try {
    return await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch {
    throw new ImageDecodeError('the browser could not decode this image (corrupt or unsupported format)');
  }
}

export function imageToTensor(image: ImageBitmap, p: Preprocess): Float32Array {
  const scale = p.resize / Math.min(image.width, image.height);
  const side = p.crop / scale;                       // crop size in source pixels
  const sx = (image.width - side) / 2;
  const sy = (image.height - side) / 2;
  const canvas = new OffscreenCanvas(p.crop, p.crop);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('2D canvas unavailable');
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, sx, sy, side, side, 0, 0, p.crop, p.crop);
  const rgba = ctx.getImageData(0, 0, p.crop, p.crop).data;
  const plane = p.crop * p.crop;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (rgba[4 * i + c] - p.mean[c]) / p.std[c];
  }
  return out;
}
