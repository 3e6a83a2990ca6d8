// freePorts(): the ports the federation, the benchmarks and the tests hand their daemons — real
// sockets on 127.0.0.1, so it lives with the integration tests.
import { createServer } from 'node:net';
import { freePorts } from '../../federation/daemon.ts';

describe('freePorts', () => {
  it('hands out different ports in one call, each free to bind once it returns', async () => {
    const ports = await freePorts(64);
    expect(new Set(ports).size).toBe(64);
    for (const port of ports) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
