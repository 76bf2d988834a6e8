"""Batch and watch-folder classification without the browser: scanning, decoding ahead,
the results store, exports, sorting into folders and the folder watcher (docs/batch.md)."""
