// The operator's telemetry, built once in main.ts: an OpenTelemetry MeterProvider whose reader is
// the Prometheus exporter (served by our Express app on /metrics, not by the exporter's own
// server), the typed instruments of ./metrics.ts, the tracer (OTLP only when configured), and the
// hooks that feed them from the rate-limited clients and the work queues.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { RateLimitedKubeConfig } from '../runtime/rate-limited-kubeconfig.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import type { ReconcileObserver } from '../runtime/work-queue.ts';
import { installMetrics, recordApiRequest, recordReconcile, recordWatchExpired, uninstallMetrics } from './metrics.ts';
import type { FlotillaMetrics } from './metrics.ts';
import { startReconcileSpan, startTracing } from './tracing.ts';
import type { JobRef } from './tracing.ts';

export interface TelemetryOptions {
  readonly serviceInstance: string;
  /** Export spans over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT or _TRACES_ENDPOINT is set). */
  readonly otlp: boolean;
  readonly spanProcessors?: readonly SpanProcessor[];
}

export interface Telemetry {
  readonly metrics: FlotillaMetrics;
  readonly tracer: Tracer;
  readonly exportingTraces: boolean;
  /** Serves the Prometheus text format (mount on GET /metrics). */
  serveMetrics(req: IncomingMessage, res: ServerResponse): void;
  /**
   * A work-queue observer: a span and a duration sample per reconcile. `describe` looks the key up
   * (before, for the job's trace; after, for its provider and phase).
   */
  reconcileObserver(controller: string, describe: (key: string) => { job?: JobRef; provider?: string; phase?: string } | undefined): ReconcileObserver;
  shutdown(): Promise<void>;
}

export function startTelemetry(opts: TelemetryOptions): Telemetry {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const meterProvider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'flotilla-operator', 'service.instance.id': opts.serviceInstance }),
    readers: [exporter],
  });
  const metrics = installMetrics(meterProvider);
  const tracing = startTracing({
    serviceName: 'flotilla-operator',
    serviceInstance: opts.serviceInstance,
    otlp: opts.otlp,
    ...(opts.spanProcessors ? { processors: opts.spanProcessors } : {}),
  });
  RateLimitedKubeConfig.observer = ({ cluster, verb, waitedMs, urgency }) => recordApiRequest(cluster, verb, waitedMs, urgency);
  ResilientInformer.expiredObserver = (path) => recordWatchExpired(path.split('/').at(-1) ?? path);

  return {
    metrics,
    tracer: tracing.tracer,
    exportingTraces: tracing.exporting,
    serveMetrics: (req, res) => exporter.getMetricsRequestHandler(req, res),
    reconcileObserver: (controller, describe) => (key) => {
      const started = performance.now();
      const endSpan = startReconcileSpan(tracing.tracer, controller, key, describe(key)?.job);
      return ({ error, requeueAfterMs }) => {
        recordReconcile(controller, (performance.now() - started) / 1000, error !== undefined ? 'error' : requeueAfterMs !== undefined ? 'requeue' : 'success');
        const after = describe(key);
        endSpan({
          ...(error !== undefined ? { error } : {}),
          ...(after?.provider ? { provider: after.provider } : {}),
          ...(after?.phase ? { phase: after.phase } : {}),
        });
      };
    },
    shutdown: async () => {
      RateLimitedKubeConfig.observer = undefined;
      ResilientInformer.expiredObserver = undefined;
      uninstallMetrics();
      await Promise.allSettled([meterProvider.shutdown(), tracing.shutdown()]);
    },
  };
}
