/**
 * The layering docs/architecture.md promises, checked on the source itself: no import cycles
 * anywhere in src/, the engine framework-free and below everything, and engine.ts (the facade)
 * imported by nothing inside the engine. ESLint holds single imports to the rules; a cycle needs
 * the whole graph, which is what this walks.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

// `import … from '…'`, `export … from '…'`, `import('…')` and `require('…')`, type-only included:
// a type-only cycle still means the two files cannot be read (or moved) apart.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function importsOf(file: string): { relative: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const rel: string[] = [];
  const packages: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const spec = match[1];
    if (!spec.startsWith('.')) {
      packages.push(spec);
      continue;
    }
    const base = resolve(dirname(file), spec);
    const target = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => {
      try {
        return statSync(candidate).isFile();
      } catch {
        return false;
      }
    });
    if (target) rel.push(target);
  }
  return { relative: rel, packages };
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const name = (file: string) => relative(SRC, file);

/** Strongly connected components with more than one file (Tarjan), or a file importing itself. */
function cycles(): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string) => {
    indices.set(file, index);
    low.set(file, index);
    index++;
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file)?.relative ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, indices.get(next)!));
      }
    }
    if (low.get(file) === indices.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(name(member));
      } while (member !== file);
      if (component.length > 1 || graph.get(file)!.relative.includes(file)) found.push(component.sort());
    }
  };
  for (const file of files) if (!indices.has(file)) visit(file);
  return found;
}

describe('source layers', () => {
  it('reads the whole tree (the walk is not vacuous)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(graph.get(join(SRC, 'server.ts'))!.relative.length).toBeGreaterThan(5);
  });

  it('has no import cycles', () => {
    expect(cycles()).toEqual([]);
  });

  it('keeps the engine framework-free and below everything', () => {
    const engine = join(SRC, 'engine');
    const offenders: string[] = [];
    for (const [file, imports] of graph) {
      if (!file.startsWith(engine + '/')) continue;
      for (const pkg of imports.packages) if (pkg.startsWith('@nestjs/') || pkg === 'fastify') offenders.push(`${name(file)} → ${pkg}`);
      for (const target of imports.relative) if (!target.startsWith(engine + '/')) offenders.push(`${name(file)} → ${name(target)}`);
    }
    expect(offenders).toEqual([]);
  });

  it('nothing inside the engine imports its facade (engine.ts)', () => {
    const facade = join(SRC, 'engine', 'engine.ts');
    const importers = [...graph].filter(([file, imports]) => file.startsWith(join(SRC, 'engine') + '/') && imports.relative.includes(facade)).map(([file]) => name(file));
    expect(importers).toEqual([]);
  });

  it('src/common never imports src/modules', () => {
    const offenders = [...graph]
      .filter(([file]) => file.startsWith(join(SRC, 'common') + '/'))
      .flatMap(([file, imports]) => imports.relative.filter((target) => target.startsWith(join(SRC, 'modules') + '/')).map((target) => `${name(file)} → ${name(target)}`));
    expect(offenders).toEqual([]);
  });
});
