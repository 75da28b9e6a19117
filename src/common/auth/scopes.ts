// Scopes and principals are engine concepts (the CLI and the store use them too).
export * from '../../engine/access/scopes';
