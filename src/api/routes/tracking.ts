/**
 * Tracking endpoints: open pixel, click redirect, RFC 8058 one-click unsubscribe and the small
 * preference page. Thin: verify the signed token, classify machine hits (core/machine-detect),
 * hand an EngagementEvent to `record` or the unsubscribe to `unsubscribe` (the lead's services).
 * Never redirects anywhere but a signed URL or a static link of the campaign's own template (no
 * open redirect), never unsubscribes on GET (link scanners prefetch), always answers the pixel
 * with a GIF (mail clients show broken images).
 *
 * Token formats accepted (core/tracking-token.ts): the message's track/unsubscribe tokens
 * (`/t/o/<track>`, `/t/c/<track>/<linkIndex>`, `/t/u/<unsubscribe>`), Liquid-built links as the
 * track token plus a link tag signed per campaign (`/t/c/<track>/<linkIndex>/<link tag>`), and
 * the per-link tokens every email sent before them carries (`/t/c/<c-token>`, `/t/o/<o-token>`, ...).
 *
 * Dedup (sourceId): a retried HTTP request (client retry, proxy double fetch) must count once,
 * a real repeat open or click later must count again. So the sourceId is
 * `tracking:<o|c>:<ledgerId>[:<link>]:<minute>:<h|m>`: the same ledger row (and link) in the same
 * UTC minute is one event; `h`/`m` keeps a scanner's hit from swallowing a human's in that minute.
 * Unsubscribes are idempotent by ledgerId in the service, so repeats (RFC 8058 retries) are safe.
 *
 * Refusals: every refused request under /t is a 4xx with an error code (TRACKING_SIGNATURE_INVALID,
 * TRACKING_PREVIEW_TOKEN for links from a campaign preview, TRACKING_PAYLOAD_TOO_LARGE, NOT_FOUND),
 * except the open pixel, which is always a GIF and records nothing for a bad token.
 */
import { createHash } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import { isSwitchyardError, SwitchyardError } from '../../core/errors.ts';
import type { ErrorCode } from '../../core/errors.ts';
import type { EngagementEvent } from '../../core/events.ts';
import {
  classifyClick as defaultClassifyClick,
  classifyOpen as defaultClassifyOpen,
} from '../../core/machine-detect.ts';
import type { ClickSignals, MachineVerdict, OpenSignals } from '../../core/machine-detect.ts';
import { createTokenCodec, previewSecrets } from '../../core/tracking-token.ts';
import type { TokenKind, TokenPayload } from '../../core/tracking-token.ts';
import { staticLinkUrl } from '../../campaigns/render/links.ts';
import type { CompiledTemplate } from '../../campaigns/render/compile.ts';
import type { TopicUnsubscriber } from '../../reactions/unsubscribe.ts';
import { httpStatusFor } from '../http-status.ts';
import { escapeHtml, NO_STORE, page } from './tracking-pages.ts';

export type UnsubscribeSource = 'one_click' | 'preference_page' | 'mailto';

export interface TrackingDeps {
  /** Tracking secrets, newest first: the first signs (render), all verify (rotation). */
  secrets: readonly string[];
  clock: Clock;
  /** Ingests one event; deduplicates by sourceId. */
  record(event: EngagementEvent): Promise<void>;
  /** Suppresses the ledger row's contact now; idempotent (a repeat for a removed contact is fine). */
  unsubscribe(input: { ledgerId: string; source: UnsubscribeSource; at: Date }): Promise<void>;
  /** The campaign's compiled template, whose static links resolve `/t/c/<track>/<linkIndex>`.
   *  Rejects with NOT_FOUND for an unknown campaign. Templates never change once a campaign
   *  exists, so the links are kept here (bounded) after the first click. */
  template(campaignId: string): Promise<Pick<CompiledTemplate, 'links'>>;
  /** The preference page's per-topic choice (a campaign with a topic): leave that topic only. */
  topics?: Pick<TopicUnsubscriber, 'topicOf' | 'unsubscribe'>;
  classifyOpen?(signals: OpenSignals): MachineVerdict;
  classifyClick?(signals: ClickSignals): MachineVerdict;
}

