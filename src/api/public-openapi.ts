/**
 * The public listener's routes as OpenAPI path items, for the one document the admin listener
 * serves (/openapi.json). The public routes live on another Fastify instance, so @fastify/swagger
 * on the admin server never sees them; this list describes them instead, each operation tagged
 * `public listener` and pointed at the public server. test/api/openapi-public.test.ts checks it
 * against the routes the public server really registers, in both directions.
 */
import { ESP_WEBHOOK_VENDORS } from '../connectors/webhook-port.ts';

/** Tag of every public operation; tools and tests tell the two listeners apart by it. */
export const PUBLIC_LISTENER_TAG = 'public listener';

const ON_PUBLIC =
  'Served on the **public listener** (`PORT`, default 3000, or `SWITCHYARD_PUBLIC_URL`), not on the admin port.';

const PUBLIC_SERVERS = [
  {
    url: '{publicListener}',
    description: 'public listener',
    variables: {
      publicListener: {
        default: 'http://127.0.0.1:3000',
        description: 'SWITCHYARD_PUBLIC_URL, or http://SWITCHYARD_HOST:PORT',
      },
    },
  },
];

interface Operation {
  summary: string;
  description: string;
  parameters?: unknown[];
  responses: Record<string, { description: string }>;
}

const token = (what: string) => ({
  name: 'token',
  in: 'path',
  required: true,
  description: `${what}, signed with SWITCHYARD_TRACKING_SECRET; may span several path segments`,
  schema: { type: 'string' },
});

const REFUSED = {
  description: 'Bad or expired token (TRACKING_SIGNATURE_INVALID, TRACKING_PREVIEW_TOKEN, NOT_FOUND, ...)',
};

const TRACKING: Record<string, Record<string, Operation>> = {
  '/t/o/{token}': {
    get: {
      summary: 'Open pixel',
      description:
        'The 1x1 GIF every tracked email embeds. Records an `opened` event (machine opens classified by '
        + 'user agent, address and time since send). Always answers with the GIF, even for a bad token, '
        + 'which then records nothing.',
      parameters: [token('The message track token')],
      responses: { 200: { description: 'image/gif, never cached' } },
    },
  },
  '/t/c/{token}': {
    get: {
      summary: 'Click redirect',
      description:
        'Records a `clicked` event and redirects to the link the token signs. Path forms: '
        + '`/t/c/<track>/<linkIndex>`, `/t/c/<track>/<linkIndex>/<link tag>` (Liquid-built links) and '
        + '`/t/c/<c-token>` (mail sent before per-message tokens). Never redirects to an unsigned URL.',
      parameters: [token('The track token and link index, or a per-link token')],
      responses: { 302: { description: 'Location: the signed destination' }, 400: REFUSED, 404: REFUSED },
    },
  },
  '/t/u/{token}': {
    get: {
      summary: 'Unsubscribe page',
      description:
        'A small HTML page with an Unsubscribe button that POSTs to `/t/u/{token}/confirm`. '
        + 'A GET never unsubscribes: link scanners fetch every link.',
      parameters: [token('The message unsubscribe token')],
      responses: { 200: { description: 'text/html page, not indexed, never cached' }, 400: REFUSED },
    },
    post: {
      summary: 'One-click unsubscribe (RFC 8058)',
      description:
        'The `List-Unsubscribe-Post: List-Unsubscribe=One-Click` target mailbox providers call. Suppresses '
        + 'the address at once (source `one_click`); repeats are harmless.',
      parameters: [token('The message unsubscribe token')],
      responses: { 200: { description: 'text/plain `unsubscribed`' }, 400: REFUSED },
    },
  },
  '/t/u/{token}/confirm': {
    get: {
      summary: 'Unsubscribe page (confirm path)',
      description: 'The same page as `GET /t/u/{token}`; it never unsubscribes.',
      parameters: [token('The message unsubscribe token')],
      responses: { 200: { description: 'text/html page' }, 400: REFUSED },
    },
    post: {
      summary: 'Unsubscribe from the page',
      description: "The unsubscribe page's button. Suppresses the address (source `preference_page`).",
      parameters: [token('The message unsubscribe token')],
      responses: { 200: { description: 'text/html confirmation page' }, 400: REFUSED },
    },
  },
};

