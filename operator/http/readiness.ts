// /readyz: ready when the caches this replica answers from are synced. Every replica keeps the hub
// view (the API, webhooks and metrics read it); the leader also needs its controllers' caches (the
// hub AIJob cache and the GPUProvider list). A standby with a synced hub view is ready: it serves
// webhooks and the API while it waits for the lease. The role is reported either way.
export type Role = 'starting' | 'standby' | 'leader';

/** Undefined when satisfied; otherwise why not. */
export type ReadinessCheck = () => string | undefined;

export interface ReadinessReport {
  readonly ready: boolean;
  readonly role: Role;
  readonly leader?: string;
  /** Every unmet check, for humans and for the probe's log. */
  readonly reasons: readonly string[];
}

export class Readiness {
  role: Role = 'starting';
  /** Identity of the current leader, when known. */
  leader: string | undefined;
  private readonly always = new Map<string, ReadinessCheck>();
  private readonly whenLeading = new Map<string, ReadinessCheck>();

  /** A check that holds for every replica. */
  require(name: string, check: ReadinessCheck): void {
    this.always.set(name, check);
  }

  /** A check that holds while this replica leads (its controllers' caches). */
  requireWhileLeading(name: string, check: ReadinessCheck): void {
    this.whenLeading.set(name, check);
  }

  /** Drops the leader's checks (on losing the lease or on shutdown). */
  clearLeaderChecks(): void {
    this.whenLeading.clear();
  }

  report(): ReadinessReport {
    const reasons: string[] = [];
    const run = (checks: Map<string, ReadinessCheck>) => {
      for (const [name, check] of checks) {
        let why: string | undefined;
        try {
          why = check();
        } catch (err) {
          why = `check failed: ${err instanceof Error ? err.message : String(err)}`;
        }
        if (why !== undefined) reasons.push(`${name}: ${why}`);
      }
    };
    run(this.always);
    if (this.role === 'leader') run(this.whenLeading);
    return { ready: reasons.length === 0, role: this.role, ...(this.leader ? { leader: this.leader } : {}), reasons };
  }
}
