/** What the scale bench and its send-worker processes share: the NATS environment and the latency-bound ESP. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Esp } from '../src/connectors/esp/port.ts';
import { BENCH_ENV, BENCH_GOVERNOR, type MakeEsp, silentSandbox } from './blast-setup.ts';

/** The blast bench's governor with receiving-domain rates lifted too: this bench measures the
 *  ESP's latency and the number of workers, not the governor's start rates. */
export const SCALE_GOVERNOR = { ...BENCH_GOVERNOR, receivingAimd: { initial: 1_000_000, ceiling: 1_000_000 } };

export function scaleEnv(natsUrl: string, prefix: string): Record<string, string> {
  return { ...BENCH_ENV, SWITCHYARD_BUS: 'nats', SWITCHYARD_NATS_URL: natsUrl, SWITCHYARD_NATS_PREFIX: prefix };
}

/** The silent sandbox, answering each batch request only after `latencyMs` (real time: the wait is the ESP's). */
export function latencyBoundSandbox(latencyMs: number): MakeEsp {
  return (deps) => {
    const esp: Esp = silentSandbox(deps);
    return {
      ...esp,
      sendBatch: async (messages, hooks) => {
        await sleep(latencyMs);
        return esp.sendBatch(messages, hooks);
      },
      send: async (msg) => {
        await sleep(latencyMs);
        return esp.send(msg);
      },
    };
  };
}
