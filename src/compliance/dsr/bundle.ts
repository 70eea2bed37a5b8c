/**
 * The human-readable page of an access/portability bundle: every system's copy, escaped, as
 * definition lists. The JSON next to it is the machine-readable (portable) form.
 */

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return '<em>none</em>';
  if (depth > 6) return esc(JSON.stringify(value));
  if (Array.isArray(value))
    return value.length === 0
      ? '<em>none</em>'
      : `<ol>${value.map((v) => `<li>${render(v, depth + 1)}</li>`).join('')}</ol>`;
  if (typeof value === 'object')
    return `<dl>${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${render(v, depth + 1)}</dd>`)
      .join('')}</dl>`;
  return esc(String(value));
}

export function renderBundleHtml(bundle: { request: Record<string, unknown>; systems: unknown[] }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Your data</title>
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}dt{font-weight:600}</style>
</head><body><h1>Your data</h1><p>What each of our systems holds about you, as of this request.</p>
<h2>Request</h2>${render(bundle.request)}<h2>Systems</h2>${render(bundle.systems)}</body></html>`;
}
