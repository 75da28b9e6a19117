import { CORE_SCHEMA, EVENT_ID, NOT_RESOLVED, SCALAR_STYLE, YAMLException, getScalarValue, parseEvents, type Event, type ScalarEvent } from 'js-yaml';
import type { Path, PathSegment } from './diagnostics';

export interface YamlLimits {
  maxDepth: number;
  /** alias nodes the expanded document may contain (`*a` inside an anchored `*b` counts per use) */
  maxAliasCount: number;
}

export interface YamlProblem {
  path: Path;
  message: string;
  line?: number;
}

export interface LoadedYaml {
  /** the plain JS value; undefined when the source could not be turned into one */
  value: unknown;
  problems: YamlProblem[];
  /** 1-based line of the value at `path`, or of its closest existing ancestor */
  locate(path: Path): number | undefined;
}

/**
 * Past this many values (aliases expanded) the document is refused: aliases let a small source
 * describe a huge tree, and every later walk (validation, JSON encoding, storage) would pay for it.
 */
export const MAX_EXPANDED_VALUES = 1_000_000;
/** Same for text: one long anchored string repeated through aliases. */
export const MAX_EXPANDED_CHARS = 8 * 1024 * 1024;

const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'seq', 'map'].map((name) => `tag:yaml.org,2002:${name}`));
const YAML_TAG_PREFIX = 'tag:yaml.org,2002:';

/** What an anchor stands for, and what one alias to it costs once expanded. */
interface AnchorInfo {
  value: unknown;
  /** index of the anchored event */
  index: number;
  /** false while the anchored collection is still being read: an alias to it would be circular */
  complete: boolean;
  /** false for collections: a collection cannot be a mapping key */
  scalar: boolean;
  size: number;
  chars: number;
  expansions: number;
  height: number;
}

interface Frame {
  map: boolean;
  value: Record<string, unknown> | unknown[];
  parent: Frame | null;
  /** where this collection sits in its parent */
  segment: PathSegment | null;
  depth: number;
  /** index of the collection's start event */
  start: number;
  offset: number;
  anchor: string | null;
  /** map: the key read and waiting for its value (null = the value is dropped) */
  key: string | null;
  expectingKey: boolean;
  keyOffset: number;
  /** map: offsets of the keys read so far, built only once a duplicate shows up */
  seen: Map<string, number> | null;
  size: number;
  chars: number;
  expansions: number;
  height: number;
}

class BudgetExceeded extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Index of line starts, for offset -> 1-based line by binary search (no per-lookup scan). */
function lineIndex(source: string): (offset: number) => number {
  let starts: number[] | undefined;
  return (offset) => {
    if (!starts) {
      starts = [0];
      for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
    }
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid] <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  };
}

function firstOffset(a: number, b: number, c: number): number {
  let best = -1;
  if (a >= 0) best = a;
  if (b >= 0 && (best < 0 || b < best)) best = b;
  if (c >= 0 && (best < 0 || c < best)) best = c;
  return best;
}

/** Where an event starts in the source (its anchor or tag included), or -1 (an empty value). */
function eventOffset(event: Event): number {
  switch (event.type) {
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return firstOffset(event.anchorStart >= 0 ? event.anchorStart - 1 : -1, event.tagStart, event.start);
    case EVENT_ID.SCALAR:
      return firstOffset(event.anchorStart >= 0 ? event.anchorStart - 1 : -1, event.tagStart, event.valueStart);
    case EVENT_ID.ALIAS:
      return event.anchorStart - 1;
    default:
      return -1;
  }
}

type Resolved = { ok: true; value: unknown } | { ok: false; known: boolean };

/**
 * Parses one YAML document into plain JS in time linear in the source. js-yaml's event parser
 * (iterative, depth-limited) produces a flat event list with source offsets; the value is built
 * here in one pass that also detects duplicate keys, resolves aliases from an index, and charges
 * every alias expansion to a budget. Lines are found afterwards from the events: each collection
 * on a located path is indexed once, so locating many diagnostics stays linear too.
 */
