/**
 * The campaign side of rendering: what a campaign gives the renderer, and what the renderer
 * derives from it once per compiled template. Apart from render-message.ts so that compile.ts can
 * hold the prepared campaign without importing the renderer.
 */
import type { Address } from '../../connectors/esp/port.ts';
import type { TokenCodec } from '../../core/tracking-token.ts';
import type { TrackFn } from './liquid-engine.ts';

export interface RenderCampaign {
  id: string;
  name: string;
  from: Address;
  replyTo?: Address;
  subject?: string;
  /** Sender's physical postal address; required in every message (CAN-SPAM, CASL). */
  postalAddress: string;
  /** Mailbox for mailto unsubscribes, `unsub@example.com` or `mailto:unsub@example.com`. */
  listUnsubscribeMailto: string;
  /** e.g. `https://t.example.com` (no trailing slash needed). */
  trackingBaseUrl: string;
  /** Signing secrets, newest first (a single string is one secret). Never exposed to templates. */
  trackingSecret: string | readonly string[];
  returnPathDomain: string;
  messageIdDomain: string;
  sendingDomain: string;
}

/** What rendering needs that depends only on the campaign, built once per compiled template and
 *  campaign (the send stage builds a new RenderCampaign object per batch, so it is matched by the
 *  fields it was built from, not by identity). */
export interface PreparedCampaign {
  readonly source: Pick<
    RenderCampaign,
    | 'id'
    | 'name'
    | 'from'
    | 'postalAddress'
    | 'trackingBaseUrl'
    | 'trackingSecret'
    | 'listUnsubscribeMailto'
    | 'returnPathDomain'
    | 'messageIdDomain'
  >;
  readonly codec: TokenCodec;
  /** `<base>/t/c/`, `<base>/t/o/`, `<base>/t/u/` with the base URL's trailing slashes removed. */
  readonly clickPrefix: string;
  /** clickPrefix HTML-escaped (tokens are base64url: nothing in them needs escaping). */
  readonly escapedClickPrefix: string;
  readonly openPrefix: string;
  readonly unsubscribePrefix: string;
  /** `, <mailto:<address>?subject=unsubscribe-` (the List-Unsubscribe header's second part). */
  readonly mailtoPrefix: string;
  /** Static link slots: null, or the HTML-escaped `/<index>` suffix after the track token. */
  readonly staticSuffixes: readonly (string | null)[];
  /** The scope's `campaign` object (shared: templates cannot write to it). */
  readonly scopeCampaign: Readonly<Record<string, unknown>>;
  readonly senderName: string;
  readonly returnPath: (contactId: string) => string;
  /** `<linkIndex> <url>` → `/<linkIndex>/<link tag>` (after the track token). */
  readonly linkTags: Map<string, string>;
  /** The TrackFn for Liquid-built links: `<clickPrefix><track token><link tag suffix>`, for the
   *  message being rendered (renderMessage sets `trackPrefix`; rendering is synchronous). One
   *  function per campaign, not a closure per message. */
  readonly track: TrackFn;
  trackPrefix: string;
}
