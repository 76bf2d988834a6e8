// Where photos come from besides drop/paste/picker: native dialogs and granted folders.

import { ApiError, getJSON, postFor } from '../api';

export interface SourceItem { name: string; image: string; bytes: () => Promise<Blob> }
export interface GrantedFolder { id: string; name: string; path: string; missing: boolean }
interface DialogReply { folders: GrantedFolder[]; files: { name: string; url: string; thumb: string }[] }
interface Listing { total: number; items: { rel: string; url: string; thumb: string }[] }

const PAGE = 1000;

async function fetchBlob(url: string): Promise<Blob> {
  const res = await fetch(url);
  if (res.status === 422) throw new Error(await res.text());
  if (!res.ok) throw new Error(`could not read the image (HTTP ${res.status})`);
  return res.blob();
}

/** Every image of a granted folder, page by page; thumbnails come from the server. */
export async function folderItems(folderId: string): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await getJSON<Listing>(`api/folders/${folderId}/images?offset=${offset}&limit=${PAGE}`);
    for (const i of page.items) items.push({ name: i.rel, image: i.thumb, bytes: () => fetchBlob(i.url) });
    if (offset + PAGE >= page.total) return items;
  }
}

/** Ask the shell for a native dialog; null means there is none (use the page's own picker). */
export async function openDialog(kind: 'files' | 'folder', role: 'images' | 'output'): Promise<DialogReply | null> {
  try {
    return await postFor<DialogReply>('api/dialog', { kind, role });
  } catch (e) {
    if (e instanceof ApiError && e.message.includes('HTTP 501')) return null;
    throw e;
  }
}

/** The photos chosen in a native dialog; null means there is none. */
export async function chooseWithDialog(kind: 'files' | 'folder'): Promise<SourceItem[] | null> {
  const reply = await openDialog(kind, 'images');
  if (reply === null) return null;
  const items: SourceItem[] = reply.files.map((f) => ({ name: f.name, image: f.thumb, bytes: () => fetchBlob(f.url) }));
  for (const folder of reply.folders) items.push(...await folderItems(folder.id));
  return items;
}

/** Files of a dropped folder (drag-and-drop hands over entries, not paths). */
export async function droppedFiles(data: DataTransfer): Promise<File[]> {
  const entries = [...data.items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  if (!entries.some((e) => e.isDirectory)) return [...data.files];
  const files: File[] = [];
  async function walk(entry: FileSystemEntry): Promise<void> {
    if (entry.isFile) {
      files.push(await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail)));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) await walk(entry);
  return files.filter((f) => /\.(jpe?g|png|gif|webp|bmp)$/i.test(f.name));
}