export function loadYaml(source: string, limits: YamlLimits): LoadedYaml {
  const lineAt = lineIndex(source);
  const problems: YamlProblem[] = [];
  let events: Event[] = [];
  /** for each collection start event, the index of its closing POP event */
  let ends = new Int32Array(0);
  /** alias event index -> index of the anchored event it stands for */
  const aliasTargets = new Map<number, number>();
  let rootIndex = -1;
  let handles = new Map<string, string>();

  const tagOf = (tagStart: number, tagEnd: number): string | null => {
    if (tagStart < 0) return null;
    const spelled = source.slice(tagStart, tagEnd);
    if (spelled === '!') return '!';
    if (spelled.startsWith('!<') && spelled.endsWith('>')) return spelled.slice(2, -1);
    const handleEnd = spelled.indexOf('!', 1);
    const handle = handleEnd > 0 ? spelled.slice(0, handleEnd + 1) : '!';
    const prefix = handles.get(handle) ?? (handle === '!!' ? YAML_TAG_PREFIX : handle);
    return prefix + spelled.slice(handle.length);
  };
  const resolveScalar = (event: ScalarEvent): Resolved => {
    const text = event.valueStart < 0 ? '' : getScalarValue(source, event);
    const tag = tagOf(event.tagStart, event.tagEnd);
    if (tag === null) return { ok: true, value: event.style === SCALAR_STYLE.PLAIN ? CORE_SCHEMA.resolveImplicitScalarTag(text).value : text };
    if (tag === '!') return { ok: true, value: text };
    const definition = CORE_TAGS.has(tag) ? CORE_SCHEMA.lookupScalarTag(tag) : undefined;
    const resolved = definition?.resolve(text, true, tag);
    if (definition === undefined || resolved === NOT_RESOLVED) return { ok: false, known: definition !== undefined };
    return { ok: true, value: resolved };
  };
  const next = (i: number): number => (events[i].type === EVENT_ID.MAPPING || events[i].type === EVENT_ID.SEQUENCE ? ends[i] + 1 : i + 1);
  /** The key a (scalar or alias) event spells, as the built value has it; null for collections. */
  const keyAt = (i: number): string | null => {
    for (let hops = 0; events[i]?.type === EVENT_ID.ALIAS && hops < 100; hops++) i = aliasTargets.get(i) ?? -1;
    const event = events[i];
    if (event?.type !== EVENT_ID.SCALAR) return null;
    const resolved = resolveScalar(event);
    return resolved.ok ? String(resolved.value) : source.slice(event.valueStart, event.valueEnd);
  };
  /** key -> [offset of the key, index of the value event], the first of duplicates winning */
  const entriesOf = (start: number, until: number): Map<string, [number, number]> => {
    const entries = new Map<string, [number, number]>();
    for (let i = start + 1; i < until; ) {
      const keyIndex = i;
      i = next(i);
      const valueIndex = i;
      i = i < until ? next(i) : i;
      const key = keyAt(keyIndex);
      if (key !== null && !entries.has(key)) entries.set(key, [eventOffset(events[keyIndex]), valueIndex]);
    }
    return entries;
  };
  const mapIndexes = new Map<number, Map<string, [number, number]>>();
  const seqIndexes = new Map<number, number[]>();

  const locate = (path: Path): number | undefined => {
    if (rootIndex < 0) return undefined;
    let index = rootIndex;
    let offset = eventOffset(events[index]);
    for (const segment of path) {
      for (let hops = 0; events[index].type === EVENT_ID.ALIAS && hops < 100; hops++) {
        const target = aliasTargets.get(index);
        if (target === undefined) break;
        index = target;
      }
      const event = events[index];
      if (event.type === EVENT_ID.MAPPING && typeof segment === 'string' && ends[index] > 0) {
        let entries = mapIndexes.get(index);
        if (!entries) mapIndexes.set(index, (entries = entriesOf(index, ends[index])));
        const entry = entries.get(segment);
        if (!entry) break;
        if (entry[0] >= 0) offset = entry[0];
        index = entry[1];
      } else if (event.type === EVENT_ID.SEQUENCE && typeof segment === 'number' && ends[index] > 0) {
        let items = seqIndexes.get(index);
        if (!items) {
          items = [];
          for (let i = index + 1; i < ends[index]; i = next(i)) items.push(i);
          seqIndexes.set(index, items);
        }
        const item = items[segment];
        if (item === undefined) break;
        const at = eventOffset(events[item]);
        if (at >= 0) offset = at;
        index = item;
      } else {
        break;
      }
    }
    return offset >= 0 ? lineAt(offset) : undefined;
  };
  const fail = (message: string, line?: number): LoadedYaml => {
    problems.push({ path: [], message, line });
    return { value: undefined, problems, locate };
  };

  try {
    events = parseEvents(source, { maxDepth: limits.maxDepth });
  } catch (error) {
    if (!(error instanceof YAMLException)) throw error;
    const line = error.mark ? error.mark.line + 1 : undefined;
    if (/maxDepth/.test(error.reason)) return fail(`the document is nested too deeply (more than ${limits.maxDepth} levels)`, line);
    return fail(`YAML syntax error: ${error.reason}`, line);
  }
  ends = new Int32Array(events.length);

  const documentStarts: number[] = [];
  events.forEach((event, index) => event.type === EVENT_ID.DOCUMENT && documentStarts.push(index));
  if (documentStarts.length > 1) return fail('the source holds several YAML documents; put exactly one workflow in it', secondDocumentLine(source, events, documentStarts[1], lineAt));
  if (documentStarts.length === 0) return fail('the workflow is empty', 1);

  const stack: Frame[] = [];
  const anchors = new Map<string, AnchorInfo>();
  let rootValue: unknown = undefined;
  let totalValues = 0;
  let totalChars = 0;
  let totalExpansions = 0;

  const pathOf = (frame: Frame | null, last: PathSegment | null): Path => {
    const path: PathSegment[] = last === null ? [] : [last];
    for (let f = frame; f && f.segment !== null; f = f.parent) path.push(f.segment);
    return path.reverse();
  };
  const lineOrNone = (offset: number): number | undefined => (offset >= 0 ? lineAt(offset) : undefined);
  const charge = (values: number, chars: number, expansions: number, offset: number): void => {
    totalValues += values;
    totalChars += chars;
    totalExpansions += expansions;
    if (totalExpansions > limits.maxAliasCount) {
      throw new BudgetExceeded(`too many alias expansions (a YAML "billion laughs" document?); at most ${limits.maxAliasCount} are allowed`, offset);
    }
    if (totalValues > MAX_EXPANDED_VALUES) throw new BudgetExceeded(`the document expands to more than ${MAX_EXPANDED_VALUES} values`, offset);
    if (totalChars > MAX_EXPANDED_CHARS) throw new BudgetExceeded(`the document expands to more than ${MAX_EXPANDED_CHARS} characters of text`, offset);
  };

  /** Hands a finished value (with its cost) to the collection being read. */
  const deliver = (parent: Frame, index: number, value: unknown, offset: number, size: number, chars: number, expansions: number, height: number, keyable: boolean): void => {
    parent.size += size;
    parent.chars += chars;
    parent.expansions += expansions;
    if (height + 1 > parent.height) parent.height = height + 1;
    if (!parent.map) {
      (parent.value as unknown[]).push(value);
      return;
    }
    if (!parent.expectingKey) {
      parent.expectingKey = true;
      if (parent.key !== null) (parent.value as Record<string, unknown>)[parent.key] = value;
      return;
    }
    parent.expectingKey = false;
    parent.keyOffset = offset;
    parent.key = null;
    if (!keyable) {
      problems.push({ path: pathOf(parent, null), message: 'mapping keys must be strings, numbers or booleans', line: lineOrNone(offset) });
      return;
    }
    const key = String(value);
    const target = parent.value as Record<string, unknown>;
    if (key === '__proto__') {
      problems.push({ path: pathOf(parent, key), message: "the property name '__proto__' is not allowed", line: lineOrNone(offset) });
    } else if (Object.hasOwn(target, key)) {
      // Rare: only now pay for an index of this mapping's keys (then kept up to date).
      parent.seen ??= new Map([...entriesOf(parent.start, index)].map(([k, [at]]) => [k, at]));
      problems.push({ path: pathOf(parent, key), message: `duplicate key '${key}' (first defined at line ${lineAt(parent.seen.get(key) ?? offset)})`, line: lineOrNone(offset) });
    } else {
      parent.seen?.set(key, offset);
      parent.key = key;
    }
  };

  try {
    for (let index = 0; index < events.length; index++) {
      const event = events[index];
      const parent = stack.length > 0 ? stack[stack.length - 1] : null;
      if (event.type === EVENT_ID.DOCUMENT) {
        handles = new Map(event.directives.flatMap((d) => (d.kind === 'tag' ? [[d.handle, d.prefix] as [string, string]] : [])));
        continue;
      }
      if (event.type === EVENT_ID.POP) {
        const frame = stack.pop();
        if (!frame) continue;
        ends[frame.start] = index;
        if (frame.anchor !== null) {
          const info = anchors.get(frame.anchor);
          if (info && info.index === frame.start) Object.assign(info, { complete: true, size: frame.size, chars: frame.chars, expansions: frame.expansions, height: frame.height });
        }
        const up = stack.length > 0 ? stack[stack.length - 1] : null;
        if (up) deliver(up, frame.start, frame.value, frame.offset, frame.size, frame.chars, frame.expansions, frame.height, false);
        else rootValue = frame.value;
        continue;
      }
      if (!parent) rootIndex = index;
      const depth = parent ? parent.depth + 1 : 0;
      // The path segment of the value this event starts (null for a key, or the root).
      const segment: PathSegment | null = !parent ? null : !parent.map ? (parent.value as unknown[]).length : parent.expectingKey ? null : parent.key;
      const offset = eventOffset(event);
      if (event.type === EVENT_ID.MAPPING || event.type === EVENT_ID.SEQUENCE) {
        const map = event.type === EVENT_ID.MAPPING;
        const tag = tagOf(event.tagStart, event.tagEnd);
        if (tag !== null && tag !== '!' && tag !== `${YAML_TAG_PREFIX}${map ? 'map' : 'seq'}`) {
          problems.push({ path: pathOf(parent, segment), message: unsupportedTag(source.slice(event.tagStart, event.tagEnd), false), line: lineOrNone(offset) });
        }
        const anchor = event.anchorStart >= 0 ? source.slice(event.anchorStart, event.anchorEnd) : null;
        const frame: Frame = {
          map,
          value: map ? {} : [],
          parent,
          segment,
          depth,
          start: index,
          offset,
          anchor,
          key: null,
          expectingKey: true,
          keyOffset: offset,
          seen: null,
          size: 1,
          chars: 0,
          expansions: 0,
          height: 1,
        };
        if (anchor !== null) anchors.set(anchor, { value: frame.value, index, complete: false, scalar: false, size: 0, chars: 0, expansions: 0, height: 0 });
        charge(1, 0, 0, offset);
        stack.push(frame);
        continue;
      }
      if (event.type === EVENT_ID.SCALAR) {
        // An empty value (`key:`) has no position of its own: it is where its key is.
        const at = offset >= 0 ? offset : parent && parent.map && !parent.expectingKey ? parent.keyOffset : -1;
        const resolved = resolveScalar(event);
        let value: unknown;
        if (resolved.ok) {
          value = resolved.value;
        } else {
          value = event.valueStart < 0 ? '' : getScalarValue(source, event);
          problems.push({ path: pathOf(parent, segment), message: unsupportedTag(source.slice(event.tagStart, event.tagEnd), resolved.known), line: lineOrNone(at) });
        }
        if (typeof value === 'number' && !Number.isFinite(value)) problems.push({ path: pathOf(parent, segment), message: 'must be a finite number', line: lineOrNone(at) });
        const chars = typeof value === 'string' ? value.length : 0;
        charge(1, chars, 0, at);
        if (event.anchorStart >= 0) {
          anchors.set(source.slice(event.anchorStart, event.anchorEnd), { value, index, complete: true, scalar: true, size: 1, chars, expansions: 0, height: 0 });
        }
        if (parent) deliver(parent, index, value, at, 1, chars, 0, 0, true);
        else rootValue = value;
        continue;
      }
      // An alias
      const name = source.slice(event.anchorStart, event.anchorEnd);
      const anchor = anchors.get(name);
      if (!anchor) {
        problems.push({ path: pathOf(parent, segment), message: `unknown alias '*${name}' (an alias must come after its anchor '&${name}')`, line: lineOrNone(offset) });
        if (parent) deliver(parent, index, null, offset, 1, 0, 0, 0, true);
        continue;
      }
      if (!anchor.complete) return fail(`the alias '*${name}' refers to a collection that contains it (a circular document)`, lineOrNone(offset));
      aliasTargets.set(index, anchor.index);
      charge(anchor.size, anchor.chars, 1 + anchor.expansions, offset);
      if (depth + anchor.height > limits.maxDepth) return fail(`the document is nested too deeply (more than ${limits.maxDepth} levels)`, lineOrNone(offset));
      if (parent) deliver(parent, index, anchor.value, offset, anchor.size, anchor.chars, 1 + anchor.expansions, anchor.height, anchor.scalar);
      else rootValue = anchor.value;
    }
  } catch (error) {
    if (error instanceof BudgetExceeded) return fail(error.message, lineOrNone(error.offset));
    throw error;
  }

  if (rootValue === null || rootValue === undefined) return fail('the workflow is empty', 1);
  return { value: rootValue, problems, locate };
}

function unsupportedTag(spelled: string, known: boolean): string {
  return known
    ? `the value does not fit its tag '${spelled}'`
    : `unsupported YAML tag '${spelled}' (only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are allowed)`;
}

/** The line of the second document: its `---` marker when it has one, else its first value. */
function secondDocumentLine(source: string, events: Event[], secondStart: number, lineAt: (offset: number) => number): number | undefined {
  let before = 0;
  for (let i = 0; i < secondStart; i++) before = Math.max(before, eventOffset(events[i]));
  const marker = /^(?:---|\.\.\.)(?=[ \t\r\n]|$)/gm;
  marker.lastIndex = before;
  for (let match = marker.exec(source); match; match = marker.exec(source)) {
    if (match[0] === '---' && match.index > before) return lineAt(match.index);
  }
  for (let i = secondStart; i < events.length; i++) {
    const offset = eventOffset(events[i]);
    if (offset >= 0) return lineAt(offset);
  }
  return undefined;
}
