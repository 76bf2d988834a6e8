// How this page was deployed: inside the desktop app, whose Python shell answers the JSON API,
// or as a static site (build_scripts/build_web.py --static), which is files only. The static
// build says so in index.html (<meta name="tessera-deploy" content="static">); the page never
// guesses it from failing API calls.

import { getJSON } from '../api';
import type { ModelInfo } from '../ui/models_view';

export const STATIC_SITE = document.querySelector('meta[name="tessera-deploy"]')?.getAttribute('content') === 'static';

/** The installed models: the shell's library, or the static site's bundled models. */
export async function installedModels(): Promise<ModelInfo[]> {
  if (!STATIC_SITE) return getJSON<ModelInfo[]>('api/models');
  const res = await fetch('models/index.json');
  if (!res.ok) throw new Error(`the site's model list is missing (models/index.json: HTTP ${res.status})`);
  return res.json() as Promise<ModelInfo[]>;
}
