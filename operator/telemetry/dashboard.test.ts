// The hub chart's Grafana dashboard groups only by labels the operator really puts on each series: a
// panel that says `by (from, to)` over a series labelled from_provider/to_provider draws one
// nameless line. Every metric is recorded once here and scraped as Prometheus would; each panel's
// `by (…)` labels are checked against that scrape. (test/charts/dashboard.test.ts checks the names.)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  installMetrics,
  recordApiRequest,
  recordCallback,
  recordJobClaimedElsewhere,
  recordJobFinished,
  recordMalformedObject,
  recordOrphanDeleted,
  recordPin,
  recordPlacementDecision,
  recordPlacementLatency,
  recordPreemption,
  recordProvenMismatch,
  recordProviderViolation,
  recordReconcile,
  recordRecovery,
  recordSettlement,
  recordWatchExpired,
  recordWriteConflict,
  setJobPhaseSource,
  setLeader,
  setProviderSource,
  uninstallMetrics,
} from './metrics.ts';

const dashboardPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'charts', 'flotilla', 'dashboards', 'flotilla.json');

/** Every series name in a Prometheus text scrape → the label names it carries. */
function labelsBySeries(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^(flotilla_[a-z_]+)(?:\{([^}]*)\})? /.exec(line);
    if (!m?.[1]) continue;
    const labels = out.get(m[1]) ?? new Set<string>();
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1] as string);
    out.set(m[1], labels);
  }
  return out;
}

async function scrapeEverything(): Promise<Map<string, Set<string>>> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  installMetrics(new MeterProvider({ readers: [exporter] }));
  try {
    setLeader(true);
    setJobPhaseSource(() => new Map([['Running', 1]]));
    setProviderSource(() => [{ provider: 'p', ready: true, freeGpus: new Map([['NVIDIA-L4', 1]]) }]);
    recordPreemption('p', 'NodeLost');
    recordWriteConflict('flotilla-payments', 'status');
    recordRecovery('p', 'q');
    recordJobFinished('Succeeded');
    recordPlacementLatency(1, 'p');
    recordPlacementDecision(0.001, 'Placed');
    recordPin('output');
    recordSettlement('USDC', '1');
    recordWatchExpired('pods');
    recordApiRequest('hub', 'GET', 5);
    recordReconcile('aijob', 0.01, 'success');
    recordCallback('delivered');
    recordMalformedObject('p', 'Node');
    recordProviderViolation('p');
    recordProvenMismatch('p');
    recordOrphanDeleted('p');
    recordJobClaimedElsewhere();
    const { resourceMetrics } = await exporter.collect();
    return labelsBySeries(new PrometheusSerializer('', false, undefined, true, true).serialize(resourceMetrics));
  } finally {
    uninstallMetrics();
  }
}

describe('the Grafana dashboard', () => {
  it('groups every panel by labels its series carries', async () => {
    const series = await scrapeEverything();
    const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const problems: string[] = [];
    let checked = 0;
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        const names = [...expr.matchAll(/flotilla_[a-z_]+/g)].map((m) => m[0]);
        const grouped = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) =>
          (m[1] ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
        for (const name of names) {
          const labels = series.get(name);
          if (!labels) {
            problems.push(`${panel.title}: ${name} was not in the scrape (record it above)`);
            continue;
          }
          for (const label of grouped)
            if (!labels.has(label)) problems.push(`${panel.title}: ${name} has no label "${label}" (it has ${[...labels].join(', ') || 'none'})`);
          checked++;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('sees flotilla_recoveries_total labelled from_provider and to_provider (the Recoveries panel once grouped by from, to)', async () => {
    const series = await scrapeEverything();
    expect([...(series.get('flotilla_recoveries_total') ?? [])].sort()).toEqual(['from_provider', 'to_provider']);
  });
});
