// Builds the web app into dist/: type-checks, bundles src/main.ts with esbuild, copies the
// static page and the onnxruntime-web files the wasm/webgpu fallback loads at run time.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const dist = `${here}dist`;
const ortDist = `${here}node_modules/onnxruntime-web/dist`;
// Only the files the WebGPU build of onnxruntime-web needs (it also carries the wasm EP).
const ortFiles = ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs',
                  'ort-wasm-simd-threaded.asyncify.wasm'];

execFileSync(`${here}node_modules/.bin/tsc`, ['--noEmit', '-p', here], { stdio: 'inherit' });
rmSync(dist, { recursive: true, force: true });
mkdirSync(`${dist}/vendor/ort`, { recursive: true });
await build({
  entryPoints: [`${here}src/main.ts`],
  bundle: true,
  format: 'esm',
  target: 'chrome113',
  outfile: `${dist}/app.js`,
  sourcemap: true,
  minify: true,
  // onnxruntime-web is loaded at run time from vendor/ so it finds its .wasm beside itself.
  external: ['/vendor/*'],
  logLevel: 'warning',
});
cpSync(`${here}static`, dist, { recursive: true });
for (const f of ortFiles) cpSync(`${ortDist}/${f}`, `${dist}/vendor/ort/${f}`);
console.log(`web app built in ${dist}`);
