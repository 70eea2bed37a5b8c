/**
 * Public routes of the compliance road: the double opt-in sign-up (JSON, every answer the same so
 * nobody learns whether an address is known) and its confirmation page, the DSR identity-check page,
 * and the bundle download. A link only opens a page; the state change is the page's POST, so mail
 * scanners that fetch links change nothing. The signed token in the path is the credential; any
 * body of the POSTs is read and dropped.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { DoubleOptIn } from '../../compliance/consent/double-opt-in.ts';
import type { DsrService } from '../../compliance/dsr/service.ts';
import { checkEmailAddress } from '../../core/email-address.ts';
import { SwitchyardError } from '../../core/errors.ts';
import { escapeHtml, NO_STORE, page } from './tracking-pages.ts';

const Token = Type.Object({ token: Type.String({ minLength: 10, maxLength: 600, pattern: '^[A-Za-z0-9_.-]+$' }) });
const Topic = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' });
const Short = (max: number) => Type.Optional(Type.String({ minLength: 1, maxLength: max, pattern: '^[^\\u0000]+$' }));

function confirmForm(action: string, title: string, text: string): string {
  return (
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`
    + `<form method="post" action="${escapeHtml(action)}"><button type="submit">Confirm</button></form>`
  );
}

export function registerCompliancePages(deps: { doubleOptIn: DoubleOptIn; dsr: DsrService }) {
  return async (app: FastifyInstance): Promise<void> => {
    const tags = ['compliance'];
    app.post(
      '/consent/signup',
      {
        schema: {
          tags,
          summary: 'Double opt-in sign-up: records the grant and mails a signed, expiring confirmation link',
          body: Type.Object(
            {
              email: Type.String({ minLength: 3, maxLength: 254 }),
              topic: Topic,
              source: Short(500),
              wording_id: Short(200),
              wording_version: Short(50),
              wording_hash: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
              locale: Short(20),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const b = req.body as Record<string, string | undefined> & { email: string; topic: string };
        const checked = checkEmailAddress(b.email.trim());
        if (!checked.ok) throw new SwitchyardError('VALIDATION_FAILED', `email ${checked.problem}`);
        const ua = req.headers['user-agent'];
        await deps.doubleOptIn.signUp({
          email: checked.address,
          topic: b.topic,
          source: b.source ?? `form:${req.headers.origin ?? 'unknown'}`.slice(0, 500),
          ...(b.wording_id ? { wordingId: b.wording_id } : {}),
          ...(b.wording_version ? { wordingVersion: b.wording_version } : {}),
          ...(b.wording_hash ? { wordingHash: b.wording_hash } : {}),
          ...(b.locale ? { locale: b.locale } : {}),
          ip: req.ip,
          ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 500) } : {}),
          gpc: req.headers['sec-gpc'] === '1',
        });
        return reply.status(202).header('cache-control', NO_STORE).send({ status: 'confirmation_sent' });
      },
    );
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 4096 }, (_req, _body, done) =>
        done(null, undefined),
      );
      scope.get('/consent/confirm/:token', { schema: { tags, params: Token } }, async (req, reply) =>
        page(
          reply,
          'Confirm your subscription',
          confirmForm(req.url, 'Confirm your subscription', 'Press the button to confirm your subscription.'),
        ),
      );
      scope.post('/consent/confirm/:token', { schema: { tags, params: Token } }, async (req, reply) => {
        const ua = req.headers['user-agent'];
        const r = await deps.doubleOptIn.confirm((req.params as { token: string }).token, {
          ip: req.ip,
          ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 500) } : {}),
        });
        return page(reply, 'Subscribed', `<h1>Thank you</h1><p>You are subscribed to ${escapeHtml(r.topic)}.</p>`);
      });
      scope.get('/dsr/verify/:token', { schema: { tags, params: Token } }, async (req, reply) =>
        page(
          reply,
          'Confirm your privacy request',
          confirmForm(
            req.url,
            'Confirm your privacy request',
            'Press the button to confirm that you made this request.',
          ),
        ),
      );
      scope.post('/dsr/verify/:token', { schema: { tags, params: Token } }, async (req, reply) => {
        await deps.dsr.verifyIdentity((req.params as { token: string }).token);
        return page(reply, 'Request confirmed', '<h1>Thank you</h1><p>We are carrying out your request.</p>');
      });
      scope.get(
        '/dsr/bundle/:token',
        { schema: { tags, params: Token, querystring: Type.Object({ format: Type.Optional(Type.Literal('json')) }) } },
        async (req, reply) => {
          const b = await deps.dsr.openBundle((req.params as { token: string }).token);
          reply.header('cache-control', NO_STORE).header('referrer-policy', 'no-referrer');
          if ((req.query as { format?: string }).format === 'json')
            return reply.header('content-disposition', 'attachment; filename="your-data.json"').send(b.json);
          return reply
            .type('text/html; charset=utf-8')
            .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
            .send(b.html);
        },
      );
    });
  };
}
