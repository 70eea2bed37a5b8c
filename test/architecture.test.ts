// The layer rules of docs/architecture.md, checked over the import graph of src/ so that a
// forbidden import fails the suite with the file and the rule it breaks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { TOPIC_NAMES } from '../src/bus/topics.ts';

const SRC = resolve('src');

// Libraries src/core may use, each with why it is pure: functions over values, no I/O, clock or
// randomness of their own.
const CORE_PURE_LIBRARIES: Record<string, string> = {
  'html-to-text': 'turns an HTML part into plain text for reply trimming; string in, string out',
};

// Files that choose and build adapters. app.ts is the root; the helpers under src/composition/
// are parts of it kept in their own files.
const COMPOSITION = new Set(['src/app.ts']);
for (const f of existsSync(join(SRC, 'composition')) ? readdirSync(join(SRC, 'composition')) : []) {
  COMPOSITION.add(`src/composition/${f}`);
}

// Connector files outside a vendor folder that are not a port: helpers shared by the vendor adapters.
const CONNECTOR_HELPERS = 'connectors (shared adapter helpers)';

// Concrete implementations of a port and what they share; only the composition root names them.
function adapterOf(file: string): string | undefined {
  const p = rel(file);
  const m =
    /^src\/(store\/(?:pglite|postgres))\//.exec(p)
    ?? /^src\/(bus\/postgres-log)\//.exec(p)
    ?? /^src\/(clock\/(?:system|manual))\.ts$/.exec(p)
    ?? /^src\/(connectors\/[^/]+\/[^/]+)\//.exec(p);
  if (m) return m[1];
  if (p.startsWith('src/connectors/') && !/(^|\/|-)port\.ts$/.test(p)) return CONNECTOR_HELPERS;
  return undefined;
}

// Top-level folders that are not services: layers, ports and adapters.
const NOT_SERVICES = new Set(['core', 'api', 'cli', 'connectors', 'store', 'bus', 'clock', 'observability']);

interface Edge {
  from: string;
  to: string;
  spec: string;
  line: number;
  typeOnly: boolean;
  names: string[];
}
type Spec = Omit<Edge, 'from' | 'to'>;

