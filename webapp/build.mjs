// Builds the web app into dist/: type-checks, bundles src/main.ts with esbuild (and the
// benchmark page, src/bench/page.ts, with TensorFlow.js, into bench.js, which main.ts loads only
// in bench mode), copies the static page and the onnxruntime-web files loaded at run time.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
// The app's version has one source, the Python package; the page shows it in Diagnostics.
const version = readFileSync(`${here}../desktop/tessera/__init__.py`, 'utf8')
  .match(/__version__ = "([^"]+)"/)[1];
const dist = `${here}dist`;
const ortDist = `${here}node_modules/onnxruntime-web/dist`;
// Only the files the WebGPU build of onnxruntime-web needs (it also carries the wasm EP).
const ortFiles = ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs',
                  'ort-wasm-simd-threaded.asyncify.wasm'];

execFileSync(`${here}node_modules/.bin/tsc`, ['--noEmit', '-p', here], { stdio: 'inherit' });
rmSync(dist, { recursive: true, force: true });
mkdirSync(`${dist}/vendor/ort`, { recursive: true });
await build({
  entryPoints: { app: `${here}src/main.ts`, bench: `${here}src/bench/page.ts` },
  bundle: true,
  format: 'esm',
  target: 'chrome113',
  outdir: dist,
  sourcemap: true,
  minify: true,
  // onnxruntime-web is loaded at run time from vendor/ so it finds its .wasm beside itself.
  external: ['/vendor/*'],
  logLevel: 'warning',
  define: { __TESSERA_VERSION__: JSON.stringify(version) },
});
cpSync(`${here}static`, dist, { recursive: true });
for (const f of ortFiles) cpSync(`${ortDist}/${f}`, `${dist}/vendor/ort/${f}`);
console.log(`web app built in ${dist}`);
