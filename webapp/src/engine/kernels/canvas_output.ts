// An image output tensor (channels first or last: only the strides differ) → the pixels of a
// canvas texture, as a render pass: a triangle covering the target, whose fragments read the
// output buffer (first batch row, nearest pixel when the canvas size differs), divide by the
// model's pixel range and clamp to 0..1. A render
// pass rather than a compute pass because the canvas's preferred format (often bgra8unorm)
// can't be a storage texture everywhere.
//
// The same pass composites a style editor's preview with the original image (a texture of
// its own, sampled at the same place): the stylised luminance with the original's chroma
// (BT.601 YCbCr, as `tessera stylize --preserve-colours`), then a blend with the original by
// strength, then the original alone left of the split line. Neutral parameters (strength 1,
// no colour preservation, split 0) leave the output as it is.

import { f32, u32 } from './common';

export interface CanvasOutputLayout {
  height: number;                   // the output image's rows and columns
  width: number;
  /** Physical offsets of one step along the logical axes c, h, w of the output. */
  strides: [number, number, number];
  pixelRange: number;               // output value of white
}

/** Uniform block: canvas size (vec2), strength, split (fraction of the width from the left
 *  that shows the original), preserve colours (0 or 1), padding: eight f32. */
export const CANVAS_OUTPUT_PARAM_BYTES = 32;

export function canvasOutputParams(canvas: { width: number; height: number },
  c: { strength: number; split: number; preserveColours: boolean }): Float32Array<ArrayBuffer> {
  return new Float32Array([canvas.width, canvas.height, c.strength, c.split, c.preserveColours ? 1 : 0, 0, 0, 0]);
}

export function canvasOutputShader(l: CanvasOutputLayout): string {
  const [sc, sh, sw] = l.strides;
  return `
struct Params { canvas: vec2<f32>, strength: f32, split: f32, preserve: f32, pad0: f32, pad1: f32, pad2: f32 }

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var original: texture_2d<f32>;
@group(0) @binding(3) var bilinear: sampler;

const TO_YCC = mat3x3<f32>(vec3<f32>(0.299, -0.168736, 0.5), vec3<f32>(0.587, -0.331264, -0.418688),
                           vec3<f32>(0.114, 0.5, -0.081312));
const FROM_YCC = mat3x3<f32>(vec3<f32>(1.0, 1.0, 1.0), vec3<f32>(0.0, -0.344136, 1.772),
                             vec3<f32>(1.402, -0.714136, 0.0));

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
  let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
  let uv = pos.xy / p.canvas;
  let at = min(vec2<u32>(uv * vec2<f32>(${f32(l.width)}, ${f32(l.height)})),
               vec2<u32>(${u32(l.width - 1)}, ${u32(l.height - 1)}));
  let base = at.y * ${u32(sh)} + at.x * ${u32(sw)};
  let rgb = vec3<f32>(y[base], y[base + ${u32(sc)}], y[base + ${u32(2 * sc)}]);
  let styled = clamp(rgb * ${f32(1 / l.pixelRange)}, vec3<f32>(0.0), vec3<f32>(1.0));
  let before = textureSampleLevel(original, bilinear, uv, 0.0).rgb;
  var out = styled;
  if (p.preserve > 0.5) {
    out = FROM_YCC * vec3<f32>((TO_YCC * styled).x, (TO_YCC * before).yz);
  }
  out = mix(before, out, p.strength);
  if (pos.x < p.split * p.canvas.x) {
    out = before;
  }
  return vec4<f32>(clamp(out, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}`;
}
