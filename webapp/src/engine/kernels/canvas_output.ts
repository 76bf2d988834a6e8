// An image output tensor → the pixels of a canvas texture, as a render pass: a triangle
// covering the target, whose fragments read the output buffer (first batch row, nearest pixel
// when the canvas size differs), divide by the model's pixel range and clamp to 0..1. A render
// pass rather than a compute pass because the canvas's preferred format (often bgra8unorm)
// can't be a storage texture everywhere.

import { f32, u32 } from './common';

export interface CanvasOutputLayout {
  height: number;                   // the output image's rows and columns
  width: number;
  /** Physical offsets of one step along the logical axes c, h, w of the output. */
  strides: [number, number, number];
  pixelRange: number;               // output value of white
}

/** Uniform block: the canvas size in pixels (vec2<f32>), padded. */
export const CANVAS_OUTPUT_PARAM_BYTES = 16;

export function canvasOutputShader(l: CanvasOutputLayout): string {
  const [sc, sh, sw] = l.strides;
  return `
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<uniform> canvas: vec4<f32>;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
  let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
  let at = min(vec2<u32>(pos.xy * vec2<f32>(${f32(l.width)}, ${f32(l.height)}) / canvas.xy),
               vec2<u32>(${u32(l.width - 1)}, ${u32(l.height - 1)}));
  let base = at.y * ${u32(sh)} + at.x * ${u32(sw)};
  let rgb = vec3<f32>(y[base], y[base + ${u32(sc)}], y[base + ${u32(2 * sc)}]);
  return vec4<f32>(clamp(rgb * ${f32(1 / l.pixelRange)}, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}`;
}
