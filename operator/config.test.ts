// The job agent's settings: which image it runs from and where it adds, from the environment.
import { readFileSync } from 'node:fs';
import { DEFAULT_AGENT_IMAGE, loadConfig } from './config.ts';

describe('job agent configuration', () => {
  it("defaults to this release's operator image (package.json's version)", () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(DEFAULT_AGENT_IMAGE).toBe(`ghcr.io/flotilla/operator:${version}`);
    expect(loadConfig({}).artifacts).toMatchObject({ agentImage: DEFAULT_AGENT_IMAGE });
    expect(loadConfig({}).artifacts.agentIpfsApi).toBeUndefined();
  });

  it('takes the image the chart sets and the default IPFS API for agents', () => {
    const config = loadConfig({ FLOTILLA_AGENT_IMAGE: 'registry.example/flotilla@sha256:' + 'b'.repeat(64), FLOTILLA_AGENT_IPFS_API: 'http://kubo.ipfs:5001' });
    expect(config.artifacts).toMatchObject({ agentImage: 'registry.example/flotilla@sha256:' + 'b'.repeat(64), agentIpfsApi: 'http://kubo.ipfs:5001' });
  });
});