/** The classic 43-byte transparent 1x1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const HTTP_URL = /^https?:\/\//i;
/** RFC 8058 one-click bodies are a few bytes; anything up to this is read and ignored, more is 413. */
const ONE_CLICK_BODY_LIMIT = 64 * 1024;

/** Wildcard, not `:token`: Fastify refuses params over 100 characters (414) and click tokens
 *  carry their URL. Tokens are base64url, so a `/` can only start the `/confirm` suffix or, under
 *  /t/c/, the link index (and after it, a link tag). */
interface RestParams {
  '*': string;
}
const CONFIRM_SUFFIX = '/confirm';
const TOPIC_SUFFIX = '/topic';
const LINK_INDEX = /^(0|[1-9][0-9]{0,6})$/;
/** Campaigns whose static links are kept in memory (a few strings each). */
const LINK_CACHE_ENTRIES = 1000;
const BAD_SIGNATURE =
  'the token signature did not verify (tampered, truncated, signed with an unknown key or made for another use)';
/** Sentinel reason: the token was signed by a preview (core/tracking-token.ts previewSecrets). */
const PREVIEW = 'the link comes from a campaign preview; previews never track clicks or opens, nor unsubscribe anyone';

function splitLedger(ledgerId: string): { campaignId: string; contactId: string } {
  const at = ledgerId.indexOf(':');
  return at === -1
    ? { campaignId: ledgerId, contactId: '' }
    : { campaignId: ledgerId.slice(0, at), contactId: ledgerId.slice(at + 1) };
}

