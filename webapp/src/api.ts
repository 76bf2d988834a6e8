// Client for the Python shell's JSON API. Authentication rides on the per-launch cookie the
// server set when the page was opened with its token, so every request here is same-origin.

export class ApiError extends Error {}

async function check(res: Response, path: string): Promise<Response> {
  if (res.status === 422) throw new ApiError(await res.text());   // the server's own sentence
  if (!res.ok) throw new ApiError(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

export async function getJSON<T>(path: string): Promise<T> {
  return (await check(await fetch(path, { cache: 'no-store' }), path)).json() as Promise<T>;
}

export async function postJSON(path: string, body: unknown): Promise<void> {
  await check(await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }), path);
}

/** POST a JSON body (or raw bytes) and return the JSON reply. */
export async function postFor<T>(path: string, body: unknown): Promise<T> {
  const raw = body instanceof Blob || body instanceof ArrayBuffer;
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' },
    body: raw ? body : JSON.stringify(body),
  });
  return (await check(res, path)).json() as Promise<T>;
}
