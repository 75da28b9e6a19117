import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The engine is a library shared by the CLI and the HTTP modules: no web framework inside.
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@nestjs/*'], message: 'src/engine is framework-free: no @nestjs imports.' },
            { group: ['fastify', 'fastify/*', '@fastify/*'], message: 'src/engine is framework-free: no fastify imports.' },
            { group: ['**/common/**', '**/modules/**', '**/mcp/**', '**/server', '**/cli'], message: 'src/engine is the bottom layer: it imports nothing above it (docs/architecture.md).' },
          ],
        },
      ],
    },
  },
  {
    // Layers point down (docs/architecture.md): the cross-cutting pieces never reach into a feature module.
    files: ['src/common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/modules/**'], message: 'src/common does not import src/modules (docs/architecture.md).' }] }],
    },
  },
  {
    // Examples are a team's code: they use the package's public surface (src/index.ts), nothing internal.
    files: ['examples/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/**', '**/dist/**', '**/test/**', 'autokestra/*'], message: "examples import only the public surface: from 'autokestra' (src/index.ts, docs/extending.md)." }] },
      ],
    },
  },
);