const LINK_REFUSED = { description: 'Forged, malformed or expired link (LINK_INVALID)' };
const link = (what: string) => ({
  name: 'token',
  in: 'path',
  required: true,
  description: `${what}, signed with SWITCHYARD_COMPLIANCE_SECRET`,
  schema: { type: 'string' },
});
const page = (summary: string, what: string, post: string): Record<string, Operation> => ({
  get: {
    summary,
    description: 'A small HTML page whose button POSTs to the same URL (a GET changes nothing: scanners fetch links).',
    parameters: [link(what)],
    responses: { 200: { description: 'text/html page' }, 400: LINK_REFUSED },
  },
  post: {
    summary: `${summary}: confirm`,
    description: post,
    parameters: [link(what)],
    responses: { 200: { description: 'text/html confirmation page' }, 400: LINK_REFUSED },
  },
});

/** The compliance road's public routes (docs/compliance.md). */
const COMPLIANCE: Record<string, Record<string, Operation>> = {
  '/consent/signup': {
    post: {
      summary: 'Double opt-in sign-up',
      description:
        'JSON `{email, topic, source?, wording_id?, wording_version?, wording_hash?, locale?}`. Records a consent '
        + 'grant awaiting confirmation and mails a signed, expiring confirmation link; always the same answer.',
      responses: {
        202: { description: '`{ status: "confirmation_sent" }`' },
        400: { description: 'VALIDATION_FAILED' },
      },
    },
  },
  '/consent/confirm/{token}': page(
    'Double opt-in confirmation',
    'The confirmation token',
    'Records the confirmation (time, IP, user agent) in the consent ledger and subscribes.',
  ),
  '/dsr/verify/{token}': page(
    'Data-subject request identity check',
    'The identity-check token',
    'Marks the request verified and starts its fan-out.',
  ),
  '/dsr/bundle/{token}': {
    get: {
      summary: 'Access/portability bundle download',
      description: 'The readable HTML page, or with `?format=json` the JSON bundle.',
      parameters: [link('The download token')],
      responses: { 200: { description: 'text/html or application/json' }, 400: LINK_REFUSED, 404: REFUSED },
    },
  },
};

function webhookPaths(): Record<string, Record<string, Operation>> {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const vendor of ESP_WEBHOOK_VENDORS) {
    paths[`/webhooks/${vendor}`] = {
      post: {
        summary: `${vendor} event webhook`,
        description:
          `Point ${vendor}'s event webhook here. The signature is verified on the raw body with the `
          + 'vendor key from the configuration (docs/webhooks.md); a replayed signature is refused; '
          + 'deliveries, bounces, complaints, opens, clicks and unsubscribes become reactions. '
          + 'Redeliveries count as duplicates; a 5xx makes the vendor retry.',
        responses: {
          200: { description: '`{ accepted, duplicates, rejected, ignored }`' },
          400: { description: 'Malformed body (WEBHOOK_PAYLOAD_INVALID); refusals are sampled into dead letters' },
          401: {
            description:
              'Signature invalid, stale or replayed (WEBHOOK_SIGNATURE_INVALID, WEBHOOK_STALE, WEBHOOK_REPLAYED)',
          },
          413: { description: 'Body too large (WEBHOOK_PAYLOAD_TOO_LARGE)' },
        },
      },
    };
  }
  paths['/webhooks/hubspot'] = {
    post: {
      summary: 'HubSpot contact change webhook',
      description:
        "Point the HubSpot app's webhook subscriptions (contact creation, property change, deletion, merge) "
        + 'here. Signature v3 is verified over the method, SWITCHYARD_PUBLIC_URL + path, raw body and '
        + 'timestamp with the app client secret (docs/connectors.md); each event becomes one contact.changed '
        + 'message, and redeliveries count as duplicates by event id; a 5xx makes HubSpot retry.',
      responses: {
        200: { description: '`{ accepted, duplicates, rejected, ignored }`' },
        400: { description: 'Malformed body (WEBHOOK_PAYLOAD_INVALID); refusals are sampled into dead letters' },
        401: { description: 'Signature invalid or older than 5 minutes (WEBHOOK_SIGNATURE_INVALID, WEBHOOK_STALE)' },
        413: { description: 'Body too large (WEBHOOK_PAYLOAD_TOO_LARGE)' },
      },
    },
  };
  paths['/v1/changes'] = {
    post: {
      summary: 'Contact changes from any system (profiles, lists)',
      description:
        'A JSON batch of contact changes, signed with HMAC-SHA256 over the timestamp and the raw body '
        + '(SWITCHYARD_CHANGES_SECRET, 5-minute tolerance; docs/lists.md). Applied to the contact profiles and '
        + 'the lists they feed before the answer, so a 200 is durable; a repeated or older change changes nothing.',
      responses: {
        200: { description: 'The changes were applied' },
        400: { description: 'Malformed change (CHANGE_INVALID); kept in dead letters with the reason' },
        401: { description: 'Unsigned, badly signed or stale (CHANGE_SIGNATURE_INVALID, CHANGE_STALE)' },
        413: { description: 'Body too large' },
      },
    },
  };
  paths['/webhooks/stripe'] = {
    post: {
      summary: 'Stripe event webhook (revenue)',
      description:
        'Point a Stripe webhook endpoint here. The Stripe-Signature is verified on the raw body with '
        + 'SWITCHYARD_STRIPE_WEBHOOK_SECRET (5-minute tolerance, replayed signatures refused); invoice, charge, '
        + 'refund, subscription and customer events are stored once by event id and applied to revenue and '
        + 'identity (docs/attribution.md); a 5xx makes Stripe retry.',
      responses: {
        200: { description: '`{ accepted, duplicates }`' },
        400: { description: 'Malformed body (WEBHOOK_PAYLOAD_INVALID); kept in dead letters' },
        401: {
          description:
            'Signature invalid, stale or replayed (WEBHOOK_SIGNATURE_INVALID, WEBHOOK_STALE, WEBHOOK_REPLAYED)',
        },
        413: { description: 'Body too large (WEBHOOK_PAYLOAD_TOO_LARGE)' },
      },
    },
  };
  return paths;
}

