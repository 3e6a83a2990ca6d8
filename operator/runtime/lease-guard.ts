// Fencing for a leader that was frozen (SIGSTOP, a long GC pause, a suspended VM) past its lease:
// when it resumes, its event loop still holds work in flight — a reconcile half-way through, a
// buffered watch event — and would act on authority it lost while it stood still. Every side
// effect calls assertLeading() right before its request; it throws once the lease has not been
// renewed within the renew deadline (measured on the monotonic clock, which keeps counting while
// the process is stopped), before the renew loop has even had a chance to notice.
//
// Until main.ts installs the elector's check, everything passes (tests, tools without election).

export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
}

let holds: () => boolean = () => true;

export function installLeaseGuard(check: () => boolean): void {
  holds = check;
}

export function assertLeading(action: string): void {
  if (!holds()) throw new NotLeaderError(`not the leader any more (lease not renewed within the renew deadline): refusing to ${action}`);
}
