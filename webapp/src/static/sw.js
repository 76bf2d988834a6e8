// The static site's service worker (a template: build_scripts/build_web.py writes sw.js as this
// file preceded by `self.TESSERA_BUILD = {...}`, the build's file list).
//
// One cache per build, named after the build's content hash. Install fills it with the app
// shell, onnxruntime-web's wasm, the model index and the default model, taking each file from an
// older build's cache when its content is unchanged (its key carries its content hash) and from
// the network otherwise; files of the other bundled models already cached are carried over too.
// Activate deletes every other build's cache, and the page offers a reload. Navigations get the
// cached page and other files come from the cache, online or not (a new deploy's worker takes
// over as soon as it is installed); a model file not cached yet is fetched whole once and kept. Byte-range requests (the engine's loader splits large weight
// shards into ranges) are answered from the cached whole file with 206 and Content-Range.

const BUILD = self.TESSERA_BUILD;
const CACHE = `tessera-${BUILD.version}`;
const SCOPE = new URL(self.registration.scope);
const PRECACHE = new Map(BUILD.precache);          // path under the scope -> content hash
const RUNTIME = new Set(BUILD.runtime);            // other models' files, cached on first use
const fetching = new Map();                        // cache key -> the whole file being fetched

/** The cache key of a file: precached ones carry their content hash, so builds can share them. */
function keyOf(path) {
  const rev = PRECACHE.get(path);
  return new URL(rev ? `${path}?rev=${rev}` : path, SCOPE).href;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all([...PRECACHE.keys()].map(async (path) => {
      const key = keyOf(path);
      const old = await caches.match(key);
      if (old) return cache.put(key, old);
      const res = await fetch(new URL(path, SCOPE), { cache: 'no-cache' });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      await cache.put(key, res);
    }));
    await Promise.all([...RUNTIME].map(async (path) => {
      const old = await caches.match(keyOf(path));
      if (old) await cache.put(keyOf(path), old);
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('tessera-') && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return;
  const path = url.pathname.slice(SCOPE.pathname.length);
  if (request.mode === 'navigate' && (path === '' || path === 'index.html')) {
    event.respondWith(navigate(request));
    return;
  }
  if (url.search || !(PRECACHE.has(path) || RUNTIME.has(path))) return;
  event.respondWith(fromCache(request, path));
});

/** The build's own page, so it always goes with the files this cache holds (a newer build's
 *  page could name files this worker doesn't know); the network only if it is missing. */
async function navigate(request) {
  return (await caches.match(keyOf('index.html'), { cacheName: CACHE })) ?? fetch(request);
}

async function fromCache(request, path) {
  const key = keyOf(path);
  const cache = await caches.open(CACHE);
  let whole = await cache.match(key);
  if (!whole) {
    // Ranges of one file arrive together: fetch it whole once, keep it, slice it for each.
    if (!fetching.has(key)) {
      fetching.set(key, fetch(new URL(path, SCOPE)).then(async (res) => {
        if (res.ok) await cache.put(key, res);
        return res.ok ? null : res;
      }).finally(() => fetching.delete(key)));
    }
    let failed;
    try {
      failed = await fetching.get(key);
    } catch {
      return new Response('Offline, and this file was not saved for offline use yet.', { status: 504 });
    }
    if (failed) return failed;
    whole = await cache.match(key);
  }
  const range = request.headers.get('Range');
  return range ? slice(whole, range) : whole;
}

/** A 206 answer to `Range: bytes=...` from a whole cached response (416 if unsatisfiable). */
async function slice(whole, range) {
  const blob = await whole.blob();
  const size = blob.size;
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!m || (m[1] === '' && m[2] === '')) return new Response(blob, { status: 200, headers: whole.headers });
  let first;
  let last;
  if (m[1] === '') {
    first = Math.max(0, size - Number(m[2]));
    last = size - 1;
  } else {
    first = Number(m[1]);
    last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (first >= size || first > last) {
    return new Response('', { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
  }
  const headers = new Headers(whole.headers);
  headers.set('Content-Range', `bytes ${first}-${last}/${size}`);
  headers.set('Content-Length', String(last - first + 1));
  return new Response(blob.slice(first, last + 1), { status: 206, headers });
}
