// A batch job's state in words: progress (count, rate, ETA), the per-status counts, and the
// summary once it has ended.

import type { JobState } from './batch_api';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function countsText(counts: JobState['counts']): string {
  return `${counts.classified} classified · ${counts['already done']} already done · ${counts.failed} failed · ` +
         `${counts.skipped} skipped`;
}

/** `pause`: this window's pause, which takes effect after the photo being classified. */
export function progressText(s: JobState, pause: 'pausing' | 'paused' | null): string {
  const { count, total, rate, eta_s } = s.progress;
  const done = total !== null && !s.watching ? `${count} of ${plural(total, 'photo')}` : `${plural(count, 'photo')} done`;
  if (s.state === 'stopping') return `${done} · stopping after the batch in flight…`;
  if (pause === 'pausing') return `${done} · pausing after the current photo…`;
  if (pause === 'paused' || s.paused) return `${done} · paused`;
  if (s.watching) return `${done} · watching ${s.folders.join(', ')} for new photos`;
  const speed = rate > 0 ? ` · ${rate.toFixed(1)} per second` : '';
  const left = eta_s !== null && rate > 0 && count < (total ?? 0) ? ` · about ${duration(eta_s)} left` : '';
  return `${done}${speed}${left}`;
}

export function summaryText(s: JobState): string {
  const head = s.state === 'failed' ? 'Stopped early' : s.cancelled ? 'Cancelled' : 'Finished';
  const parts = [`${head}: ${countsText(s.counts)}.`];
  if (s.exports.length) parts.push(`Results exported to ${s.exports.join(' and ')} in ${s.export_folder}.`);
  if (s.sort_folder) parts.push(`${plural(s.sorted, 'photo')} sorted into ${s.sort_folder}.`);
  if (s.sidecars) parts.push(`${plural(s.sidecars, 'XMP sidecar')} written beside the photos.`);
  return parts.join(' ');
}
