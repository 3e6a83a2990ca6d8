// client-node informers relist on 410 Gone and reconnect on timeouts, but on any other error they
// stop after calling the error handler. This keeps one running: restart with exponential backoff,
// reset once a start succeeds.
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
}

/** Starts the informer and keeps it running; returns a stop function. */
export function keepInformerRunning<T extends KubernetesObject>(informer: Informer<T>, name: string, log: Logger, backoff: BackoffOptions = {}): () => void {
  const initial = backoff.initialMs ?? 500;
  const max = backoff.maxMs ?? 30_000;
  let delay = initial;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    if (stopped) return;
    informer.start().then(() => { delay = initial; }, (err: unknown) => {
      log('warn', 'informer failed to start', { informer: name, error: errorMessage(err) });
      schedule();
    });
  };
  const schedule = () => {
    if (stopped || timer) return;
    log('info', 'restarting informer', { informer: name, inMs: delay });
    timer = setTimeout(() => { timer = undefined; start(); }, delay);
    delay = Math.min(delay * 2, max);
  };
  informer.on('error', (err: unknown) => {
    log('warn', 'informer stopped', { informer: name, error: errorMessage(err) });
    schedule();
  });
  start();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    void informer.stop();
  };
}
