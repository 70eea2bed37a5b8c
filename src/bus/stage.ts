/**
 * A stage is a named set of consumer groups that one worker process can run on its own
 * (`switchyard worker --stage <name>`), plus optional background loops (e.g. a dispatcher of
 * staged work). Services declare stages; app.ts turns them into running consumers.
 */
import type { ConsumerOptions, Handler } from './consumer.ts';

export interface StageConsumer {
  options: ConsumerOptions;
  // Handlers of different stages take different payloads; the runner does not look inside.
  handler: Handler<never>;
}

export interface StageDefinition {
  name: string;
  consumers: StageConsumer[];
  /** Long-running loops of the stage: started with it, stopped through the signal. */
  loops?: ((signal: AbortSignal) => Promise<void>)[];
}
