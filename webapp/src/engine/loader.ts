// Fetches a model package: the manifest first, then every weight shard of one precision in
// parallel, reporting bytes as they arrive. The engine never sees files, only URLs.

import type { Manifest, Precision } from './manifest';

export interface LoadProgress { loadedBytes: number; totalBytes: number | null }

export interface FetchedPackage {
  manifest: Manifest;
  precision: Precision;
  /** Shard contents, in manifest order; each resolves as soon as its bytes are in. */
  shards: Promise<ArrayBuffer>[];
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

export async function fetchManifest(baseUrl: string): Promise<Manifest> {
  const manifest = (await (await fetchOk(`${baseUrl}manifest.json`)).json()) as Manifest;
  if (manifest.format !== 'tessera-model-package' || manifest.version !== 1) {
    throw new Error(`${baseUrl}manifest.json is not a Tessera model package of version 1`);
  }
  return manifest;
}

/** Streams one shard, reporting each chunk's length as it arrives. */
async function readShard(url: string, onBytes: (n: number, total: number) => void): Promise<ArrayBuffer> {
  const res = await fetchOk(url);
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
