/**
 * Validates a journey definition received as JSON. Every problem is reported, each with the path
 * of the bad part (`$.steps[3].then`), so a definition is fixed in one go. A definition that passes
 * has unique step ids, only references to steps that exist, a step graph without cycles (each step
 * runs at most once per run: (run, step) is the idempotency key), every step reachable from
 * `start`, and engagement branches that only look at an email step that always runs before them.
 * Segment conditions (branches, goals) are checked by the segment validator, paths prefixed.
 * Templates are checked by the service (compiling them is not pure).
 */
import { validateSegment } from '../segments/validate.ts';
import { type JourneyDefinition, type JourneyProblem, type JourneyStep, successors } from './types.ts';

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const TIME = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const MAX_STEPS = 200;
const MAX_TEXT = 200_000;
const MAX_DURATION_DAYS = 3660;
const STEP_KEYS: Record<JourneyStep['type'], readonly string[]> = {
  wait: ['duration', 'next'],
  waitUntil: ['time', 'next'],
  email: ['subject', 'template', 'variants', 'next'],
  branch: ['condition', 'yes', 'no'],
  branchEngagement: ['step', 'on', 'yes', 'no'],
  updateCrm: ['fields', 'next'],
  addToList: ['list', 'next'],
  removeFromList: ['list', 'next'],
  webhook: ['url', 'next'],
  exit: [],
};
const TOP_KEYS = [
  'name',
  'trigger',
  'reentry',
  'goals',
  'frequencyCap',
  'from',
  'replyTo',
  'postalAddress',
  'topic',
  'timezone',
  'start',
  'steps',
];

export type JourneyValidation = { ok: true; definition: JourneyDefinition } | { ok: false; problems: JourneyProblem[] };

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function validateJourney(
  input: unknown,
  options: { isTimeZone?: (tz: string) => boolean } = {},
): JourneyValidation {
  const out: JourneyProblem[] = [];
  const add: Add = (path, message) => {
    out.push({ path, message });
    return false;
  };
  if (!isObject(input)) return { ok: false, problems: [{ path: '$', message: 'must be an object' }] };
  onlyKeys(input, TOP_KEYS, '$', add);
  text(input.name, '$.name', add, 200);
  checkTrigger(input.trigger, add);
  checkReentry(input.reentry, add);
  if (input.frequencyCap !== undefined) {
    const f = input.frequencyCap;
    if (!isObject(f)) add('$.frequencyCap', 'must be an object { max, windowHours }');
    else {
      onlyKeys(f, ['max', 'windowHours'], '$.frequencyCap', add);
      integer(f.max, '$.frequencyCap.max', 1, 1000, add);
      integer(f.windowHours, '$.frequencyCap.windowHours', 1, 24 * 366, add);
    }
  }
  address(input.from, '$.from', add, true);
  if (input.replyTo !== undefined) address(input.replyTo, '$.replyTo', add, true);
  text(input.postalAddress, '$.postalAddress', add, 500);
  // a preference-centre topic, shaped as POST /consent/signup takes it
  if (input.topic !== undefined && (typeof input.topic !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(input.topic)))
    add('$.topic', 'must be a topic name (letters, digits, _ . : -, at most 100)');
  if (input.timezone !== undefined) {
    if (typeof input.timezone !== 'string' || (options.isTimeZone !== undefined && !options.isTimeZone(input.timezone)))
      add('$.timezone', 'must be an IANA time zone name');
  }
  const steps = checkSteps(input.steps, add);
  if (typeof input.start !== 'string' || !steps.has(input.start)) add('$.start', 'must name a step of $.steps');
  checkGoals(input.goals, add);
  if (out.length === 0) checkGraph(input as unknown as JourneyDefinition, add);
  return out.length === 0
    ? { ok: true, definition: input as unknown as JourneyDefinition }
    : { ok: false, problems: out };
}

type Add = (path: string, message: string) => false;

function onlyKeys(o: Obj, allowed: readonly string[], path: string, add: Add): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) add(`${path}.${k}`, `unknown key (allowed: ${allowed.join(', ') || 'none'})`);
}

