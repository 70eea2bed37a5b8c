/**
 * A real SMTP server (smtp-server) for tests: listens on 127.0.0.1, port 0, keeps every accepted
 * message (raw bytes + SMTP envelope), parses with mailparser only when asked, and can refuse
 * addresses, require AUTH, or answer the next transactions with a throttle (451 4.7.1) or a
 * temporary failure (451 4.3.0). Counting is cheap (`count()`, `waitFor(n)`) so pipeline tests can
 * push thousands of messages through it. It must never be reachable from outside the machine.
 */
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAddress } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { ParsedMail } from 'mailparser';
import type { AddressInfo } from 'node:net';

export interface SinkEnvelope {
  mailFrom: string;
  rcptTo: string[];
}

export interface SinkMessage {
  envelope: SinkEnvelope;
  /** The DATA bytes exactly as received (DKIM verifies over these). */
  raw: Buffer;
  /** Date.now() when the final dot arrived (rate measurements). */
  receivedAt: number;
  /** Parsed by mailparser on first call and cached. */
  parse(): Promise<ParsedMail>;
}

export interface SmtpSinkOptions {
  /** Addresses answered `550 5.1.1` at RCPT TO (case-insensitive). */
  refuse?: string[];
  /** AUTH PLAIN/LOGIN required; only this user/pass is accepted (535 5.7.8 otherwise). */
  authRequired?: { user: string; pass: string };
  /** Keep raw bytes of each message (default true); false keeps only the count. */
  keepMessages?: boolean;
}

export interface SmtpSink {
  port: number;
  host: string;
  /** Messages accepted so far, in arrival order. */
  messages(): readonly SinkMessage[];
  /** Parsed messages (mailparser), in arrival order. */
  parsed(): Promise<ParsedMail[]>;
  count(): number;
  /** Resolves once at least n messages have been accepted. */
  waitFor(n: number): Promise<void>;
  /** DATA bytes received so far, including those of transactions not yet ended by their final dot. */
  dataBytes(): number;
  /** Resolves once at least n DATA bytes have arrived (see dataBytes). */
  waitForDataBytes(n: number): Promise<void>;
  /** The next n transactions get `451 4.7.1` at MAIL FROM (a rate-limit deferral). */
  throttleNext(n: number): void;
  /** The next n transactions get `451 4.3.0` at MAIL FROM (temporary system problem). */
  failNext(n: number): void;
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const refused = new Set((options.refuse ?? []).map((a) => a.toLowerCase()));
  const keep = options.keepMessages ?? true;
  const stored: SinkMessage[] = [];
  let count = 0;
  let throttle = 0;
  let fail = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  let dataBytes = 0;
  let byteWaiters: { n: number; resolve: () => void }[] = [];
  const auth = options.authRequired;

  const server = new SMTPServer({
    disabledCommands: auth === undefined ? ['STARTTLS', 'AUTH'] : ['STARTTLS'],
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    logger: false,
    onAuth(a, _session, cb) {
      if (auth !== undefined && a.username === auth.user && a.password === auth.pass) {
        cb(null, { user: a.username });
      } else {
        cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
      }
    },
    onMailFrom(_address: SMTPServerAddress, _session, cb) {
      if (throttle > 0) {
        throttle--;
        return cb(smtpError(451, '4.7.1 Rate limited, try again later'));
      }
      if (fail > 0) {
        fail--;
        return cb(smtpError(451, '4.3.0 Temporary system problem'));
      }
      cb();
    },
    onRcptTo(address, _session, cb) {
      if (refused.has(address.address.toLowerCase())) {
        return cb(smtpError(550, '5.1.1 The email account that you tried to reach does not exist'));
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => {
        if (keep) chunks.push(c);
        dataBytes += c.length;
        const due = byteWaiters.filter((w) => w.n <= dataBytes);
        byteWaiters = byteWaiters.filter((w) => w.n > dataBytes);
        for (const w of due) w.resolve();
      });
      stream.on('end', () => {
        count++;
        if (keep) {
          const raw = Buffer.concat(chunks);
          let parsed: Promise<ParsedMail> | undefined;
          const mailFrom = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
          stored.push({
            envelope: { mailFrom, rcptTo: session.envelope.rcptTo.map((r) => r.address) },
            raw,
            receivedAt: Date.now(),
            parse: () => (parsed ??= simpleParser(raw)),
          });
        }
        const due = waiters.filter((w) => w.n <= count);
        waiters = waiters.filter((w) => w.n > count);
        for (const w of due) w.resolve();
        cb(null, `2.0.0 Ok: queued as Q${count}`);
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  // a client that dies mid-transaction (the chaos test SIGKILLs senders) resets its connection:
  // the unfinished message is discarded, as a real MTA does, and the sink keeps serving
  server.on('error', () => undefined);
  let closed: Promise<void> | undefined;

  return {
    port,
    host: '127.0.0.1',
    messages: () => stored,
    parsed: () => Promise.all(stored.map((m) => m.parse())),
    count: () => count,
    waitFor: (n) =>
      count >= n
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiters.push({ n, resolve });
          }),
    dataBytes: () => dataBytes,
    waitForDataBytes: (n) =>
      dataBytes >= n
        ? Promise.resolve()
        : new Promise((resolve) => {
            byteWaiters.push({ n, resolve });
          }),
    throttleNext(n) {
      throttle += n;
    },
    failNext(n) {
      fail += n;
    },
    close: () => (closed ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}
