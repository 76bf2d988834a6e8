// One tile of a tiled render (tiled_render.ts) blended into the full-resolution image, an
// RGBA8 buffer (one u32 per pixel), in the tile's own compute pass.
//
// Weights. Along each axis, tile i's weight is u_i = R(x − m_{i−1}) − R(x − m_i): m_i is the
// middle of the overlap of tiles i and i+1, R a smoothstep from 0 to 1 over a band of `band`
// pixels centred there (R ≡ 1 before the first tile's start, ≡ 0 after the last one's end).
// The bands sit in the middle of the overlaps, so the pixels nearest a tile's edge, where
// its padding differs from the real neighbourhood, get no weight; the weights of the tiles
// covering a pixel sum to 1, and a tile's weight is u_c(x)·v_r(y).
//
// The image buffer holds, after tiles 1..k in raster order, Σ_{j≤k} w_j t_j / Σ_{j≤k} w_j,
// so tile k mixes its value in with α = w_k / Σ_{j≤k} w_j, where Σ_{j≤k} w_j is
// (1 − R(y − m^y_{r−1})) for all the rows above plus v_r(y)·(1 − R(x − m^x_c)) for its own row
// up to itself. A pixel's first tile with weight mixes at α = 1, so nothing is read before it
// is written; a pixel is mixed at most four times (8-bit rounding each time).

import { elementIndex, ENTRY_PARAMS, f32, u32, type KernelDispatch } from './common';

const THREADS = 64;

export interface TileBlendLayout {
  height: number;                // the tile, in pixels
  width: number;
  /** Physical offsets of one step along the output's logical c, h, w. */
  strides: [number, number, number];
  pixelRange: number;            // the output's value of white
  band: number;                  // width of the blend ramp, pixels
}

/** The uniform block of one tile (see tileBlendParams). */
export const TILE_BLEND_PARAM_BYTES = 32;

/** The seams around one tile: middles of its overlaps before and after it along x and y
 *  (null: no neighbour that side). */
export interface TileSeams { left: number | null; right: number | null; top: number | null; bottom: number | null }

const FAR = 1e9;   // a seam beyond every pixel

export function tileBlendParams(origin: { x: number; y: number }, imageWidth: number, seams: TileSeams): ArrayBuffer {
  const data = new ArrayBuffer(TILE_BLEND_PARAM_BYTES);
  new Uint32Array(data, 0, 4).set([origin.x, origin.y, imageWidth, 0]);
  new Float32Array(data, 16, 4).set([seams.left ?? -FAR, seams.right ?? FAR, seams.top ?? -FAR, seams.bottom ?? FAR]);
  return data;
}

export function tileBlendKernel(l: TileBlendLayout): KernelDispatch {
  const [sc, sh, sw] = l.strides;
  const total = l.height * l.width;
  const half = l.band / 2;
  const source = `
struct Params { origin: vec2<u32>, imageWidth: u32, pad: u32, seamsX: vec2<f32>, seamsY: vec2<f32> }
@group(0) @binding(0) var<storage, read> tile: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> image: array<u32>;

// 0 before the seam's band, 1 after it.
fn ramp(d: f32) -> f32 { return smoothstep(${f32(-half)}, ${f32(half)}, d); }

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_PARAMS}) {
  ${elementIndex(THREADS, total)}
  let tx = t % ${u32(l.width)};
  let ty = t / ${u32(l.width)};
  let x = p.origin.x + tx;
  let y = p.origin.y + ty;
  let centre = vec2<f32>(f32(x), f32(y)) + 0.5;
  let afterLeft = ramp(centre.x - p.seamsX.x);
  let afterRight = ramp(centre.x - p.seamsX.y);
  let afterTop = ramp(centre.y - p.seamsY.x);
  let afterBottom = ramp(centre.y - p.seamsY.y);
  let v = afterTop - afterBottom;                      // this tile's row weight
  let w = v * (afterLeft - afterRight);
  let sofar = (1.0 - afterTop) + v * (1.0 - afterRight);
  if (w <= 0.0) { return; }
  let alpha = min(w / sofar, 1.0);
  let base = ty * ${u32(sh)} + tx * ${u32(sw)};
  let rgb = clamp(vec3<f32>(tile[base], tile[base + ${u32(sc)}], tile[base + ${u32(2 * sc)}]) * ${f32(1 / l.pixelRange)},
    vec3<f32>(0.0), vec3<f32>(1.0));
  let i = y * p.imageWidth + x;
  let old = unpack4x8unorm(image[i]).rgb;
  image[i] = pack4x8unorm(vec4<f32>(mix(old, rgb, alpha), 1.0));
}`;
  return { label: 'tile blend', source, workgroups: Math.ceil(total / THREADS), args: [] };
}
