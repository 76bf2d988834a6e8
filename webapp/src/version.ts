// The app's version, baked in by build.mjs from desktop/tessera/__init__.py (its one source).
declare const __TESSERA_VERSION__: string;

export const APP_VERSION: string = __TESSERA_VERSION__;
