// Where exported results go: a folder the user chose in the shell's dialog (granted with role
// "output"), shown in the toolbar and remembered in settings. Files are written through the
// outputs API, which never overwrites: a second export the same day becomes "… (2).csv".

import { getJSON, postFor } from '../api';
import type { CardEntry } from './card_list';
import { el, errorText } from './dom';
import { openDialog, type GrantedFolder } from './folder_source';
import { EXPORTERS, type ExportFormat } from './results_export';

const FORMATS: Record<string, ExportFormat[]> = { 'CSV and JSON': ['csv', 'json'], CSV: ['csv'], JSON: ['json'] };

export class OutputControls {
  readonly root = el('div', 'outputs');
  private folder: GrantedFolder | null = null;
  private where = el('span', 'folder');
  private format = el('select');

  constructor(private results: () => CardEntry[], private say: (message: string) => void) {
    const choose = el('button', 'button', 'Output folder…');
    choose.title = 'Choose the folder exported results are written into';
    choose.addEventListener('click', () => void this.choose().catch((e) => this.say(errorText(e))));
    this.format.setAttribute('aria-label', 'Export format');
    this.format.append(...Object.keys(FORMATS).map((f) => new Option(f)));
    const exportButton = el('button', 'button', 'Export results');
    exportButton.addEventListener('click', () => void this.export().catch((e) => this.say(`Could not export: ${errorText(e)}`)));
    this.root.append(el('span', 'meta', 'Results to'), this.where, choose, this.format, exportButton);
    this.render();
  }

  /** Show the remembered output folder, if any. */
  async restore(): Promise<void> {
    this.folder = (await getJSON<{ folder: GrantedFolder | null }>('api/output-folder')).folder;
    this.render();
  }

  private async choose(): Promise<boolean> {
    const reply = await openDialog('folder', 'output');
    if (reply === null) {
      this.say('No folder dialog is available here, so there is no folder to write into: use Copy all instead.');
      return false;
    }
    const chosen = reply.folders[0];
    if (!chosen) return false;    // the user cancelled
    this.folder = (await postFor<{ folder: GrantedFolder }>('api/output-folder', { id: chosen.id })).folder;
    this.render();
    return true;
  }

  private async export(): Promise<void> {
    const entries = this.results();
    if (!entries.length) { this.say('There are no results to export yet.'); return; }
    if ((!this.folder || this.folder.missing) && !await this.choose()) return;
    const folder = this.folder!;
    const stem = `tessera-results-${new Date().toISOString().slice(0, 10)}`;
    const written: string[] = [];
    for (const format of FORMATS[this.format.value]) {
      const body = new Blob([EXPORTERS[format](entries)]);
      const reply = await postFor<{ name: string }>(
        `api/outputs/${folder.id}?name=${encodeURIComponent(`${stem}.${format}`)}`, body);
      written.push(reply.name);
    }
    this.say(`Exported ${entries.length} result${entries.length === 1 ? '' : 's'} to ${written.join(' and ')} in ${folder.name}.`);
  }

  private render(): void {
    const f = this.folder;
    this.where.textContent = !f ? 'no folder chosen' : f.missing ? `${f.name} (missing)` : f.name;
    this.where.title = f?.path ?? '';
    this.where.classList.toggle('error', !!f?.missing);
  }
}
