// Fetches a model package: the manifest first, then every weight shard of one precision in
// parallel (a large shard as parallel byte ranges), reporting bytes as they arrive. The engine
// never sees files, only URLs.

import type { Manifest, Precision } from './manifest';

export interface LoadProgress { loadedBytes: number; totalBytes: number | null }

export interface FetchedPackage {
  manifest: Manifest;
  precision: Precision;
  /** Shard contents, in manifest order; each resolves as soon as its bytes are in. */
  shards: Promise<ArrayBuffer>[];
}

async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

/** Package format versions this engine runs: each adds ops and attributes to the one before, so
 * older packages still load (docs/model-package.md). */
const PACKAGE_VERSIONS = [1, 2, 3, 4, 5, 6, 7];

export async function fetchManifest(baseUrl: string): Promise<Manifest> {
  const manifest = (await (await fetchOk(`${baseUrl}manifest.json`)).json()) as Manifest;
  if (manifest.format !== 'tessera-model-package' || !PACKAGE_VERSIONS.includes(manifest.version)) {
    throw new Error(`${baseUrl}manifest.json is not a Tessera model package this engine reads `
      + `(format versions ${PACKAGE_VERSIONS.join(', ')}; it says ${manifest.version})`);
  }
  return manifest;
}

/** Shards larger than this are fetched as several byte ranges of this size, in parallel. */
const RANGE_BYTES = 8 << 20;

function range(first: number, last: number): RequestInit {
  return { headers: { Range: `bytes=${first}-${last}` } };
}

/** The whole size from a 206's `Content-Range: bytes FIRST-LAST/SIZE`, checking FIRST. */
function rangeSize(res: Response, url: string, first: number): number {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  if (!m || Number(m[1]) !== first) throw new Error(`${url}: the server answered a byte range with the wrong bytes`);
  return Number(m[3]);
}

/** Reads a body into `out` at `at`, reporting each chunk; checks it had exactly `length` bytes. */
async function readInto(res: Response, url: string, out: Uint8Array, at: number, length: number,
  onBytes: (n: number, total: number) => void): Promise<void> {
  const reader = res.body!.getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > length) throw new Error(`${url}: more bytes than the server announced`);
    out.set(value, at + got);
    got += value.length;
    onBytes(value.length, 0);
  }
  if (got !== length) throw new Error(`${url}: the download stopped after ${got} of ${length} bytes`);
}

/** Streams a whole-file (200) response, reporting each chunk's length as it arrives. */
async function readWhole(res: Response, onBytes: (n: number, total: number) => void): Promise<ArrayBuffer> {
  onBytes(0, Number(res.headers.get('content-length') ?? 0));
  if (!res.body) return res.arrayBuffer();
  const chunks: Uint8Array[] = [];
  let got = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
    onBytes(value.length, 0);
  }
  const out = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out.buffer;
}

/** One shard. The first request asks for its first RANGE_BYTES: a server without range support
 *  answers 200 with the whole file, which is read as it is; a 206 says the shard's size, and
 *  the rest of a large shard is then fetched as parallel ranges into one buffer. */
async function readShard(url: string, onBytes: (n: number, total: number) => void): Promise<ArrayBuffer> {
  const first = await fetchOk(url, range(0, RANGE_BYTES - 1));
  if (first.status !== 206) return readWhole(first, onBytes);
  const size = rangeSize(first, url, 0);
  onBytes(0, size);
  const out = new Uint8Array(size);
  const parts = [readInto(first, url, out, 0, Math.min(size, RANGE_BYTES), onBytes)];
  for (let at = RANGE_BYTES; at < size; at += RANGE_BYTES) {
    const last = Math.min(size, at + RANGE_BYTES) - 1;
    parts.push(fetchOk(url, range(at, last)).then((res) => {
      if (res.status !== 206 || rangeSize(res, url, at) !== size) {
        throw new Error(`${url}: the server stopped answering byte ranges (HTTP ${res.status})`);
      }
      return readInto(res, url, out, at, last - at + 1, onBytes);
    }));
  }
  await Promise.all(parts);
  return out.buffer;
}

export async function fetchPackage(baseUrl: string, precision: Precision,
  onProgress?: (p: LoadProgress) => void): Promise<FetchedPackage> {
  const manifest = await fetchManifest(baseUrl);
  const names = manifest.weights.shards[precision];
  let loaded = 0;
  let total = 0;
  let totalsKnown = 0;
  const shards = names.map((name) => readShard(`${baseUrl}${name}`, (n, t) => {
    if (t) { total += t; totalsKnown++; }
    loaded += n;
    onProgress?.({ loadedBytes: loaded, totalBytes: totalsKnown === names.length ? total : null });
  }));
  return { manifest, precision, shards };
}
