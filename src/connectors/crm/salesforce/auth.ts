/**
 * Salesforce OAuth 2.0 access tokens for a server-to-server integration: the client-credentials
 * flow (the connected app runs as its configured "run as" user) or the JWT bearer flow (an RS256
 * assertion signed with the connected app's private key, for a named user). Both POST a form to
 * `<login URL>/services/oauth2/token`; the answer carries the token and the org's instance URL.
 * No refresh token is involved: a new token is simply requested again.
 */
import { createSign } from 'node:crypto';
import { SwitchyardError } from '../../../core/errors.ts';
import { crmTokenRequest } from '../json-call.ts';

export type SalesforceCredentials =
  | { flow: 'client-credentials'; clientId: string; clientSecret: string }
  | { flow: 'jwt-bearer'; clientId: string; username: string; privateKeyPem: string };

export interface SalesforceToken {
  accessToken: string;
  instanceUrl: string;
}

/** Lifetime of a JWT assertion; Salesforce accepts at most three minutes. */
const ASSERTION_TTL_S = 180;

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The signed assertion of the JWT bearer flow (iss = consumer key, sub = username, aud = login URL). */
export function jwtAssertion(
  creds: { clientId: string; username: string; privateKeyPem: string },
  audience: string,
  now: Date,
): string {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = base64url(
    JSON.stringify({
      iss: creds.clientId,
      sub: creds.username,
      aud: audience,
      exp: Math.floor(now.getTime() / 1000) + ASSERTION_TTL_S,
    }),
  );
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${claims}`);
  return `${header}.${claims}.${signer.sign(creds.privateKeyPem).toString('base64url')}`;
}

export async function requestToken(
  options: { loginUrl: string; credentials: SalesforceCredentials; fetch: typeof fetch; timeoutMs: number },
  now: Date,
): Promise<SalesforceToken> {
  const { loginUrl, credentials } = options;
  const form = new URLSearchParams();
  if (credentials.flow === 'client-credentials') {
    form.set('grant_type', 'client_credentials');
    form.set('client_id', credentials.clientId);
    form.set('client_secret', credentials.clientSecret);
  } else {
    form.set('grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    form.set('assertion', jwtAssertion(credentials, loginUrl, now));
  }
  const { status, body, text } = await crmTokenRequest(options.fetch, 'Salesforce', {
    url: `${loginUrl}/services/oauth2/token`,
    form,
    timeoutMs: options.timeoutMs,
  });
  if (status !== 200 || typeof body.access_token !== 'string' || typeof body.instance_url !== 'string') {
    const why = typeof body.error_description === 'string' ? body.error_description : text.slice(0, 200);
    throw new SwitchyardError('CRM_AUTH_FAILED', `Salesforce refused the ${credentials.flow} grant: ${why}`, {
      details: { status, error: typeof body.error === 'string' ? body.error : undefined },
    });
  }
  return { accessToken: body.access_token, instanceUrl: body.instance_url.replace(/\/+$/, '') };
}
