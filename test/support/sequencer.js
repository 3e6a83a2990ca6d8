// Jest's own order (failed first, then slowest first), with one exception: the suites that drive the
// Pulumi engine run last. `make test` builds the engine in the background while the other suites
// run (cold: ~12 min); a Pulumi suite early in the run would sit waiting for that build while no
// other suite runs (measured on a cold machine: 466 s for a ~60 s suite).
import Sequencer from '@jest/test-sequencer';

const needsPulumiEngine = (path) => /[\\/]test[\\/]pulumi[\\/]/.test(path);

export default class PulumiLastSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    return [...sorted.filter((t) => !needsPulumiEngine(t.path)), ...sorted.filter((t) => needsPulumiEngine(t.path))];
  }
}
