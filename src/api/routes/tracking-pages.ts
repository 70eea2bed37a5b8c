/**
 * The small HTML pages the unsubscribe routes answer with (tracking.ts): no script, no external
 * resource, not indexed, never cached, and every value HTML-escaped.
 */
import type { FastifyReply } from 'fastify';

export const NO_STORE = 'no-store, no-cache, must-revalidate, private, max-age=0';
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

import { escapeHtml } from '../../core/html-escape.ts';

export { escapeHtml };

export function page(reply: FastifyReply, title: string, body: string): FastifyReply {
  return reply
    .status(200)
    .header('cache-control', NO_STORE)
    .header('content-security-policy', PAGE_CSP)
    .header('referrer-policy', 'no-referrer')
    .header('x-robots-tag', 'noindex')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" `
        + `content="width=device-width,initial-scale=1">`
        + `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>`
        + `<body style="font-family:Arial,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222">`
        + `${body}</body></html>`,
    );
}
