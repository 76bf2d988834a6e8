// The static site's export bar: the results downloaded as a CSV or JSON file, where the desktop
// app writes them into an output folder (output_folder.ts) through its shell.

import type { CardEntry } from '../ui/card_list';
import { el } from '../ui/dom';
import { EXPORTERS, type ExportFormat } from '../ui/results_export';

const TYPES: Record<ExportFormat, string> = { csv: 'text/csv', json: 'application/json' };

export class DownloadControls {
  readonly root = el('div', 'outputs');
  private format = el('select');

  constructor(private results: () => CardEntry[], private say: (message: string) => void) {
    this.format.setAttribute('aria-label', 'Download format');
    this.format.append(new Option('CSV', 'csv'), new Option('JSON', 'json'));
    const download = el('button', 'button', 'Download results');
    download.addEventListener('click', () => this.download());
    this.root.append(el('span', 'meta', 'Results as'), this.format, download);
  }

  /** Nothing to restore: a download needs no folder. */
  async restore(): Promise<void> {}

  private download(): void {
    const entries = this.results();
    if (!entries.length) { this.say('There are no results to download yet.'); return; }
    const format = this.format.value as ExportFormat;
    const name = `tessera-results-${new Date().toISOString().slice(0, 10)}.${format}`;
    const url = URL.createObjectURL(new Blob([EXPORTERS[format](entries)], { type: TYPES[format] }));
    const link = el('a');
    link.href = url;
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    this.say(`Downloaded ${entries.length} result${entries.length === 1 ? '' : 's'} as ${name}.`);
  }
}
