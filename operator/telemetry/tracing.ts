// Traces: one trace per AIJob, whose trace id is derived from the job's uid, holding a span per
// reconcile of the job and a span per phase it went through (started when the phase was entered,
// ended when it was left). Deriving the id means every replica and every restart of the operator
// adds to the same trace, with no state kept anywhere.
//
// Spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the exporter reads the standard OTEL_* variables itself.
// Without it the tracer is OpenTelemetry's no-op one: spans cost nothing.
import { createHash } from 'node:crypto';
import { context, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export const TRACER_NAME = 'flotilla-operator';

export interface TracingOptions {
  readonly serviceName: string;
  readonly serviceInstance: string;
  /** Export over OTLP/HTTP; the endpoint itself comes from the OTEL_EXPORTER_OTLP_* variables. */
  readonly otlp: boolean;
  /** Extra processors (tests: an in-memory exporter). */
  readonly processors?: readonly SpanProcessor[];
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly exporting: boolean;
  shutdown(): Promise<void>;
}

/** Registers the global tracer provider when there is somewhere to send spans; a no-op tracer otherwise. */
export function startTracing(opts: TracingOptions): Tracing {
  const processors: SpanProcessor[] = [...(opts.processors ?? [])];
  if (opts.otlp) processors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  if (processors.length === 0) return { tracer: trace.getTracer(TRACER_NAME), exporting: false, shutdown: async () => undefined };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName, 'service.instance.id': opts.serviceInstance }),
    spanProcessors: processors,
  });
  provider.register();
  return { tracer: provider.getTracer(TRACER_NAME), exporting: opts.otlp, shutdown: () => provider.shutdown() };
}

/** The trace of one AIJob: trace id and root span id are the first 24 bytes of sha256(uid). */
export function jobTraceContext(uid: string, parent: Context = context.active()): Context {
  const digest = createHash('sha256').update(`flotilla.dev/aijob/${uid}`).digest('hex');
  return trace.setSpanContext(parent, { traceId: digest.slice(0, 32), spanId: digest.slice(32, 48), traceFlags: TraceFlags.SAMPLED, isRemote: true });
}

export interface JobRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export const jobAttributes = (job: JobRef, provider?: string) => ({
  'flotilla.job': `${job.namespace}/${job.name}`,
  'flotilla.job.uid': job.uid,
  ...(provider ? { 'flotilla.provider': provider } : {}),
});

/** A span for one phase of a job, from when it was entered to when it was left. */
export function recordPhaseSpan(
  tracer: Tracer,
  job: JobRef,
  phase: string,
  start: number,
  end: number,
  attrs: { provider?: string; attempt?: number; next?: string } = {},
): void {
  const span = tracer.startSpan(
    `AIJob ${phase}`,
    {
      kind: SpanKind.INTERNAL,
      startTime: start,
      attributes: {
        ...jobAttributes(job, attrs.provider),
        'flotilla.phase': phase,
        ...(attrs.next ? { 'flotilla.phase.next': attrs.next } : {}),
        ...(attrs.attempt !== undefined ? { 'flotilla.attempt': attrs.attempt } : {}),
      },
    },
    jobTraceContext(job.uid),
  );
  span.end(end);
}

/** Starts the span of one reconcile; the returned function ends it with the outcome. */
export function startReconcileSpan(
  tracer: Tracer,
  controller: string,
  key: string,
  job: JobRef | undefined,
): (outcome: { error?: unknown; provider?: string; phase?: string }) => void {
  const parent = job?.uid ? jobTraceContext(job.uid) : context.active();
  const span: Span = tracer.startSpan(
    `reconcile ${controller}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: { 'flotilla.controller': controller, 'flotilla.key': key, ...(job ? jobAttributes(job) : {}) },
    },
    parent,
  );
  return ({ error, provider, phase }) => {
    if (provider) span.setAttribute('flotilla.provider', provider);
    if (phase) span.setAttribute('flotilla.phase', phase);
    if (error !== undefined) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    span.end();
  };
}
