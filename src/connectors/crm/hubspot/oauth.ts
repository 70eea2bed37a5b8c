/**
 * HubSpot access for an OAuth app (a public app installed in the account) instead of a private-app
 * token: access tokens come from POST /oauth/v1/token with the refresh token the installation gave,
 * are kept until five minutes before the expiry HubSpot states (its tokens live 30 minutes), and are
 * renewed once when HubSpot refuses one early (revoked, or expired on its clock). One renewal is in flight at a time,
 * shared by every concurrent call; each process keeps its own access token, as HubSpot allows.
 * Vendor shapes stay in this folder.
 */
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import { crmTokenRequest } from '../json-call.ts';

export interface HubspotOAuth {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

/** Where a HubSpot call gets its bearer token. */
export interface HubspotAccess {
  token(): Promise<string>;
  /** A new token after HubSpot refused `refused` (401); undefined when this access cannot renew. */
  renew?(refused: string): Promise<string>;
}

/** Renew this long before the expiry HubSpot stated, so a call never starts with a dying token. */
const RENEW_BEFORE_MS = 5 * 60_000;

export function staticHubspotAccess(token: string): HubspotAccess {
  return { token: async () => token };
}

export function oauthHubspotAccess(
  oauth: HubspotOAuth,
  deps: { baseUrl: string; clock: Clock; fetch?: typeof fetch; timeoutMs?: number },
): HubspotAccess {
  const doFetch = deps.fetch ?? fetch;
  const url = `${deps.baseUrl.replace(/\/+$/, '')}/oauth/v1/token`;
  let refreshToken = oauth.refreshToken;
  let held: { token: string; renewAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  async function exchange(): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: oauth.clientId,
      client_secret: oauth.clientSecret,
      refresh_token: refreshToken,
    });
    const { status, body } = await crmTokenRequest(doFetch, 'HubSpot OAuth', {
      url,
      form,
      timeoutMs: deps.timeoutMs ?? 30_000,
    });
    if (status === 429)
      throw new SwitchyardError('CRM_UNAVAILABLE', 'HubSpot OAuth token endpoint answered 429', {
        retryable: true,
        details: { status },
      });
    const accessToken = body.access_token;
    const expiresIn = body.expires_in;
    if (status !== 200 || typeof accessToken !== 'string' || accessToken === '' || typeof expiresIn !== 'number') {
      // HubSpot names the problem (BAD_REFRESH_TOKEN, BAD_CLIENT_ID, …); no secret is in what it says
      const reason = typeof body.status === 'string' ? body.status : `HTTP ${status}`;
      throw new SwitchyardError(
        'CRM_AUTH_FAILED',
        `HubSpot refused the OAuth refresh token or client credentials (${reason}): check `
          + 'SWITCHYARD_HUBSPOT_CLIENT_ID, SWITCHYARD_HUBSPOT_CLIENT_SECRET and SWITCHYARD_HUBSPOT_REFRESH_TOKEN',
        { details: { status, category: reason } },
      );
    }
    if (typeof body.refresh_token === 'string' && body.refresh_token !== '') refreshToken = body.refresh_token;
    held = {
      token: accessToken,
      renewAt: deps.clock.now().getTime() + Math.max(0, expiresIn * 1000 - RENEW_BEFORE_MS),
    };
    return accessToken;
  }

  function renewOnce(): Promise<string> {
    inFlight ??= exchange().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    async token() {
      if (held !== undefined && deps.clock.now().getTime() < held.renewAt) return held.token;
      return renewOnce();
    },
    async renew(refused) {
      // another call may have renewed it already: use that one rather than renewing again
      if (held !== undefined && held.token !== refused && deps.clock.now().getTime() < held.renewAt) return held.token;
      return renewOnce();
    },
  };
}
