/**
 * deploy/ validated without a cluster: every document against its Kubernetes or KEDA schema
 * (kubernetes-models), the kustomizations list exactly the files beside them, and the parts that
 * must agree with the code do: each Deployment probes /healthz and /readyz on a declared port and
 * is scraped by Prometheus, a PodDisruptionBudget covers every scaled group, and each KEDA trigger
 * names the JetStream stream and durable consumer the NATS bus derives for the group it scales.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { consumerName, streamName } from '../../src/bus/nats/subjects.ts';
import { loadConfig } from '../../src/config.ts';
import { createApp, OPTIONAL_STAGES } from '../../src/app.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import { migrate } from '../../src/store/migrate.ts';
import pino from 'pino';

const ROOT = new URL('../../deploy/', import.meta.url).pathname;
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML checked field by field below
type Doc = any;

function load(dir: string): { file: string; doc: Doc }[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(ROOT, dir, f), 'utf8')).map((d) => {
        assert.deepEqual(d.errors, [], `${dir}/${f} does not parse`);
        return { file: `${dir}/${f}`, doc: d.toJSON() as Doc };
      }),
    );
}

const base = load('base');
const reference = load('reference');
const of = (kind: string) => base.filter((d) => d.doc.kind === kind).map((d) => d.doc);

it('every manifest is valid against its Kubernetes or KEDA schema', () => {
  for (const { file, doc } of [...base, ...reference]) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`);
  }
});

it('a schema violation is caught (the validation is not vacuous)', () => {
  const broken = structuredClone(of('Deployment')[0]);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'admin';
  assert.throws(() => new Deployment(broken).validate());
  const scaled = structuredClone(of('ScaledObject')[0]);
  delete scaled.spec.scaleTargetRef;
  assert.throws(() => new ScaledObject(scaled).validate());
});

it('each kustomization lists exactly the manifests in its folder', () => {
  for (const dir of ['base', 'reference']) {
    const k = parseAllDocuments(readFileSync(join(ROOT, dir, 'kustomization.yaml'), 'utf8'))[0]!.toJSON() as Doc;
    const files = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    assert.deepEqual([...k.resources].sort(), files.sort(), dir);
  }
});

it('every Deployment probes /healthz and /readyz on a declared port and is scraped on the admin port', () => {
  for (const d of of('Deployment')) {
    const pod = d.spec.template;
    const c = pod.spec.containers[0];
    const ports = new Set(c.ports.map((p: Doc) => p.name));
    assert.equal(c.livenessProbe.httpGet.path, '/healthz', d.metadata.name);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz', d.metadata.name);
    assert.ok(ports.has(c.livenessProbe.httpGet.port) && ports.has(c.readinessProbe.httpGet.port), d.metadata.name);
    assert.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true', d.metadata.name);
    assert.equal(pod.metadata.annotations['prometheus.io/path'], '/metrics', d.metadata.name);
    assert.equal(Number(pod.metadata.annotations['prometheus.io/port']), 3001, d.metadata.name);
    assert.deepEqual(d.spec.selector.matchLabels, pod.metadata.labels, d.metadata.name);
    if (c.args[0] === 'worker') assert.ok(c.args.includes('--listen'), `${d.metadata.name} opens no listener to probe`);
  }
});

it('the shared settings are valid Switchyard configuration for the NATS bus', () => {
  const config = loadConfig({ ...of('ConfigMap')[0].data, SWITCHYARD_TRACKING_SECRET: 'x' });
  assert.equal(config.bus.kind, 'nats');
  assert.equal(config.admin.port, 3001);
});

it('every scaled group has a disruption budget and a ScaledObject aimed at an existing Deployment', () => {
  const deployments = new Map(of('Deployment').map((d) => [d.metadata.name, d]));
  const budgets = of('PodDisruptionBudget');
  for (const so of of('ScaledObject')) {
    const target = deployments.get(so.spec.scaleTargetRef.name);
    assert.ok(target, `${so.metadata.name} scales a missing Deployment`);
    const labels = target.spec.template.metadata.labels;
    assert.ok(
      budgets.some((b) => Object.entries(b.spec.selector.matchLabels).every(([k, v]) => labels[k] === v)),
      `${so.metadata.name}: no PodDisruptionBudget`,
    );
  }
});

// The consumer groups each scaled Deployment runs (`switchyard stages` lists them): stage, topic, group.
const SCALED_GROUPS: Record<string, [stage: string, topic: string, group: string][]> = {
  'switchyard-send': [
    ['send', 'blast.ready.bulk', 'send'],
    ['send', 'blast.ready.triggered', 'send'],
    ['send', 'blast.ready.transactional', 'send'],
  ],
  'switchyard-blast-select': [['select', 'blast.select', 'select']],
  'switchyard-journeys': [
    ['profiles', 'contact.changed', 'profiles'],
    ['journeys', 'list.entered', 'journeys'],
    ['journeys', 'link.clicked', 'journeys'],
  ],
  'switchyard-reactions': [
    ['outcomes', 'reaction.received', 'ledger-outcomes'],
    ['engagement', 'reaction.received', 'engagement'],
    ['propagation', 'contact.suppressed', 'propagation'],
  ],
};

it('each KEDA trigger names the stream and consumer the NATS bus uses for a group its Deployment runs', () => {
  const prefix = of('ConfigMap')[0].data.SWITCHYARD_NATS_PREFIX;
  const deployments = new Map(of('Deployment').map((d) => [d.metadata.name, d]));
  for (const so of of('ScaledObject')) {
    const groups = SCALED_GROUPS[so.spec.scaleTargetRef.name];
    assert.ok(groups, `${so.metadata.name}: no expected groups listed`);
    const args: string[] = deployments.get(so.spec.scaleTargetRef.name).spec.template.spec.containers[0].args;
    const expected = groups.map(([stage, topic, group]) => {
      assert.ok(args.includes(stage), `${so.metadata.name}: its Deployment does not run stage ${stage}`);
      return `${streamName(prefix, topic)}/${consumerName(topic, group)}`;
    });
    const triggers = so.spec.triggers.map((t: Doc) => {
      assert.equal(t.type, 'nats-jetstream');
      assert.match(t.metadata.natsServerMonitoringEndpoint, /:8222$/);
      return `${t.metadata.stream}/${t.metadata.consumer}`;
    });
    assert.deepEqual(triggers.sort(), expected.sort(), so.metadata.name);
  }
});

it('every stage the app runs is started by exactly one Deployment, and the optional feeds by one too', async () => {
  const db = await createPgliteDb({});
  await migrate(db);
  const app = await createApp(loadConfig({ SWITCHYARD_TRACKING_SECRET: 'x' }), { db, log: pino({ level: 'silent' }) });
  const stages = [...app.stages.map((s) => s.name), ...OPTIONAL_STAGES];
  // where a feed is not configured, naming it starts nothing rather than failing the worker
  assert.deepEqual(app.startWorkers(['profile-feed', 'crm-changes', 'billing-table']), []);
  assert.throws(() => app.startWorkers(['sned']), /unknown stage sned/);
  await app.close();
  await db.close();
  const workers = of('Deployment')
    .map((d) => ({ name: d.metadata.name as string, args: d.spec.template.spec.containers[0].args as string[] }))
    .filter((d) => d.args[0] === 'worker')
    .map((d) => ({ name: d.name, stages: d.args.slice(d.args.indexOf('--stage') + 1) }));
  for (const stage of stages) {
    const runners = workers.filter((w) => w.stages.includes(stage)).map((w) => w.name);
    assert.equal(runners.length, 1, `stage ${stage} runs in ${runners.length} Deployments (${runners.join(', ')})`);
  }
  for (const w of workers)
    for (const s of w.stages) assert.ok(stages.includes(s), `${w.name} names stage ${s}, which the app does not have`);
});
