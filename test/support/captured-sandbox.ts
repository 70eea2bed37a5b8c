import type { AppOptions } from '../../src/app.ts';
import { createSandboxEsp, type SandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';

/**
 * The sandbox ESP an app under test sends through, simulating no reactions (its events go
 * nowhere): `esp.outbox()` is what the app sent. Pass `factory` as createApp's `esp` option.
 */
export function capturedSandbox(): { factory: NonNullable<AppOptions['esp']>; readonly esp: SandboxEsp } {
  let esp: SandboxEsp | undefined;
  return {
    factory: (d) => {
      esp = createSandboxEsp({ clock: d.clock, emit: async () => {} });
      return esp;
    },
    get esp() {
      if (esp === undefined) throw new Error('the app was not created with this sandbox');
      return esp;
    },
  };
}
