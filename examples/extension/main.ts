import { bootstrap } from 'autokestra';
import { GreetingsModule } from './greetings.module';

/**
 * The team's server: Autokestra with one module added, served the way `autokestra serve` does
 * (configuration from config.yaml / AUTOKESTRA_CONFIG and the environment, graceful shutdown).
 */
async function main(): Promise<void> {
  const server = await bootstrap({ imports: [GreetingsModule] });
  process.stdout.write(`listening on ${server.url}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