function text(v: unknown, path: string, add: Add, max = MAX_TEXT): void {
  if (typeof v !== 'string' || v.trim() === '' || v.length > max || v.includes('\u0000'))
    add(path, `must be a non-empty string of at most ${max} characters`);
}

function integer(v: unknown, path: string, min: number, max: number, add: Add): void {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
    add(path, `must be an integer from ${min} to ${max}`);
}

function id(v: unknown, path: string, add: Add): void {
  if (typeof v !== 'string' || !ID.test(v)) add(path, 'must be an id: a-z, 0-9, _ or -, at most 64 characters');
}

function address(v: unknown, path: string, add: Add, required: boolean): false | undefined {
  if (v === undefined && !required) return;
  if (!isObject(v)) return add(path, 'must be an object { address, name? }');
  onlyKeys(v, ['address', 'name'], path, add);
  if (typeof v.address !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(v.address) || v.address.length > 254)
    add(`${path}.address`, 'must be an email address');
  if (v.name !== undefined && (typeof v.name !== 'string' || v.name.length > 200))
    add(`${path}.name`, 'must be a string of at most 200 characters');
}

function condition(v: unknown, path: string, add: Add): void {
  const checked = validateSegment(v);
  if (!checked.ok) for (const p of checked.problems) add(`${path}${p.path.slice(1)}`, p.message);
}

function checkTrigger(t: unknown, add: Add): false | undefined {
  const path = '$.trigger';
  if (!isObject(t)) return add(path, 'must be an object with a type (list, event, date, manual)');
  switch (t.type) {
    case 'list':
      onlyKeys(t, ['type', 'list'], path, add);
      id(t.list, `${path}.list`, add);
      return;
    case 'event':
      onlyKeys(t, ['type', 'event', 'tag'], path, add);
      if (t.event !== 'clicked') add(`${path}.event`, 'must be clicked');
      if (t.tag !== undefined) text(t.tag, `${path}.tag`, add, 200);
      return;
    case 'date':
      onlyKeys(t, ['type', 'attribute', 'offsetDays', 'yearly'], path, add);
      text(t.attribute, `${path}.attribute`, add, 200);
      if (t.offsetDays !== undefined) integer(t.offsetDays, `${path}.offsetDays`, -366, 366, add);
      if (t.yearly !== undefined && typeof t.yearly !== 'boolean') add(`${path}.yearly`, 'must be a boolean');
      return;
    case 'manual':
      onlyKeys(t, ['type'], path, add);
      return;
    default:
      add(`${path}.type`, 'must be one of list, event, date, manual');
  }
}

function checkReentry(r: unknown, add: Add): false | undefined {
  if (r === undefined) return;
  if (!isObject(r)) return add('$.reentry', 'must be an object { mode }');
  if (r.mode === 'never' || r.mode === 'after-exit') onlyKeys(r, ['mode'], '$.reentry', add);
  else if (r.mode === 'after') {
    onlyKeys(r, ['mode', 'days'], '$.reentry', add);
    integer(r.days, '$.reentry.days', 0, MAX_DURATION_DAYS, add);
  } else add('$.reentry.mode', 'must be one of never, after-exit, after');
}

function checkGoals(goals: unknown, add: Add): false | undefined {
  if (goals === undefined) return;
  if (!Array.isArray(goals)) return add('$.goals', 'must be an array');
  const seen = new Set<string>();
  for (const [i, g] of goals.entries()) {
    const path = `$.goals[${i}]`;
    if (!isObject(g)) {
      add(path, 'must be an object { id, condition | event | list }');
      continue;
    }
    id(g.id, `${path}.id`, add);
    if (typeof g.id === 'string') {
      if (seen.has(g.id)) add(`${path}.id`, `duplicate goal id ${g.id}`);
      seen.add(g.id);
    }
    const kinds = ['condition', 'event', 'list'].filter((k) => k in g);
    if (kinds.length !== 1) {
      add(path, 'needs exactly one of condition, event, list');
      continue;
    }
    if ('condition' in g) {
      onlyKeys(g, ['id', 'condition'], path, add);
      condition(g.condition, `${path}.condition`, add);
    } else if ('event' in g) {
      onlyKeys(g, ['id', 'event', 'tag'], path, add);
      if (g.event !== 'clicked') add(`${path}.event`, 'must be clicked');
      if (g.tag !== undefined) text(g.tag, `${path}.tag`, add, 200);
    } else {
      onlyKeys(g, ['id', 'list'], path, add);
      id(g.list, `${path}.list`, add);
    }
  }
}

