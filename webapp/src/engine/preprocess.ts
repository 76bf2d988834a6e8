// Image -> normalised NCHW float tensor on the CPU (the wasm backend's path; the WebGPU
// engine does the same on the GPU, see image_input.ts). The crop is drawn straight from the
// source, so a large photo is resampled once, by the browser's (GPU-backed) canvas scaler.

import type { Preprocess } from './model';

/** What a model takes as an image: a decoded photo, a camera frame, a canvas. */
export type ImageSource = ImageBitmap | VideoFrame | HTMLCanvasElement | OffscreenCanvas | HTMLVideoElement | HTMLImageElement;

export function imageSize(s: ImageSource): { width: number; height: number } {
  if (s instanceof VideoFrame) return { width: s.displayWidth, height: s.displayHeight };
  if (s instanceof HTMLVideoElement) return { width: s.videoWidth, height: s.videoHeight };
  if (s instanceof HTMLImageElement) return { width: s.naturalWidth, height: s.naturalHeight };
  return { width: s.width, height: s.height };
}

export class ImageDecodeError extends Error {}

export async function decodeImage(blob: Blob): Promise<ImageBitmap> {
  if (blob.size === 0) throw new ImageDecodeError('the file is empty');
  try {
    return await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch {
    throw new ImageDecodeError('the browser could not decode this image (corrupt or unsupported format)');
  }
}

export function imageToTensor(image: ImageSource, p: Preprocess): Float32Array {
  const { width, height } = imageSize(image);
  const scale = p.resize / Math.min(width, height);
  const side = p.crop / scale;                       // crop size in source pixels
  const sx = (width - side) / 2;
  const sy = (height - side) / 2;
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
