import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This repository's charts/, which the components install from by default. */
export const chartsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'charts');