function sourceIdFor(kind: 'o' | 'c', payload: TokenPayload, at: Date, isMachine: boolean): string {
  const minute = Math.floor(at.getTime() / 60_000);
  const link =
    kind === 'c'
      ? `:${
          payload.linkIndex
          ?? createHash('sha256')
            .update(payload.url ?? '')
            .digest('hex')
            .slice(0, 12)
        }`
      : '';
  return `tracking:${kind}:${payload.ledgerId}${link}:${minute}:${isMachine ? 'm' : 'h'}`;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Registers GET /t/o/<token>, GET|HEAD /t/c/<token>[/<linkIndex>[/<link tag>]], GET|POST /t/u/<token>
 * and POST /t/u/<token>/confirm.
 */
export async function registerTrackingRoutes(app: FastifyInstance, deps: TrackingDeps): Promise<void> {
  const codec = createTokenCodec(deps.secrets);
  const previewCodec = createTokenCodec(previewSecrets(deps.secrets));

  /** BAD_SIGNATURE, or PREVIEW when a preview signed the token: a distinct answer, so whoever
   *  tries a preview's links learns why they do not work. Costs HMACs only on refused tokens. */
  function badSignature(token: string): string {
    const isPreview =
      previewCodec.verifyMessage(token, 'track') !== null || previewCodec.verifyMessage(token, 'unsubscribe') !== null;
    return isPreview ? PREVIEW : BAD_SIGNATURE;
  }
  const classifyOpen = deps.classifyOpen ?? defaultClassifyOpen;
  const classifyClick = deps.classifyClick ?? defaultClassifyClick;

  /** Percent-encodes what a Location header cannot carry (spaces, non-Latin-1), as browsers do. */
  function destination(payload: TokenPayload, url: string | undefined): TokenPayload | string {
    if (url === undefined || !HTTP_URL.test(url)) return 'the click token carries no http(s) destination';
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'the click token destination is not a valid URL';
    }
    // Only ever redirect to http(s), whatever the URL parser made of the signed string.
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      return 'the click token carries no http(s) destination';
    payload.url = parsed.href;
    return payload;
  }

  /** The payload, or the reason a token of `kind` is refused. Takes message tokens (o, u) and
   *  per-link tokens (every kind). */
  function check(token: string, kind: TokenKind): TokenPayload | string {
    if (kind !== 'c') {
      const message = codec.verifyMessage(token, kind === 'u' ? 'unsubscribe' : 'track');
      if (message !== null) return { kind, ...message };
    }
    const payload = codec.verify(token);
    if (payload === null) {
      if (kind === 'c' && codec.verifyMessage(token, 'track') !== null)
        return 'a message token needs a link index: /t/c/<token>/<index>';
      return badSignature(token);
    }
    if (payload.kind !== kind) return `the token is a '${payload.kind}' token, not a '${kind}' token`;
    return kind === 'c' ? destination(payload, payload.url) : payload;
  }

  const linkCache = new Map<string, Promise<Pick<CompiledTemplate, 'links'>>>();
  function templateOf(campaignId: string): Promise<Pick<CompiledTemplate, 'links'>> {
    let hit = linkCache.get(campaignId);
    if (hit === undefined) {
      hit = deps.template(campaignId).then((t) => ({ links: t.links }));
      hit.catch(() => linkCache.delete(campaignId));
      linkCache.set(campaignId, hit);
      if (linkCache.size > LINK_CACHE_ENTRIES) linkCache.delete(linkCache.keys().next().value as string);
    }
    return hit;
  }

  /** `/t/c/<track>/<linkIndex>[/<link tag>]`: with a tag, the URL the tag signed for that link of
   *  the track token's campaign; without, the static link `linkIndex` of the token's campaign; or
   *  the reason it is refused. Without a tag the index is not signed: any index only reaches that
   *  template's own links. */
  async function checkMessageClick(token: string, rest: string): Promise<TokenPayload | string> {
    const message = codec.verifyMessage(token, 'track');
    if (message === null) {
      const other = codec.verify(token);
      return other === null
        ? badSignature(token)
        : `the token is a '${other.kind}' token; only a message token takes a link index`;
    }
    const slash = rest.indexOf('/');
    const indexText = slash === -1 ? rest : rest.slice(0, slash);
    if (!LINK_INDEX.test(indexText)) return 'the link index is not a non-negative integer';
    const linkIndex = Number(indexText);
    const { campaignId } = splitLedger(message.ledgerId);
    if (slash !== -1) {
      // The tag is checked against the track token's campaign: a tag made for another campaign
      // (or another link index) does not verify here.
      const url = codec.verifyLink(rest.slice(slash + 1), campaignId, linkIndex);
      if (url === null)
        return (
          `the link tag did not verify for link ${linkIndex} of campaign ${campaignId} (tampered, or made `
          + `for another campaign or link)`
        );
      return destination({ kind: 'c', ...message, linkIndex }, url);
    }
    let template: Pick<CompiledTemplate, 'links'>;
    try {
      template = await templateOf(campaignId);
    } catch (err) {
      if (isSwitchyardError(err) && err.code === 'NOT_FOUND') return `campaign ${campaignId} does not exist`;
      throw err;
    }
    const url = staticLinkUrl(template.links, linkIndex);
    if (url === null) return `link ${linkIndex} is not a static link of campaign ${campaignId}'s template`;
    return destination({ kind: 'c', ...message, linkIndex }, url);
  }

  function refuse(reason: string, token: string): never {
    const code: ErrorCode = reason === PREVIEW ? 'TRACKING_PREVIEW_TOKEN' : 'TRACKING_SIGNATURE_INVALID';
    throw new SwitchyardError(code, `tracking link refused: ${reason}`, { details: { tokenLength: token.length } });
  }

  function secondsSince(payload: TokenPayload, at: Date): number | undefined {
    return payload.sentAt === undefined ? undefined : Math.floor(at.getTime() / 1000) - payload.sentAt;
  }

  function baseEvent(
    type: 'opened' | 'clicked',
    payload: TokenPayload,
    at: Date,
    verdict: MachineVerdict,
    request: FastifyRequest,
  ): EngagementEvent {
    const ua = header(request, 'user-agent');
    const event: EngagementEvent = {
      type,
      sourceId: sourceIdFor(type === 'opened' ? 'o' : 'c', payload, at, verdict.isMachine),
      provider: 'tracking',
      occurredAt: at,
      ledgerId: payload.ledgerId,
      ...splitLedger(payload.ledgerId),
      isMachine: verdict.isMachine,
      ip: request.ip,
      raw: {
        method: request.method,
        machineReasons: verdict.reasons,
        linkIndex: payload.linkIndex,
        sentAt: payload.sentAt,
      },
    };
    if (ua !== undefined) event.userAgent = ua;
    return event;
  }

  await app.register(
    async (scope) => {
      // RFC 8058 asks for `List-Unsubscribe=One-Click` form-encoded, but mailbox providers and
      // proxies send every content type (or none), and the token, not the body, is the credential:
      // so any body up to the limit is read and dropped. Scoped to /t, so other routes keep their
      // parsers and limits.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ONE_CLICK_BODY_LIMIT }, (_req, _body, done) =>
        done(null, undefined),
      );
      // Even a malformed Content-Type (Fastify answers 415 before any parser) must not block it.
      scope.addHook('onRequest', async (request) => {
        if (request.headers['content-type'] !== undefined) request.headers['content-type'] = 'application/octet-stream';
      });

      // Every refusal on a tracking URL is a 4xx with a code; only our own failures are 5xx.
      scope.setErrorHandler((err: FastifyError, request, reply) => {
        if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          return reply.status(httpStatusFor('TRACKING_PAYLOAD_TOO_LARGE')).send({
            error: 'TRACKING_PAYLOAD_TOO_LARGE',
            message: `request body exceeds ${ONE_CLICK_BODY_LIMIT} bytes`,
          });
        }
        if (isSwitchyardError(err)) {
          const status = httpStatusFor(err.code);
          if (status >= 500) request.log.error({ err }, 'tracking request failed');
          return reply
            .status(status)
            .send({ error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) });
        }
        if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
          return reply
            .status(err.statusCode)
            .send({ error: 'VALIDATION_FAILED', message: 'malformed tracking request' });
        }
        request.log.error({ err }, 'tracking request failed');
        return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
      });
      scope.setNotFoundHandler((_request, reply) =>
        reply.status(404).send({ error: 'NOT_FOUND', message: 'no tracking URL here' }),
      );

      scope.get<{ Params: RestParams }>('/o/*', { schema: { hide: true } }, async (request, reply) => {
        const at = deps.clock.now();
        const payload = check(request.params['*'], 'o');
        if (typeof payload === 'string') {
          request.log.info({ reason: payload }, 'open pixel token refused; nothing recorded');
        } else {
          const verdict = classifyOpen({
            userAgent: header(request, 'user-agent'),
            ip: request.ip,
            secondsSinceSend: secondsSince(payload, at),
          });
          try {
            await deps.record(baseEvent('opened', payload, at, verdict, request));
          } catch (err) {
            // The image must still load; the failure is logged where it is handled.
            request.log.error({ err, ledgerId: payload.ledgerId }, 'recording an open failed');
          }
        }
        return reply
          .status(200)
          .header('cache-control', NO_STORE)
          .header('pragma', 'no-cache')
          .header('expires', '0')
          .type('image/gif')
          .send(PIXEL);
      });

      scope.get<{ Params: RestParams }>('/c/*', { schema: { hide: true } }, async (request, reply) => {
        const at = deps.clock.now();
        const rest = request.params['*'];
        const slash = rest.indexOf('/');
        const payload =
          slash === -1 ? check(rest, 'c') : await checkMessageClick(rest.slice(0, slash), rest.slice(slash + 1));
        if (typeof payload === 'string') refuse(payload, rest);
        const verdict = classifyClick({
          userAgent: header(request, 'user-agent'),
          ip: request.ip,
          method: request.method,
          secondsSinceSend: secondsSince(payload, at),
        });
        try {
          await deps.record({ ...baseEvent('clicked', payload, at, verdict, request), url: payload.url as string });
        } catch (err) {
          // Never strand a reader on a failed insert: log it and send them on.
          request.log.error({ err, ledgerId: payload.ledgerId }, 'recording a click failed');
        }
        return reply
          .status(302)
          .header('cache-control', NO_STORE)
          .header('referrer-policy', 'no-referrer')
          .header('location', payload.url as string)
          .send();
      });

      scope.post<{ Params: RestParams }>('/u/*', { schema: { hide: true } }, async (request, reply) => {
        const rest = request.params['*'];
        if (rest.endsWith(TOPIC_SUFFIX) && deps.topics !== undefined) {
          const payload = check(rest.slice(0, -TOPIC_SUFFIX.length), 'u');
          if (typeof payload === 'string') refuse(payload, rest);
          const ua = header(request, 'user-agent');
          const topic = await deps.topics.unsubscribe({
            ledgerId: payload.ledgerId,
            ip: request.ip,
            ...(ua === undefined ? {} : { userAgent: ua }),
          });
          return page(
            reply,
            'Preferences saved',
            topic === null
              ? '<h1 style="font-size:1.4rem">Nothing to change</h1><p>This message has no topic to leave.</p>'
              : '<h1 style="font-size:1.4rem">Preferences saved</h1>'
                  + `<p>You will not receive ${escapeHtml(topic)} emails any more.</p>`,
          );
        }
        const isConfirm = rest.endsWith(CONFIRM_SUFFIX);
        const token = isConfirm ? rest.slice(0, -CONFIRM_SUFFIX.length) : rest;
        const payload = check(token, 'u');
        if (typeof payload === 'string') refuse(payload, token);
        if (isConfirm) {
          await deps.unsubscribe({ ledgerId: payload.ledgerId, source: 'preference_page', at: deps.clock.now() });
          return page(
            reply,
            'Unsubscribed',
            '<h1 style="font-size:1.4rem">You are unsubscribed</h1>'
              + '<p>You will not receive these emails any more.</p>',
          );
        }
        await deps.unsubscribe({ ledgerId: payload.ledgerId, source: 'one_click', at: deps.clock.now() });
        // RFC 8058 §3.1: answer directly with 200, never a redirect.
        return reply
          .status(200)
          .header('cache-control', NO_STORE)
          .type('text/plain; charset=utf-8')
          .send('unsubscribed\n');
      });

      scope.get<{ Params: RestParams }>('/u/*', { schema: { hide: true } }, async (request, reply) => {
        const rest = request.params['*'];
        const onConfirmPath = rest.endsWith(CONFIRM_SUFFIX);
        const token = onConfirmPath ? rest.slice(0, -CONFIRM_SUFFIX.length) : rest;
        const payload = check(token, 'u');
        if (typeof payload === 'string') refuse(payload, token);
        // GET never unsubscribes: scanners fetch every link. The button POSTs to the confirm URL,
        // relative so it works behind any path prefix.
        const action = onConfirmPath ? 'confirm' : `${escapeHtml(token)}/confirm`;
        // a message of a topic also offers leaving that topic only (the preference centre)
        const topic = deps.topics === undefined ? null : await deps.topics.topicOf(payload.ledgerId);
        if (topic !== null) {
          const leave = onConfirmPath ? 'topic' : `${escapeHtml(token)}/topic`;
          return page(
            reply,
            'Email preferences',
            '<h1 style="font-size:1.4rem">Email preferences</h1>'
              + `<form method="post" action="${leave}"><p>Stop only ${escapeHtml(topic)} emails.</p>`
              + `<button type="submit" style="font-size:1rem;padding:.6rem 1.2rem">Leave ${escapeHtml(topic)}</button>`
              + `</form><form method="post" action="${action}"><p>Stop every marketing email.</p>`
              + '<button type="submit" style="font-size:1rem;padding:.6rem 1.2rem">Unsubscribe from all</button>'
              + '</form>',
          );
        }
        return page(
          reply,
          'Unsubscribe',
          '<h1 style="font-size:1.4rem">Unsubscribe</h1>'
            + '<p>Do you want to stop receiving these emails?</p>'
            + `<form method="post" action="${action}"><input type="hidden" name="confirm" value="yes">`
            + '<button type="submit" style="font-size:1rem;padding:.6rem 1.2rem">Unsubscribe</button></form>',
        );
      });
    },
    { prefix: '/t' },
  );
}
