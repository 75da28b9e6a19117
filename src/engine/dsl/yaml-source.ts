import { Composer, LineCounter, Parser, isAlias, isMap, isNode, isScalar, isSeq, visit, type Alias, type CST, type Document, type Node } from 'yaml';
import type { Path, PathSegment } from './diagnostics';

export interface YamlLimits {
  maxDepth: number;
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
 * Past this many visited values the document is refused: aliases let a small source describe a
 * huge tree, and every later walk would pay for it.
 */
const MAX_VISITED_VALUES = 1_000_000;

/**
 * Parses one YAML document into plain JS, with bounded work. The CST is checked for nesting
 * depth before composing, because the composer (and toJS) recurse per nesting level and a
 * deep enough document crashes the process outright instead of throwing.
 */
export function loadYaml(source: string, limits: YamlLimits): LoadedYaml {
  const lineCounter = new LineCounter();
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  const problems: YamlProblem[] = [];
  // Set once composed; `locate` (handed out before that) then finds nodes in it.
  let doc: Document.Parsed | undefined = undefined;

  let aliases: Map<Alias, unknown> | undefined;
  const locate = (path: Path): number | undefined => {
    if (!doc) return undefined;
    aliases ??= indexAliases(doc);
    return locateInDocument(doc, path, lineAt, aliases);
  };
  const fail = (message: string, line?: number): LoadedYaml => {
    problems.push({ path: [], message, line });
    return { value: undefined, problems, locate };
  };

  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(source));
  const documents = tokens.filter((token) => token.type === 'document');
  if (documents.length > 1) {
    return fail('the source holds several YAML documents; put exactly one workflow in it', lineAt(documents[1].offset));
  }
  const tooDeep = findTooDeep(tokens, limits.maxDepth);
  if (tooDeep !== null) {
    return fail(`the document is nested too deeply (more than ${limits.maxDepth} levels)`, lineAt(tooDeep));
  }

  [doc] = Array.from(new Composer({ uniqueKeys: true }).compose(tokens, true, source.length));
  for (const error of doc.errors) problems.push({ path: [], message: `YAML syntax error: ${firstLine(error.message)}`, line: lineAt(error.pos[0]) });
  if (doc.errors.length > 0) return { value: undefined, problems, locate };
  // Warnings are things like unknown tags: the value would silently differ from what was written.
  for (const warning of doc.warnings) problems.push({ path: [], message: `YAML: ${firstLine(warning.message)}`, line: lineAt(warning.pos[0]) });

  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return fail('the workflow is empty', 1);
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return fail(
      /excessive alias count|alias resolution is disabled/i.test(message)
        ? `too many alias expansions (a YAML "billion laughs" document?); at most ${limits.maxAliasCount} are allowed`
        : `YAML: ${firstLine(message)}`,
    );
  }
  if (!inspectValue(value, limits.maxDepth, problems)) return { value: undefined, problems, locate };
  return { value, problems, locate };
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

/** Offset of the first collection nested deeper than `maxDepth`, or null. Iterative on purpose. */
function findTooDeep(tokens: CST.Token[], maxDepth: number): number | null {
  const stack: [CST.Token, number][] = tokens.map((token) => [token, 0]);
  while (stack.length > 0) {
    const [token, parentDepth] = stack.pop()!;
    if (token.type === 'document') {
      if (token.value) stack.push([token.value, parentDepth]);
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    const depth = parentDepth + 1;
    if (depth > maxDepth) return token.offset;
    for (const item of token.items) {
      if (item.key) stack.push([item.key, depth]);
      if (item.value) stack.push([item.value, depth]);
    }
  }
  return null;
}

interface Visit {
  value: unknown;
  depth: number;
  parent: Visit | null;
  segment: PathSegment | null;
}

function pathOf(visit: Visit): Path {
  const path: PathSegment[] = [];
  for (let v: Visit | null = visit; v && v.segment !== null; v = v.parent) path.push(v.segment);
  return path.reverse();
}

/**
 * Checks that the value is plain JSON data within the depth limit, without recursion. Aliases can
 * make the value deeper than the source (and even circular), so the depth is checked again here.
 * Returns false when later walks would be unsafe (too deep, circular or too large).
 */
function inspectValue(root: unknown, maxDepth: number, problems: YamlProblem[]): boolean {
  const stack: Visit[] = [{ value: root, depth: 0, parent: null, segment: null }];
  let visited = 0;
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value } = visit;
    if (++visited > MAX_VISITED_VALUES) {
      problems.push({ path: [], message: `the document expands to more than ${MAX_VISITED_VALUES} values` });
      return false;
    }
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) problems.push({ path: pathOf(visit), message: 'must be a finite number' });
      continue;
    }
    const isList = Array.isArray(value);
    const proto = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
    if (!isList && proto !== Object.prototype && proto !== null) {
      problems.push({ path: pathOf(visit), message: 'unsupported YAML value (only strings, numbers, booleans, null, lists and mappings are allowed)' });
      continue;
    }
    if (visit.depth + 1 > maxDepth) {
      problems.push({ path: pathOf(visit), message: `the document is nested too deeply (more than ${maxDepth} levels)` });
      return false;
    }
    // Children are pushed last-first so that they pop, and report, in document order.
    const children: [PathSegment, unknown][] = isList ? value.map((item, index) => [index, item]) : Object.entries(value as object);
    for (let i = children.length - 1; i >= 0; i--) {
      const [segment, item] = children[i];
      if (segment === '__proto__') {
        problems.push({ path: [...pathOf(visit), segment], message: "the property name '__proto__' is not allowed" });
        continue;
      }
      stack.push({ value: item, depth: visit.depth + 1, parent: visit, segment });
    }
  }
  return true;
}

/**
 * Follows `path` through the document's nodes. A map entry answers with the line of its key, so
 * that a problem with a multi-line value points at the property that holds it.
 */
function locateInDocument(
  doc: Document.Parsed,
  path: Path,
  lineAt: (offset: number) => number,
  aliases: Map<Alias, unknown>,
): number | undefined {
  const lineOf = (node: Node | null | undefined): number | undefined => (node?.range ? lineAt(node.range[0]) : undefined);
  let node: unknown = doc.contents;
  let line = lineOf(doc.contents as Node | null);
  for (const segment of path) {
    // Bounded: an alias can only point at an anchor defined before it.
    for (let hops = 0; isAlias(node) && hops < 100; hops++) node = aliases.get(node);
    if (isMap(node) && typeof segment === 'string') {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === segment);
      if (!pair) break;
      line = lineOf(pair.key as Node) ?? lineOf(pair.value as Node) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      line = lineOf(item as Node) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}

/**
 * Maps every alias to its anchored node in one pass. `Alias.resolve(doc)` walks the whole document
 * on each call, which would make locating many diagnostics quadratic.
 */
function indexAliases(doc: Document.Parsed): Map<Alias, unknown> {
  const anchors = new Map<string, unknown>();
  const aliases = new Map<Alias, unknown>();
  visit(doc, {
    Node: (_key, node) => {
      // Document order, as in YAML: an alias refers to the closest preceding anchor of its name.
      if (isAlias(node)) aliases.set(node, anchors.get(node.source));
      else if (isNode(node) && node.anchor) anchors.set(node.anchor, node);
    },
  });
  return aliases;
}
