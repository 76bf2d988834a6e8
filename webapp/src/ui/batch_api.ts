// The shell's batch-jobs API (desktop/tessera/api/batch_jobs.py) as the Batch view uses it.
// Its refusals are whole sentences ("That folder is not an output folder you chose…"), so they
// are shown as they come rather than with the HTTP status in front.

import type { FileOutcome } from './batch_rows';

export interface JobOptions {
  folders: string[];
  model: string;
  recursive: boolean;
  watch: boolean;
  xmp: boolean;
  sort: { folder: string; move: boolean; min_score: number } | null;
  export: { folder: string; formats: ('csv' | 'jsonl')[] } | null;
}

export interface JobState {
  id: string;
  page_job: string;
  top: number;
  model: string;
  folders: string[];
  watch: boolean;
  state: 'running' | 'stopping' | 'finished' | 'failed';
  watching: boolean;
  paused: boolean;
  cancelled: boolean;
  error: string | null;
  counts: Record<FileOutcome['status'], number>;
  progress: { count: number; total: number | null; rate: number; eta_s: number | null };
  outcomes: FileOutcome[];
  next: number;
  outcomes_total: number;
  exports: string[];
  export_folder: string | null;
  sort_folder: string | null;
  sorted: number;
  sidecars: number;
  notes: string[];
  notes_total: number;
}

async function request<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, body === undefined ? { cache: 'no-store' } : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(await res.text());
  return res.json() as Promise<T>;
}

const jobPath = (id: string) => `api/batch-jobs/${encodeURIComponent(id)}`;

export const batchJobs = {
  start: (options: JobOptions) => request<JobState>('api/batch-jobs', options),
  current: async () => (await request<{ job: JobState | null }>('api/batch-jobs/current')).job,
  /** The job's state with the outcomes from `since` on; also tells the job this window is open. */
  poll: (id: string, since: number) => request<JobState>(`${jobPath(id)}?since=${since}`),
  control: (id: string, action: 'pause' | 'resume' | 'cancel') => request<JobState>(`${jobPath(id)}/${action}`, {}),
  giveUp: (id: string, reason: string) => request<JobState>(`${jobPath(id)}/give-up`, { reason }),
  /** For a window that is closing: the only request that still goes out. */
  giveUpOnClose: (id: string, reason: string) => navigator.sendBeacon(
    `${jobPath(id)}/give-up`, new Blob([JSON.stringify({ reason })], { type: 'application/json' })),
};
