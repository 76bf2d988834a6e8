// Where exported results go: a folder the user chose in the shell's dialog (granted with role
// "output"), shown in the toolbar and remembered in settings. Files are written through the
// outputs API, which never overwrites: a second export the same day becomes "… (2).csv".

import { getJSON, postFor } from '../api';
import type { CardEntry } from './card_list';
import { el, errorText } from './dom';
import { openDialog, type GrantedFolder } from './folder_source';
import { EXPORTERS, type ExportFormat } from './results_export';

const FORMATS: Record<string, ExportFormat[]> = { 'CSV and JSON': ['csv', 'json'], CSV: ['csv'], JSON: ['json'] };

/** An output folder shown by name with a button to choose it; `remember` keeps it in settings
 *  (the one exports go to), otherwise the choice lasts as long as the view. */
export class OutputFolderChoice {
  readonly root = el('span', 'output-choice');
  folder: GrantedFolder | null = null;
  private where = el('span', 'folder');

  constructor(private say: (message: string) => void,
              private options: { button: string; title: string; remember: boolean; noDialog: string }) {
    const choose = el('button', 'button', options.button);
    choose.title = options.title;
    choose.addEventListener('click', () => void this.choose().catch((e) => this.say(errorText(e))));
    this.root.append(this.where, choose);
    this.render();
  }

  /** Show the remembered output folder, if any. */
  async restore(): Promise<void> {
    this.folder = (await getJSON<{ folder: GrantedFolder | null }>('api/output-folder')).folder;
    this.render();
  }

  /** The chosen folder; asks for one when there is none (or it went missing); null if none was chosen. */
  async ensure(): Promise<GrantedFolder | null> {
    if ((!this.folder || this.folder.missing) && !await this.choose()) return null;
    return this.folder;
  }

  async choose(): Promise<boolean> {
    const reply = await openDialog('folder', 'output');
    if (reply === null) {
      this.say(`No folder dialog is available here, so there is no folder to write into: ${this.options.noDialog}`);
      return false;
    }
    const chosen = reply.folders[0];
    if (!chosen) return false;    // the user cancelled
    this.folder = this.options.remember
      ? (await postFor<{ folder: GrantedFolder }>('api/output-folder', { id: chosen.id })).folder
      : chosen;
    this.render();
    return true;
  }

  private render(): void {
    const f = this.folder;
    this.where.textContent = !f ? 'no folder chosen' : f.missing ? `${f.name} (missing)` : f.name;
    this.where.title = f?.path ?? '';
    this.where.classList.toggle('error', !!f?.missing);
  }
}

/** The classify view's export bar: the remembered output folder, a format and Export results. */
export class OutputControls {
  readonly root = el('div', 'outputs');
  private target: OutputFolderChoice;
  private format = el('select');

  constructor(private results: () => CardEntry[], private say: (message: string) => void) {
    this.target = new OutputFolderChoice(say, {
      button: 'Output folder…', title: 'Choose the folder exported results are written into', remember: true,
      noDialog: 'use Copy all instead.',
    });
    this.format.setAttribute('aria-label', 'Export format');
    this.format.append(...Object.keys(FORMATS).map((f) => new Option(f)));
    const exportButton = el('button', 'button', 'Export results');
    exportButton.addEventListener('click', () => void this.export().catch((e) => this.say(`Could not export: ${errorText(e)}`)));
    this.root.append(el('span', 'meta', 'Results to'), this.target.root, this.format, exportButton);
  }

  restore(): Promise<void> {
    return this.target.restore();
  }

  private async export(): Promise<void> {
    const entries = this.results();
    if (!entries.length) { this.say('There are no results to export yet.'); return; }
    const folder = await this.target.ensure();
    if (!folder) return;
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
}
