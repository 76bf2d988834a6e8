// An RGBA image (texture) → one batch row of the model's input tensor: resample a box of the
// source to the input's H×W, normalise, write in the input's physical layout (so the layout
// transpose of a tensor input is not needed).
//
// Resampling: each output pixel's centre maps to u = origin + (o + 0.5)·f in source pixels,
// f = box size / output size. It is a tent filter of radius r = max(f, 1) over the source
// pixel centres, normalised by the weights that fall inside the image: bilinear when
// upscaling, and an average over the whole footprint when downscaling (antialiased, the
// definition of PIL's BILINEAR resize), so a 12-megapixel photo reduced to 224 pixels keeps
// every source pixel's contribution instead of sampling a few.

import { elementIndex, ENTRY_PARAMS, f32, u32, type KernelDispatch } from './common';

const THREADS = 64;

export interface ImageInputLayout {
  height: number;                   // output rows and columns (the input tensor's H, W)
  width: number;
  /** Physical offsets of one step along the logical axes n, c, h, w. */
  strides: [number, number, number, number];
  mean: number[];                   // per channel, in 0..255 units: (255·v − mean) / std
  std: number[];
}

/** The uniform block each batch row binds (see imageInputParams). */
export const IMAGE_INPUT_PARAM_BYTES = 32;

/** Uniform values for one row: the box in source pixels and the row's batch index. */
export function imageInputParams(box: { x: number; y: number; width: number; height: number },
  out: { width: number; height: number }, row: number): ArrayBuffer {
  const data = new ArrayBuffer(IMAGE_INPUT_PARAM_BYTES);
  new Float32Array(data, 0, 4).set([box.x, box.y, box.width / out.width, box.height / out.height]);
  new Uint32Array(data, 16, 1)[0] = row;
  return data;
}

export function imageInputKernel(l: ImageInputLayout): KernelDispatch {
  const [sn, sc, sh, sw] = l.strides;
  const total = l.height * l.width;
  const channels = [0, 1, 2].map((c) => `dst[base + ${u32(c * sc)}] = (255.0 * rgb[${c}] - ${f32(l.mean[c])}) * ${f32(1 / l.std[c])};`);
  const source = `
struct Params { origin: vec2<f32>, footprint: vec2<f32>, row: u32 }
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// The source pixels within the tent around centre u (radius r) along an axis of n pixels.
fn span(u: f32, r: f32, n: u32) -> vec2<i32> {
  return vec2<i32>(max(i32(ceil(u - r - 0.5)), 0), min(i32(floor(u + r - 0.5)), i32(n) - 1));
}

fn tent(d: f32, r: f32) -> f32 { return max(0.0, 1.0 - abs(d) / r); }

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let ox = t % ${u32(l.width)};
  let oy = t / ${u32(l.width)};
  let size = textureDimensions(src);
  let u = p.origin + (vec2<f32>(f32(ox), f32(oy)) + 0.5) * p.footprint;
  let r = max(p.footprint, vec2<f32>(1.0));
  let xs = span(u.x, r.x, size.x);
  let ys = span(u.y, r.y, size.y);
  var acc = vec3<f32>(0.0);
  var wsum = 0.0;
  for (var y = ys.x; y <= ys.y; y++) {
    let wy = tent(f32(y) + 0.5 - u.y, r.y);
    var row = vec3<f32>(0.0);
    var rsum = 0.0;
    for (var x = xs.x; x <= xs.y; x++) {
      let wx = tent(f32(x) + 0.5 - u.x, r.x);
      row += wx * textureLoad(src, vec2<i32>(x, y), 0).rgb;
      rsum += wx;
    }
    acc += wy * row;
    wsum += wy * rsum;
  }
  let rgb = acc / wsum;
  let base = p.row * ${u32(sn)} + oy * ${u32(sh)} + ox * ${u32(sw)};
  ${channels.join('\n  ')}
}`;
  return { label: 'image input', source, workgroups: Math.ceil(total / THREADS), args: [] };
}