function rel(file: string): string {
  return relative(resolve('.'), file).split('\\').join('/');
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// Every module specifier in a file: static imports and re-exports (type-only included),
// `import x = require()`, dynamic `import()` and `import('…').T` type references.
function specifiers(file: string): Spec[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Spec[] = [];
  const add = (lit: ts.Node, typeOnly: boolean, names: string[] = []) => {
    if (!ts.isStringLiteralLike(lit)) return;
    out.push({ spec: lit.text, line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1, typeOnly, names });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n)) {
      const bindings = n.importClause?.namedBindings;
      const named = bindings !== undefined && ts.isNamedImports(bindings) ? bindings.elements : [];
      const names = named.map((b) => (b.propertyName ?? b.name).text);
      const allTypes = n.importClause?.name === undefined && named.length > 0 && named.every((b) => b.isTypeOnly);
      add(n.moduleSpecifier, (n.importClause?.isTypeOnly ?? false) || allTypes, names);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier) {
      const named = n.exportClause !== undefined && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : [];
      add(
        n.moduleSpecifier,
        n.isTypeOnly,
        named.map((b) => (b.propertyName ?? b.name).text),
      );
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      add(n.moduleReference.expression, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0]) {
      add(n.arguments[0], false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) add(n.argument.literal, true);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function graph(): { files: string[]; edges: Edge[]; external: Edge[] } {
  const files = walk(SRC).filter((f) => !f.endsWith('.d.ts'));
  const edges: Edge[] = [];
  const external: Edge[] = [];
  for (const from of files) {
    for (const s of specifiers(from)) {
      if (s.spec.startsWith('.')) {
        edges.push({ from, to: resolve(dirname(from), s.spec.replace(/\.js$/, '.ts')), ...s });
      } else external.push({ from, to: s.spec, ...s });
    }
  }
  return { files, edges, external };
}

const g = graph();
const APP = join(SRC, 'app.ts');
const where = (e: Edge) => `${rel(e.from)}:${e.line} imports '${e.spec}'${e.typeOnly ? ' (type-only)' : ''}`;
const top = (file: string): string => rel(file).split('/')[1] ?? '';
const packageName = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * Violations still in the tree, each with why it is still there. A listed violation does not
 * fail its rule; an entry that no longer matches anything fails, so the list only shrinks.
 * Keys: `<rule>: <importer> -> <imported>`, or `cycle: <files of the cycle, sorted>`.
 */
const ALLOWED: Record<string, string> = {};

interface Violation {
  key: string;
  message: string;
}

function check(found: Violation[]): void {
  const bad = found.filter((v) => !(v.key in ALLOWED)).map((v) => v.message);
  assert.deepEqual(bad, [], `\n${bad.join('\n')}\n`);
}

const edgeViolation = (rule: string, e: Edge, why: string): Violation => ({
  key: `${rule}: ${rel(e.from)} -> ${rel(e.to)}`,
  message: `${where(e)}: ${why}`,
});

function coreViolations(): Violation[] {
  const inCore = (f: string) => rel(f).startsWith('src/core/');
  return [
    ...g.edges
      .filter((e) => inCore(e.from) && !inCore(e.to))
      .map((e) => edgeViolation('core', e, `core may not import ${rel(e.to)} (outside src/core)`)),
    ...g.external
      .filter((e) => inCore(e.from) && !e.spec.startsWith('node:') && !(packageName(e.spec) in CORE_PURE_LIBRARIES))
      .map((e) =>
        edgeViolation(
          'core',
          e,
          `core may not import the package '${packageName(e.spec)}' (not in CORE_PURE_LIBRARIES)`,
        ),
      ),
  ];
}

function adapterViolations(): Violation[] {
  const composition = (f: string) => f === APP || COMPOSITION.has(rel(f));
  return [
    ...g.edges
      .filter((e) => {
        const target = adapterOf(e.to);
        if (target === undefined || composition(e.from)) return false;
        const from = adapterOf(e.from);
        // Files of one adapter import each other; any connector may use the shared connector helpers.
        return from !== target && !(target === CONNECTOR_HELPERS && rel(e.from).startsWith('src/connectors/'));
      })
      .map((e) =>
        edgeViolation(
          'adapter',
          e,
          `only the composition root (src/app.ts) may import the adapter ${adapterOf(e.to)} (${rel(e.to)})`,
        ),
      ),
    ...g.edges
      .filter((e) => composition(e.to) && !composition(e.from) && e.from !== join(SRC, 'cli', 'main.ts'))
      .map((e) =>
        edgeViolation(
          'composition',
          e,
          `only src/cli/main.ts may import the composition root ${rel(e.to)}; hand what is needed in instead`,
        ),
      ),
  ];
}

// A service's SQL files: its queries.ts, and the campaign service's send ledger (its state machine's statements).
const PRIVATE_SQL = /\/(queries|send-ledger)\.ts$/;

function queriesViolations(): Violation[] {
  return g.edges
    .filter((e) => {
      if (!PRIVATE_SQL.test(e.to) || adapterOf(e.to) !== undefined) return false;
      if (NOT_SERVICES.has(top(e.to)) || e.from === APP) return false;
      return top(e.from) !== top(e.to);
    })
    .map((e) => edgeViolation('queries', e, `${rel(e.to)} is private to src/${top(e.to)}; call that service instead`));
}

// A topic is a contract between services, so its name comes from the catalogue in src/bus/topics.ts
// (or from the service's own folder), never from another service's module.
function topicViolations(): Violation[] {
  const namesTopic = (e: Edge) => e.names.some((n) => /(^|_)TOPICS?$/.test(n));
  return g.edges
    .filter((e) => namesTopic(e) && top(e.from) !== top(e.to) && rel(e.to) !== 'src/bus/topics.ts' && e.from !== APP)
    .map((e) =>
      edgeViolation('topic', e, `takes a topic name from ${rel(e.to)}; cross-service topics live in src/bus/topics.ts`),
    );
}

// Where a topic name is written, it is the catalogue's: no src file outside src/bus/topics.ts spells
// a catalogued name (or the start of one, like `blast.ready.${p}`), and no publish, outbox write,
// consumer or wait names its topic with a string, so a new topic cannot skip the catalogue.
const CATALOGUE = join(SRC, 'bus', 'topics.ts');
const TOPIC_ARGUMENT: Record<string, number> = { publish: 0, publishTo: 1, addToOutbox: 1, waitForMessages: 0 };

function topicLiteralViolations(): Violation[] {
  const found: Violation[] = [];
  const spellsTopic = (text: string, isPrefix: boolean) =>
    TOPIC_NAMES.some((t) => (isPrefix ? text.length > 0 && t.startsWith(text) && text.endsWith('.') : t === text));
  for (const file of g.files.filter((f) => f !== CATALOGUE)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const report = (n: ts.Node, why: string) => {
      const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
      found.push({ key: `topic-literal: ${rel(file)}:${n.getText(sf)}`, message: `${rel(file)}:${line}: ${why}` });
    };
    const isWritten = (n: ts.Node) => ts.isStringLiteralLike(n) || ts.isTemplateExpression(n);
    const visit = (n: ts.Node) => {
      if (ts.isStringLiteralLike(n) && spellsTopic(n.text, false)) {
        report(n, `spells the topic ${n.getText(sf)}; use TOPICS from src/bus/topics.ts`);
      } else if (ts.isTemplateExpression(n) && spellsTopic(n.head.text, true)) {
        report(n, `builds a topic name from \`${n.head.text}\`; use TOPICS from src/bus/topics.ts`);
      } else if (ts.isCallExpression(n)) {
        const callee = ts.isPropertyAccessExpression(n.expression)
          ? n.expression.name.text
          : ts.isIdentifier(n.expression)
            ? n.expression.text
            : '';
        const arg = callee in TOPIC_ARGUMENT ? n.arguments[TOPIC_ARGUMENT[callee]!] : undefined;
        if (arg !== undefined && isWritten(arg)) {
          report(arg, `${callee}() names its topic with a string; add it to src/bus/topics.ts`);
        }
      } else if (
        ts.isPropertyAssignment(n)
        && ts.isIdentifier(n.name)
        && n.name.text === 'topic'
        && isWritten(n.initializer)
      ) {
        report(n.initializer, 'a consumer or group names its topic with a string; add it to src/bus/topics.ts');
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return found;
}

// Depth-first search; a back edge to a file on the stack closes a cycle, reported once per set of
// files so that one cycle does not print once per member.
function cycleViolations(): Violation[] {
  const out = new Map<string, Edge[]>();
  for (const e of g.edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: Edge[] = [];
  const found = new Map<string, Violation>();
  const dfs = (f: string) => {
    state.set(f, 'open');
    for (const e of out.get(f) ?? []) {
      if (state.get(e.to) === 'open') {
        const start = stack.findIndex((s) => s.from === e.to);
        const path = [...stack.slice(start === -1 ? stack.length : start), e];
        const key = `cycle: ${path
          .map((p) => rel(p.from))
          .sort()
          .join(' ')}`;
        const steps = path.map((p) => `${rel(p.from)}:${p.line}${p.typeOnly ? ' (type-only)' : ''}`);
        if (!found.has(key)) found.set(key, { key, message: `import cycle: ${steps.join(' -> ')} -> ${rel(e.to)}` });
      } else if (!state.has(e.to)) {
        stack.push(e);
        dfs(e.to);
        stack.pop();
      }
    }
    state.set(f, 'done');
  };
  for (const f of [...g.files].sort()) if (!state.has(f)) dfs(f);
  return [...found.values()];
}

describe('architecture: import boundaries', () => {
  it('every relative import resolves to a file under src/', () => {
    // Guards against the checks below passing on an empty graph.
    assert.ok(g.files.length > 100 && g.edges.length > 500, `read ${g.files.length} files, ${g.edges.length} imports`);
    const known = new Set(walk(SRC));
    const broken = g.edges.filter((e) => !known.has(e.to)).map((e) => `${where(e)}: no such file under src/`);
    assert.deepEqual(broken, []);
  });

  it('src/core imports only src/core, node: built-ins and the listed pure libraries', () => {
    check(coreViolations());
  });
  it('only the composition root imports adapters, and only cli/main.ts imports the composition root', () => {
    check(adapterViolations());
  });
  it("no service imports another service's queries.ts or the send ledger", () => check(queriesViolations()));
  it('topic names shared between services come from src/bus/topics.ts', () => check(topicViolations()));
  it('no topic is spelled as a string outside src/bus/topics.ts', () => {
    assert.ok(TOPIC_NAMES.length >= 9, `catalogue lists ${TOPIC_NAMES.length} topics`);
    check(topicLiteralViolations());
  });
  it('no import cycles, type-only imports included', () => check(cycleViolations()));

  it('every allow-list entry still matches a violation', () => {
    const all = new Set(
      [
        ...coreViolations(),
        ...adapterViolations(),
        ...queriesViolations(),
        ...topicViolations(),
        ...topicLiteralViolations(),
        ...cycleViolations(),
      ].map((v) => v.key),
    );
    const stale = Object.keys(ALLOWED).filter((k) => !all.has(k));
    assert.deepEqual(stale, [], 'fixed: remove these entries from ALLOWED');
  });
});