/** Checks each step's own fields; returns the ids seen. */
function checkSteps(steps: unknown, add: Add): Map<string, Obj> {
  const byId = new Map<string, Obj>();
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > MAX_STEPS) {
    add('$.steps', `must be an array of 1 to ${MAX_STEPS} steps`);
    return byId;
  }
  for (const [i, s] of steps.entries()) {
    const path = `$.steps[${i}]`;
    if (!isObject(s)) {
      add(path, 'must be an object { id, type, … }');
      continue;
    }
    id(s.id, `${path}.id`, add);
    if (typeof s.id === 'string') {
      if (byId.has(s.id)) add(`${path}.id`, `duplicate step id ${s.id}`);
      else byId.set(s.id, s);
    }
    const keys = STEP_KEYS[s.type as JourneyStep['type']];
    if (keys === undefined) {
      add(`${path}.type`, `must be one of ${Object.keys(STEP_KEYS).join(', ')}`);
      continue;
    }
    onlyKeys(s, ['id', 'type', ...keys], path, add);
    checkStepFields(s, path, add);
  }
  // references: every next/yes/no names a step
  for (const [i, s] of steps.entries()) {
    if (!isObject(s)) continue;
    for (const key of ['next', 'yes', 'no'] as const) {
      if (s[key] === undefined) continue;
      if (typeof s[key] !== 'string' || !byId.has(s[key] as string))
        add(`$.steps[${i}].${key}`, `must name a step of $.steps`);
    }
  }
  return byId;
}

function checkStepFields(s: Obj, path: string, add: Add): false | undefined {
  switch (s.type) {
    case 'wait': {
      const d = s.duration;
      if (!isObject(d)) return add(`${path}.duration`, 'must be an object { days?, hours?, minutes? }');
      onlyKeys(d, ['days', 'hours', 'minutes'], `${path}.duration`, add);
      for (const k of ['days', 'hours', 'minutes'] as const)
        if (d[k] !== undefined) integer(d[k], `${path}.duration.${k}`, 0, MAX_DURATION_DAYS * 1440, add);
      if (Object.keys(d).length === 0) add(`${path}.duration`, 'needs at least one of days, hours, minutes');
      return;
    }
    case 'waitUntil':
      if (typeof s.time !== 'string' || !TIME.test(s.time)) add(`${path}.time`, 'must be a local time HH:MM');
      return;
    case 'email': {
      text(s.subject, `${path}.subject`, add, 1000);
      const t = s.template;
      if (!isObject(t)) return add(`${path}.template`, 'must be an object { html?, text? }');
      onlyKeys(t, ['html', 'text'], `${path}.template`, add);
      if (t.html === undefined && t.text === undefined) add(`${path}.template`, 'needs html or text');
      if (t.html !== undefined) text(t.html, `${path}.template.html`, add);
      if (t.text !== undefined) text(t.text, `${path}.template.text`, add);
      if (s.variants !== undefined) {
        if (!Array.isArray(s.variants) || s.variants.length < 2 || s.variants.length > 8)
          return add(`${path}.variants`, 'must be a list of 2 to 8 variants');
        for (const [v, variant] of s.variants.entries()) {
          const at = `${path}.variants[${v}]`;
          if (!isObject(variant)) {
            add(at, 'must be an object { name?, subject?, preheader?, template? }');
            continue;
          }
          onlyKeys(variant, ['name', 'subject', 'preheader', 'template'], at, add);
          if (variant.name !== undefined) text(variant.name, `${at}.name`, add, 200);
          if (variant.subject !== undefined) text(variant.subject, `${at}.subject`, add, 1000);
          if (variant.preheader !== undefined) text(variant.preheader, `${at}.preheader`, add, 500);
          const vt = variant.template;
          if (vt === undefined) continue;
          if (!isObject(vt)) {
            add(`${at}.template`, 'must be an object { html?, text? }');
            continue;
          }
          onlyKeys(vt, ['html', 'text'], `${at}.template`, add);
          if (vt.html !== undefined) text(vt.html, `${at}.template.html`, add);
          if (vt.text !== undefined) text(vt.text, `${at}.template.text`, add);
        }
      }
      return;
    }
    case 'branch':
      condition(s.condition, `${path}.condition`, add);
      return;
    case 'branchEngagement':
      if (s.on !== 'opened' && s.on !== 'clicked') add(`${path}.on`, 'must be opened or clicked');
      if (typeof s.step !== 'string') add(`${path}.step`, 'must name an email step');
      return;
    case 'updateCrm': {
      const f = s.fields;
      if (!isObject(f) || Object.keys(f).length === 0 || Object.keys(f).length > 50)
        return add(`${path}.fields`, 'must be an object of 1 to 50 fields');
      for (const [k, v] of Object.entries(f)) {
        if (!/^[A-Za-z0-9_.-]{1,100}$/.test(k)) add(`${path}.fields.${k}`, 'field names are letters, digits, _ . -');
        const ok =
          v === null || typeof v === 'boolean' || Number.isFinite(v) || (typeof v === 'string' && v.length <= 1000);
        if (!ok) add(`${path}.fields.${k}`, 'must be a string, number, boolean or null');
      }
      return;
    }
    case 'addToList':
    case 'removeFromList':
      id(s.list, `${path}.list`, add);
      return;
    case 'webhook': {
      let ok = false;
      try {
        const u = new URL(String(s.url));
        ok = u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        ok = false;
      }
      if (!ok) add(`${path}.url`, 'must be an http(s) URL');
      return;
    }
    default:
      return;
  }
}

