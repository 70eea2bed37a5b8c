/**
 * `switchyard attribution paths --file F --model first|last|linear|markov [--no-null]`: attribution
 * over aggregated path data in the ChannelAttribution layout (docs/attribution.md). Reads the
 * file, runs one pure model (core/attribution) and prints one JSON object. Needs no server.
 * Exit codes: 0 ok, 2 unreadable or malformed file, unknown model.
 */
import type { Command } from 'commander';
import { isPathModel, PATH_MODELS, pathReport } from '../../core/attribution/path-report.ts';
import { PathFileError, parsePathFile } from '../../core/attribution/paths.ts';
import { CliError, EXIT } from '../errors.ts';
import { readTextFile } from '../files.ts';

export interface AttributionPathsOptions {
  file: string;
  model: string;
  /** commander's `--no-null` sets null: false */
  null: boolean;
}

/** The JSON text the command prints; throws CliError (exit 2) for bad input. */
export function runAttributionPaths(opts: AttributionPathsOptions): string {
  if (!isPathModel(opts.model)) {
    throw new CliError(
      `unknown model ${JSON.stringify(opts.model)}; valid models: ${PATH_MODELS.join(', ')}`,
      EXIT.usage,
    );
  }
  const text = readTextFile(opts.file, 'path file');
  let rows: ReturnType<typeof parsePathFile>;
  try {
    rows = parsePathFile(text);
  } catch (err) {
    if (err instanceof PathFileError) {
      throw new CliError(`${opts.file} is not a valid path file: ${err.message}`, EXIT.usage, { cause: err });
    }
    throw err;
  }
  return JSON.stringify(pathReport(rows, opts.model, { useNulls: opts.null }));
}

export function registerAttributionCommands(program: Command): void {
  const attribution = program.command('attribution').description('Revenue attribution');
  attribution
    .command('paths')
    .description(
      'Attribute aggregated paths (path;total_conversions;total_conversion_value;total_null, channels separated '
        + 'by ">") with one model and print one JSON object',
    )
    .requiredOption('--file <path>', 'the path file (";"-separated, optional header line)')
    .requiredOption('--model <model>', `one of ${PATH_MODELS.join(', ')}`)
    .option('--no-null', 'ignore the total_null column (markov: non-converting paths add nothing)')
    .action((opts: AttributionPathsOptions) => {
      process.stdout.write(`${runAttributionPaths(opts)}\n`);
    });
}
