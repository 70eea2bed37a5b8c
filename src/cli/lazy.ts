/**
 * Run from source, bin/switchyard.js loads the CLI's front (main.ts, the command definitions, help) through tsx's
 * in-thread require hook, which starts much faster than its ESM loader thread. The app and the
 * other heavy modules are ES modules loaded with import() when a command needs them; that needs
 * tsx's ESM hooks, registered here once, on first use.
 */
let ready: Promise<void> | undefined;

/** Set to true by scripts/build.mjs: in the bundle every module is plain JavaScript already. */
declare const SWITCHYARD_BUNDLE: boolean | undefined;

/** Whether the front was required through tsx's in-thread hook (not bundled, not an ES module). */
function requiredInThread(): boolean {
  return typeof SWITCHYARD_BUNDLE === 'undefined' && typeof require !== 'undefined';
}

function esmReady(): Promise<void> {
  ready ??= (async () => {
    // As an ES module (tests, `node --import tsx`) the hooks are there already; bundled, none are needed.
    if (!requiredInThread()) return;
    const { register } = await import('tsx/esm/api');
    register();
  })();
  return ready;
}

/** `load(() => import('../x.ts'))`: the import, once TypeScript ES modules can be imported. */
export async function load<T>(importer: () => Promise<T>): Promise<T> {
  await esmReady();
  return importer();
}

/**
 * A light module of the front's own commands (configuration, the key file): required in-thread
 * when the front was, so commands that only call the admin API never start the ESM hooks.
 * `specifier` is relative to src/cli/.
 */
export async function loadLight<T>(specifier: string, importer: () => Promise<T>): Promise<T> {
  if (requiredInThread()) return require(specifier) as T;
  return importer();
}