// Registered by the shared base server before @fastify/swagger, so the plugin never sees them.
const HEALTH: Record<string, Record<string, unknown>> = {
  '/healthz': {
    get: {
      tags: ['system', PUBLIC_LISTENER_TAG],
      summary: 'Liveness: the process is serving',
      description: 'Served on both listeners, the public one and the admin one. No API key.',
      security: [],
      responses: { 200: { description: '`{ "status": "ok" }`' } },
    },
  },
  '/readyz': {
    get: {
      tags: ['system', PUBLIC_LISTENER_TAG],
      summary: 'Readiness: store and bus reachable',
      description:
        'Served on both listeners, the public one and the admin one. No API key. A failed check is named '
        + 'by its error code only, never by the driver message.',
      security: [],
      responses: {
        200: { description: '`{ "status": "ready", "checks": { "store": "ok", "bus": "ok" } }`' },
        503: { description: '`{ "status": "not ready", "checks": { ... } }`' },
      },
    },
  },
};

/** Path items of every public route, each operation tagged and addressed to the public listener. */
export function publicListenerPaths(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = { ...HEALTH };
  for (const [path, ops] of Object.entries({ ...TRACKING, ...COMPLIANCE, ...webhookPaths() })) {
    const item: Record<string, unknown> = { servers: PUBLIC_SERVERS };
    for (const [method, op] of Object.entries(ops)) {
      item[method] = {
        ...op,
        tags: [PUBLIC_LISTENER_TAG],
        description: `${op.description}\n\n${ON_PUBLIC} No API key.`,
        security: [],
      };
    }
    out[path] = item;
  }
  return out;
}

/** @fastify/swagger's transformObject: the admin routes it found plus the public listener's. */
export function withPublicListenerPaths<T extends { paths?: Record<string, unknown>; tags?: unknown[] }>(doc: T): T {
  return {
    ...doc,
    tags: [
      ...(doc.tags ?? []),
      {
        name: PUBLIC_LISTENER_TAG,
        description:
          'Routes of the internet-facing listener (tracking, unsubscribe, webhooks). They are listed here '
          + 'for reference and served on the public port, not on this admin one; /healthz and /readyz '
          + 'answer on both.',
      },
    ],
    paths: { ...(doc.paths ?? {}), ...publicListenerPaths() },
  };
}
