/**
 * Reachability of the NATS server for the NATS bus suites (NATS_URL, else 127.0.0.1:4222): a
 * suite whose server is missing skips with the reason; with SWITCHYARD_REQUIRE_SERVICES=1 it
 * fails instead.
 */
import { connect } from '@nats-io/transport-node';
import { servicesRequired } from './databases.ts';

export const NATS_TEST_URL = process.env.NATS_URL ?? '127.0.0.1:4222';

/** Resolves to null when a JetStream-enabled server answers, or the reason it does not. */
export async function natsUnreachable(url: string = NATS_TEST_URL): Promise<string | null> {
  let reason: string | null = null;
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
    try {
      await nc.request('$JS.API.INFO', '', { timeout: 2000 });
    } catch (err) {
      reason = `NATS at ${url} has no JetStream: ${(err as Error).message}`;
    } finally {
      await nc.close();
    }
  } catch (err) {
    reason = `NATS unreachable at ${url}: ${(err as Error).message}`;
  }
  if (reason !== null && servicesRequired) throw new Error(`${reason} (SWITCHYARD_REQUIRE_SERVICES=1)`);
  return reason;
}

/**
 * Whether a NATS server with JetStream answers at url now. Never throws, whatever
 * SWITCHYARD_REQUIRE_SERVICES says: for waiting on a server a test starts itself.
 */
export async function natsAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
    try {
      await nc.request('$JS.API.INFO', '', { timeout: 2000 });
      return true;
    } catch {
      return false;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}
