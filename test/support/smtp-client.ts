/**
 * A raw SMTP client for listener tests: writes commands as given (pipelined if you like) and
 * reads replies one at a time, so a test can send what nodemailer never would (10 000 RCPTs,
 * connections left open) and see each reply code.
 */
import { connect, type Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  text: string;
}

export interface RawSmtpClient {
  /** Writes one command line (CRLF added). */
  send(line: string): void;
  /** Writes bytes as they are (a DATA body). */
  write(data: Buffer | string): void;
  /** The next complete reply (multi-line replies joined). Rejects if the server closes first. */
  reply(): Promise<SmtpReply>;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

export async function connectSmtp(port: number, host = '127.0.0.1'): Promise<RawSmtpClient> {
  const socket: Socket = connect({ port, host });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  let buffer = '';
  const replies: SmtpReply[] = [];
  const waiting: Array<{ resolve: (r: SmtpReply) => void; reject: (e: Error) => void }> = [];
  let isClosed = false;
  let pending: string[] = [];
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      for (const w of waiting.splice(0)) w.reject(new Error('connection closed'));
      resolve();
    }),
  );
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let nl = buffer.indexOf('\r\n'); nl >= 0; nl = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 2);
      pending.push(line.slice(4));
      if (line[3] === '-') continue;
      const r = { code: Number(line.slice(0, 3)), text: pending.join('\n') };
      pending = [];
      const w = waiting.shift();
      if (w === undefined) replies.push(r);
      else w.resolve(r);
    }
  });
  return {
    send: (line) => {
      socket.write(`${line}\r\n`);
    },
    write: (data) => {
      socket.write(data);
    },
    reply: () => {
      const r = replies.shift();
      if (r !== undefined) return Promise.resolve(r);
      if (isClosed) return Promise.reject(new Error('connection closed'));
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    closed,
    close: () => {
      socket.destroy();
    },
  };
}

/** Connects, reads the greeting and says EHLO; returns the client and the greeting. */
export async function openSession(port: number): Promise<{ client: RawSmtpClient; greeting: SmtpReply }> {
  const client = await connectSmtp(port);
  const greeting = await client.reply();
  if (greeting.code === 220) {
    client.send('EHLO test.example');
    await client.reply();
  }
  return { client, greeting };
}
