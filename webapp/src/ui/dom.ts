// Tiny DOM helpers shared by the views.

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
