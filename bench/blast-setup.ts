/** Settings shared by the blast bench and its send-worker processes. */

/** The governor's per-ESP account limit defaults to 1000/s; the bench measures the pipeline, so lift it. */
export const BENCH_ENV = { SWITCHYARD_TRACKING_SECRET: 'bench', LOG_LEVEL: 'silent', SWITCHYARD_WORKER_CONCURRENCY: '4', SWITCHYARD_ESP_RATE_PER_SEC: '1000000' };

/** Sandbox ESP with its simulated reactions off, so it keeps no per-message state. */
export const SILENT_SANDBOX = { outboxLimit: 1000, rates: { delivered: 0, bounce: 0, open: 0, click: 0, unsubscribe: 0, complaint: 0 } };
