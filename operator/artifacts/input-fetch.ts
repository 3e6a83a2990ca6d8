// The init step that puts a job's inputs in place before its container starts: one init container
// per pod fetches every spec.inputs[] CID as a tar archive from the IPFS gateway the provider's pods
// can reach (GPUProvider spec.ipfsGateway, else the operator's FLOTILLA_IPFS_GATEWAY) into an
// emptyDir, and the main container mounts each archive's root entry read-only at its mountPath:
// a folder's content appears at mountPath; a single-file input is the file at mountPath.
//
// Gateways serve `GET /ipfs/<cid>?format=tar` (IPFS HTTP gateway spec) with one entry named <cid>
// (the file, or the folder with its tree), so the subPath <cid> of the volume is the input itself.
import type { V1Container, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { AIJobInputArtifact } from '../api/types.ts';

export const INPUT_FETCH_CONTAINER = 'flotilla-inputs';
const FETCH_ROOT = '/flotilla/fetch';

/** The script gets the gateway then the CIDs as arguments: nothing from the spec is spliced into shell text. */
export const FETCH_SCRIPT = [
  'set -eu',
  'gateway="${1%/}"; shift',
  'i=0',
  'for cid in "$@"; do',
  '  echo "fetching $cid from $gateway"',
  `  curl -fsSL --retry 5 --retry-all-errors --retry-delay 2 "$gateway/ipfs/$cid?format=tar" -o "${FETCH_ROOT}/$i.tar"`,
  `  tar -x -f "${FETCH_ROOT}/$i.tar" -C "${FETCH_ROOT}/$i" && rm "${FETCH_ROOT}/$i.tar"`,
  `  test -e "${FETCH_ROOT}/$i/$cid" || { echo "input $cid: the gateway's archive has no entry $cid" >&2; exit 1; }`,
  '  i=$((i+1))',
  'done',
].join('\n');

const NO_GATEWAY_SCRIPT =
  'echo "this job has inputs but no IPFS gateway is configured: set spec.ipfsGateway on the GPUProvider or FLOTILLA_IPFS_GATEWAY on the operator" >&2; exit 1';

export const inputVolumeName = (index: number) => `flotilla-input-${index}`;

export interface InputFetchStep {
  readonly initContainers: V1Container[];
  readonly volumes: V1Volume[];
  /** For the main container. */
  readonly mounts: V1VolumeMount[];
}

export function inputFetchStep(inputs: readonly AIJobInputArtifact[] | undefined, gateway: string | undefined, image: string): InputFetchStep {
  if (!inputs || inputs.length === 0) return { initContainers: [], volumes: [], mounts: [] };
  const volumes = inputs.map((_, i) => ({ name: inputVolumeName(i), emptyDir: {} }));
  const fetchMounts = inputs.map((_, i) => ({ name: inputVolumeName(i), mountPath: `${FETCH_ROOT}/${i}` }));
  // The archives land beside the extracted trees, in a scratch volume of their own.
  const scratch = { name: 'flotilla-input-archives', emptyDir: {} };
  return {
    initContainers: [
      {
        name: INPUT_FETCH_CONTAINER,
        image,
        command: ['sh', '-c', gateway ? FETCH_SCRIPT : NO_GATEWAY_SCRIPT, 'fetch-inputs', ...(gateway ? [gateway, ...inputs.map((i) => i.cid)] : [])],
        volumeMounts: [{ name: scratch.name, mountPath: FETCH_ROOT }, ...fetchMounts],
        terminationMessagePolicy: 'FallbackToLogsOnError',
      },
    ],
    volumes: [scratch, ...volumes],
    mounts: inputs.map((input, i) => ({ name: inputVolumeName(i), mountPath: input.mountPath, subPath: input.cid, readOnly: true })),
  };
}
