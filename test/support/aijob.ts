// The one AIJob manifest of the integration tests and benchmarks: a runnable job with test defaults
// (a digest-pinned image, one replica, one GPU, a simulated run of a few seconds), any spec field
// given over them. Tests that exercise admission keep raw objects instead (admission-cases.ts): there
// the object is the point.
import { SIM } from '../../federation/workload.ts';
import { GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJobManifest, AIJobSpecInput } from '../../operator/api/types.ts';

/** A digest-pinned image: the simulated executor runs nothing, so any digest will do. */
export const TEST_IMAGE = `registry.example/trainer@sha256:${'a'.repeat(64)}`;

/** What the federation's simulated executor does with the job's pods (federation/workload.ts). */
export interface SimulatedRun {
  /** How long each replica runs (default 3). */
  readonly runSeconds?: number;
  /** Reports a checkpoint this often. */
  readonly checkpointSeconds?: number;
  /** The text the replica writes as its output. */
  readonly output?: string;
  /** The output is a function of the work alone (verified compute compares it across providers). */
  readonly deterministic?: boolean;
  /** The replica ends Failed instead of Succeeded. */
  readonly outcome?: 'Succeeded' | 'Failed';
}

/** The sim.flotilla.dev annotations of a simulated run. */
export function simAnnotations(run: SimulatedRun = {}): Record<string, string> {
  return {
    [SIM.runSeconds]: String(run.runSeconds ?? 3),
    ...(run.checkpointSeconds !== undefined ? { [SIM.checkpointSeconds]: String(run.checkpointSeconds) } : {}),
    ...(run.output !== undefined ? { [SIM.output]: run.output } : {}),
    ...(run.deterministic ? { [SIM.deterministic]: 'true' } : {}),
    ...(run.outcome !== undefined ? { [SIM.outcome]: run.outcome } : {}),
  };
}

export type AIJobOptions = Partial<AIJobSpecInput> & {
  readonly name: string;
  readonly namespace: string;
  /**
   * The simulated run (default: 3 s); its annotations go under any spec.podAnnotations given. false:
   * none, so the executor leaves the pods Running until something else ends them.
   */
  readonly sim?: SimulatedRun | false;
};

/** An AIJob `name` in `namespace`: the test defaults with every given spec field over them. */
export function aijobManifest({ name, namespace, sim, ...spec }: AIJobOptions): AIJobManifest {
  const podAnnotations = { ...(sim === false ? {} : simAnnotations(sim)), ...spec.podAnnotations };
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'AIJob',
    metadata: { name, namespace },
    spec: {
      image: TEST_IMAGE,
      replicas: 1,
      resources: { gpus: 1 },
      ...spec,
      ...(Object.keys(podAnnotations).length > 0 ? { podAnnotations } : {}),
    },
  };
}
