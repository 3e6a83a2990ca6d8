// The job agent: runs beside a training container and makes it resumable, and its outputs
// content-addressed, with no change to the container (docs/agent.md).
//
//   node operator/agent/main.ts restore   init container: puts FLOTILLA_RESUME_FROM_CID into the
//                                         checkpoint folder, then exits (0 done or nothing to do,
//                                         1 could not, 2 misconfigured)
//   node operator/agent/main.ts run       native sidecar: adds and reports checkpoints while the
//                                         trainer runs; on SIGTERM/SIGINT adds the last one and the
//                                         output, writes the termination message, exits 0
//
// Configured by environment variables only (config.ts). The only place adapters are built.
import { errorMessage, jsonLogger } from '../log.ts';
import { AgentConfigError, parseAgentConfig } from './config.ts';
import type { AgentCommand, AgentConfig } from './config.ts';
import { AgentKubo } from './kubo.ts';
import { sendReport } from './report-client.ts';
import { restoreCheckpoint } from './restore.ts';
import { AgentRun } from './run.ts';

const USAGE = 'usage: node operator/agent/main.ts restore|run (configured by FLOTILLA_* environment variables: docs/agent.md)';

/** One line on stderr (what `kubectl describe` and the termination message fallback show), then exit. */
function exitWith(code: number, line: string): never {
  process.stderr.write(`flotilla-agent: ${line.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(code);
}

function configFor(command: AgentCommand): AgentConfig {
  try {
    return parseAgentConfig(process.env, command);
  } catch (err) {
    if (err instanceof AgentConfigError) exitWith(2, err.message);
    throw err;
  }
}

async function restore(): Promise<void> {
  const config = configFor('restore');
  const log = jsonLogger('agent-restore');
  try {
    await restoreCheckpoint(config, {
      kubo: new AgentKubo(config.ipfsApi, config.ipfsAuth),
      log,
      now: Date.now,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    });
  } catch (err) {
    exitWith(1, `restore failed: ${errorMessage(err)}`);
  }
  process.exit(0);
}

async function run(): Promise<void> {
  const config = configFor('run');
  const log = jsonLogger('agent');
  const agent = new AgentRun(config, { kubo: new AgentKubo(config.ipfsApi, config.ipfsAuth), log, now: Date.now, send: sendReport });
  const stop = (signal: string) => void agent.flush(signal).then(() => process.exit(0));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.start();
}

const command = process.argv[2];
if (process.argv.length !== 3 || (command !== 'restore' && command !== 'run')) exitWith(2, USAGE);
await (command === 'restore' ? restore() : run()).catch((err: unknown) => exitWith(1, errorMessage(err)));
