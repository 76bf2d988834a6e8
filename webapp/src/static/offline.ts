// The static site's offline support: registers the service worker (sw.js, written by the static
// build), which keeps the app, onnxruntime-web and the models in a cache named after the build.

/** Registers the worker; `onUpdate` gets a sentence when a newer build has taken over. */
export async function enableOffline(onUpdate: (message: string) => void): Promise<void> {
  if (!('serviceWorker' in navigator)) return;      // e.g. a plain-http address other than localhost
  const hadController = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // The first visit's worker taking control is no update; a later one is a new deploy.
    if (hadController) onUpdate('A new version of Tessera has been installed: reload the page to use it.');
  });
  await navigator.serviceWorker.register('sw.js', { updateViaCache: 'none' });
}
