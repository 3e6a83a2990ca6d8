// The V8 settings the operator process runs with, wherever it is started (the chart's
// operator.nodeOptions, `make run`, `make demo`, the tests' and benchmarks' operators), so what is
// measured is what is shipped.
//
// --max-semi-space-size=2 (MiB): V8 sizes the young generation from the machine's memory, and on a
// 24 GiB host it grew to well over 100 MiB during a 500-job dispatch and was never given back. The
// dispatch benchmark (bench/dispatch.ts, 2026-12-05, 2 cores): RSS at rest with 500 jobs 385–418 MiB
// by default, 330 MiB with 8 MiB semi-spaces, 279 MiB with 2 MiB (heap_total 232–271 → 150 → 130 MiB;
// heap_used ~70–90 MiB throughout); the price is more scavenges: 15.0 s of CPU for the whole run
// against 11.4–12.7 s by default. glibc's MALLOC_ARENA_MAX=2 alone changed nothing (418 MiB).
export const OPERATOR_NODE_OPTIONS = '--max-semi-space-size=2';
