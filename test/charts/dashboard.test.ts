// The hub chart's Grafana dashboard: rendered by real helm, accepted by the real hub apiserver, and
// in step with the operator — every series a panel queries is one the operator exports, and every
// instrument the operator exports has a panel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '../../federation/paths.ts';
import { federation } from '../support/federation.ts';
import { documents, helm, kubectl } from './helm.ts';

const chart = join(repoRoot, 'charts', 'flotilla');

/** Instrument names created in operator/telemetry/metrics.ts. */
function exportedInstruments(): Set<string> {
  const source = readFileSync(join(repoRoot, 'operator', 'telemetry', 'metrics.ts'), 'utf8');
  return new Set([...source.matchAll(/create(?:Counter|Histogram|ObservableGauge|UpDownCounter)\('(flotilla_[a-z_]+)'/g)].map((m) => m[1] as string));
}

describe('Grafana dashboard in the hub chart', () => {
  it('is off by default and, when on, renders a labelled ConfigMap the hub accepts', async () => {
    expect(documents(await helm(['template', 'flotilla', chart, '--namespace', 'flotilla-system'])).some((d) => /name: flotilla-dashboard/.test(d))).toBe(
      false,
    );
    const rendered = await helm([
      'template',
      'flotilla',
      chart,
      '--namespace',
      'flotilla-system',
      '--set',
      'metrics.grafanaDashboard.enabled=true',
      '--show-only',
      'templates/grafana-dashboard.yaml',
    ]);
    const cm = yaml.load(rendered) as { kind: string; metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(cm.kind).toBe('ConfigMap');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const out = await kubectl(
      federation().hub.kubeconfig,
      ['apply', '--dry-run=server', '-n', 'default', '-f', '-'],
      rendered.replace(/namespace: flotilla-system/, 'namespace: default'),
    );
    expect(out).toMatch(/configmap\/flotilla-dashboard (created|configured|unchanged) \(server dry run\)/);
  });

  it('queries only series the operator exports, and has a panel for every instrument', async () => {
    const rendered = await helm([
      'template',
      'flotilla',
      chart,
      '--set',
      'metrics.grafanaDashboard.enabled=true',
      '--show-only',
      'templates/grafana-dashboard.yaml',
    ]);
    const cm = yaml.load(rendered) as { data: Record<string, string> };
    const dashboard = JSON.parse(cm.data['flotilla.json'] ?? '{}') as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exported = exportedInstruments();
    expect(exported.size).toBeGreaterThanOrEqual(10);
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const t of panel.targets) for (const m of t.expr.matchAll(/flotilla_[a-z_]+/g)) used.add(m[0].replace(/_(bucket|sum|count)$/, ''));
    }
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    expect([...exported].filter((name) => !used.has(name))).toEqual([]);
  });
});
