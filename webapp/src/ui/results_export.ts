// The results as files: CSV (one row per image, a label and score column pair per rank) for
// spreadsheets, JSON for programs. Scores are probabilities from 0 to 1.

import type { CardEntry } from './card_list';

export type ExportFormat = 'csv' | 'json';

function csvField(value: string | number | undefined): string {
  const s = value === undefined ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function resultsCsv(entries: CardEntry[]): string {
  const ranks = Math.max(0, ...entries.map((e) => e.result?.top?.length ?? 0));
  const header = ['file', 'model', 'backend', 'ms'];
  for (let r = 1; r <= ranks; r++) header.push(`label_${r}`, `score_${r}`);
  header.push('error');
  const rows = entries.map((e) => {
    const r = e.result ?? {};
    const cells: (string | number | undefined)[] = [e.name, r.model, r.backend, r.ms?.toFixed(1)];
    for (let i = 0; i < ranks; i++) cells.push(r.top?.[i]?.label, r.top?.[i]?.score.toFixed(6));
    cells.push(r.error);
    return cells.map(csvField).join(',');
  });
  return [header.join(','), ...rows].join('\r\n') + '\r\n';
}

export function resultsJson(entries: CardEntry[]): string {
  const results = entries.map((e) => {
    const r = e.result ?? {};
    return r.error !== undefined
      ? { file: e.name, error: r.error }
      : { file: e.name, model: r.model, backend: r.backend, ms: r.ms, top: r.top?.map(({ label, index, score }) => ({ label, index, score })) };
  });
  return JSON.stringify({ exported: new Date().toISOString(), results }, null, 2) + '\n';
}

export const EXPORTERS: Record<ExportFormat, (entries: CardEntry[]) => string> = { csv: resultsCsv, json: resultsJson };
