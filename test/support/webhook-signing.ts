/**
 * Test-only signers for every webhook vendor, built on locally generated keys so verification
 * tests run offline: SendGrid ECDSA P-256, Mailgun HMAC, Postmark basic auth, and an SNS signer
 * with a self-signed CA and an sns.amazonaws.com leaf certificate (node-forge builds the X.509).
 */
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import forge from 'node-forge';
import { snsStringToSign } from '../../src/connectors/esp/ses/verify.ts';

export interface SendgridSigner {
  /** base64 DER SubjectPublicKeyInfo, as SendGrid's UI shows it. */
  publicKeyBase64: string;
  publicKeyPem: string;
  headers(body: string | Buffer, timestamp: number): Record<string, string>;
}

export function createSendgridSigner(): SendgridSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    headers(body, timestamp) {
      const ts = String(timestamp);
      const sig = cryptoSign('sha256', Buffer.concat([Buffer.from(ts), Buffer.from(body)]), privateKey).toString(
        'base64',
      );
      return {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-signature': sig,
        'x-twilio-email-event-webhook-timestamp': ts,
      };
    },
  };
}

/** Returns the Mailgun body with a fresh `signature` block for the given key and time. */
export function signMailgunBody(
  body: Record<string, unknown>,
  signingKey: string,
  timestamp: number,
  token = 'a'.repeat(50),
): Record<string, unknown> {
  const ts = String(timestamp);
  const signature = createHmac('sha256', signingKey)
    .update(ts + token)
    .digest('hex');
  return { ...body, signature: { timestamp: ts, token, signature } };
}

export function basicAuth(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

function makeCert(opts: {
  subjectCn: string;
  publicKeyPem: string;
  issuer?: { cn: string; keyPem: string };
  selfKeyPem: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  serial: string;
}): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem);
  cert.serialNumber = opts.serial;
  cert.validity.notBefore = opts.notBefore;
  cert.validity.notAfter = opts.notAfter;
  cert.setSubject([{ name: 'commonName', value: opts.subjectCn }]);
  cert.setIssuer([{ name: 'commonName', value: opts.issuer?.cn ?? opts.subjectCn }]);
  cert.setExtensions(
    opts.isCa
      ? [
          { name: 'basicConstraints', cA: true },
          { name: 'keyUsage', keyCertSign: true, digitalSignature: true },
        ]
      : [
          { name: 'basicConstraints', cA: false },
          { name: 'subjectAltName', altNames: [{ type: 2, value: opts.subjectCn }] },
        ],
  );
  cert.sign(forge.pki.privateKeyFromPem(opts.issuer?.keyPem ?? opts.selfKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

export interface SnsSigner {
  caPem: string;
  certPem: string;
  certUrl: string;
  topicArn: string;
  /** Signs an SNS message object (adds SignatureVersion, Signature, SigningCertURL). */
  sign(msg: Record<string, unknown>, version?: '1' | '2'): Record<string, unknown>;
  /** Headers SNS sends alongside a message. */
  headers(msg: Record<string, unknown>): Record<string, string>;
}

function rsaPair(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** A CA and an SNS signing certificate valid from 2026-01-01 for two years (cn is overridable). */
export function createSnsSigner(options: { cn?: string; notBefore?: Date; notAfter?: Date } = {}): SnsSigner {
  const ca = rsaPair();
  const leaf = rsaPair();
  const notBefore = options.notBefore ?? new Date('2026-01-01T00:00:00Z');
  const notAfter = options.notAfter ?? new Date('2028-01-01T00:00:00Z');
  const caPem = makeCert({
    subjectCn: 'Test SNS Root CA',
    publicKeyPem: ca.publicKey,
    selfKeyPem: ca.privateKey,
    notBefore,
    notAfter,
    isCa: true,
    serial: '01',
  });
  const certPem = makeCert({
    subjectCn: options.cn ?? 'sns.amazonaws.com',
    publicKeyPem: leaf.publicKey,
    selfKeyPem: leaf.privateKey,
    issuer: { cn: 'Test SNS Root CA', keyPem: ca.privateKey },
    notBefore,
    notAfter,
    isCa: false,
    serial: '02',
  });
  const certUrl = 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem';
  return {
    caPem,
    certPem,
    certUrl,
    topicArn: 'arn:aws:sns:eu-west-1:123456789012:ses-events',
    sign(msg, version = '2') {
      const withCert = { ...msg, SignatureVersion: version, SigningCertURL: certUrl };
      const signature = cryptoSign(
        version === '1' ? 'sha1' : 'sha256',
        Buffer.from(snsStringToSign(withCert)),
        leaf.privateKey,
      ).toString('base64');
      return { ...withCert, Signature: signature };
    },
    headers(msg) {
      return {
        'content-type': 'text/plain; charset=UTF-8',
        'x-amz-sns-message-type': String(msg['Type']),
        'x-amz-sns-message-id': String(msg['MessageId']),
        'x-amz-sns-topic-arn': String(msg['TopicArn']),
      };
    },
  };
}