/** Cycles, reachability and engagement branches (only once every reference resolves). */
function checkGraph(def: JourneyDefinition, add: Add): void {
  const index = new Map(def.steps.map((s, i) => [s.id, i]));
  const byId = new Map(def.steps.map((s) => [s.id, s]));
  // depth-first from start: a grey node met again is a cycle, named in order
  const colour = new Map<string, 'grey' | 'black'>();
  const stack: string[] = [];
  const visit = (id: string): void => {
    colour.set(id, 'grey');
    stack.push(id);
    for (const next of successors(byId.get(id)!)) {
      if (colour.get(next) === 'grey') {
        const cycle = [...stack.slice(stack.indexOf(next)), next].join(' → ');
        add(`$.steps[${index.get(id)}]`, `steps form a cycle: ${cycle} (a step runs at most once per run)`);
      } else if (colour.get(next) === undefined) visit(next);
    }
    stack.pop();
    colour.set(id, 'black');
  };
  visit(def.start);
  for (const [i, s] of def.steps.entries()) {
    if (!colour.has(s.id)) add(`$.steps[${i}]`, `step ${s.id} is not reachable from start`);
  }
  // an engagement branch must look at an email step on every path from start to it
  for (const [i, s] of def.steps.entries()) {
    if (s.type !== 'branchEngagement') continue;
    const target = byId.get(s.step);
    if (target === undefined || target.type !== 'email') {
      add(`$.steps[${i}].step`, 'must name an email step');
      continue;
    }
    if (reachableAvoiding(def.start, s.id, s.step, byId))
      add(`$.steps[${i}].step`, `email step ${s.step} does not run before this step on every path`);
  }
}

/** Whether `to` can be reached from `from` without passing `avoid`. */
function reachableAvoiding(from: string, to: string, avoid: string, byId: Map<string, JourneyStep>): boolean {
  const seen = new Set<string>();
  const walk = (id: string): boolean => {
    if (id === avoid || seen.has(id)) return false;
    if (id === to) return true;
    seen.add(id);
    return successors(byId.get(id)!).some(walk);
  };
  return walk(from);
}
