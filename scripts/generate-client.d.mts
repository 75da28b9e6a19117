// Types of scripts/generate-client.mjs, for test/e2e/client.e2e.spec.ts (the script itself runs as plain JS).
export declare const CLIENT_DIR: string;
export declare const DOCUMENT_FILE: string;
export declare const SCHEMA_FILE: string;
/** The document as committed: pretty-printed, keys in the order the server serves them. */
export declare function documentText(document: unknown): string;
/** The TypeScript types of the document (`paths`, `components`, `operations`), as committed. */
export declare function schemaSource(document: unknown): Promise<string>;
