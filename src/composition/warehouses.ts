/**
 * Opens an audience's warehouse by source: the demo warehouse (only with the demo workspace on),
 * a CSV file under the allowed directories, or the configured PostgreSQL warehouse; and the
 * warehouse profile feed's source.
 */
import type { Audience } from '../campaigns/types.ts';
import type { Config } from '../config.ts';
import { createCsvWarehouse } from '../connectors/warehouse/csv/adapter.ts';
import { resolveCsvDirs } from '../connectors/warehouse/csv/allowed-path.ts';
import { createDemoWarehouse } from '../connectors/warehouse/demo/adapter.ts';
import { createPostgresWarehouse } from '../connectors/warehouse/postgres/adapter.ts';
import { createPostgresProfileFeed } from '../connectors/warehouse/postgres/feed.ts';
import type { ProfileFeedSource } from '../connectors/warehouse/feed-port.ts';
import type { Warehouse } from '../connectors/warehouse/port.ts';
import { SwitchyardError } from '../core/errors.ts';

export function warehouseOpener(
  config: Pick<Config, 'dataDir' | 'demo' | 'csv' | 'warehouse'>,
  openList?: (listId: string) => Warehouse,
): (audience: Audience) => Warehouse {
  // refused at start when a directory would expose the data directory or the system
  const csvDirs = resolveCsvDirs(config.csv.dirs, config.dataDir).dirs;
  const { url, statementTimeoutMs, lockTimeoutMs } = config.warehouse;
  return (audience) => {
    switch (audience.source) {
      case 'list':
        if (openList === undefined) throw new SwitchyardError('CAMPAIGN_INVALID', 'list audiences need the store');
        return openList(audience.list);
      case 'demo':
        // refused at create and validate (both open the source), so the answer is a 400 naming the key
        if (!config.demo.enabled)
          throw new SwitchyardError('CAMPAIGN_INVALID', 'audience source "demo" is off: SWITCHYARD_DEMO is false');
        return createDemoWarehouse({ size: audience.size ?? config.demo.size, seed: audience.seed });
      case 'csv':
        return createCsvWarehouse({
          path: audience.path,
          allowedDirs: csvDirs,
          mapping: audience.mapping,
          ...(audience.delimiter ? { delimiter: audience.delimiter } : {}),
        });
      case 'postgres':
        if (url === undefined)
          throw new SwitchyardError('CAMPAIGN_INVALID', 'audience source "postgres" needs SWITCHYARD_WAREHOUSE_URL');
        return createPostgresWarehouse({
          url,
          mapping: audience.mapping,
          orderBy: audience.orderBy,
          statementTimeoutMs,
          lockTimeoutMs,
        });
    }
  };
}

/** The configured warehouse profile feed's source (SWITCHYARD_PROFILE_FEED), or undefined when none. */
export function profileFeedSource(config: Pick<Config, 'profiles' | 'warehouse'>): ProfileFeedSource | undefined {
  const feed = config.profiles.feed;
  const { url, statementTimeoutMs, lockTimeoutMs } = config.warehouse;
  // loadConfig refuses a feed without a warehouse URL
  if (feed === undefined || url === undefined) return undefined;
  return createPostgresProfileFeed({ url, spec: feed.spec, statementTimeoutMs, lockTimeoutMs });
}
