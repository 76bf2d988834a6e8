// Pixels ↔ a style network's image tensor: RGB scaled so that white is the network's
// pixel_range, in NCHW or NHWC (batch of one).

/** An opaque RGBA image → the image input; returns the tensor and its logical dims. */
export function imageTensor(image: ImageData, channelsLast: boolean, white: number)
    : { data: Float32Array; dims: number[] } {
  const { width: w, height: h, data: rgba } = image;
  const plane = w * h;
  const out = new Float32Array(plane * 3);
  const scale = white / 255;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      out[channelsLast ? p * 3 + c : c * plane + p] = rgba[p * 4 + c] * scale;
    }
  }
  return { data: out, dims: channelsLast ? [1, h, w, 3] : [1, 3, h, w] };
}

/** The output image (first batch row) → RGB bytes, clamped and rounded. */
export function tensorToRgb(output: Float32Array, width: number, height: number,
                            channelsLast: boolean, white: number): Uint8Array {
  const plane = width * height;
  if (output.length < plane * 3) throw new Error(`the network gave ${output.length} values for a ${width}×${height} image`);
  const rgb = new Uint8Array(plane * 3);
  const scale = 255 / white;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = output[channelsLast ? p * 3 + c : c * plane + p] * scale;
      rgb[p * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return rgb;
}
