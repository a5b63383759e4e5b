import type { SshOptions } from "../runtimes/ssh/ssh-options.js";

/** How a remote resource records its node, so that a reaper in another process can log in again. */
export interface RemoteResourceNode {
  host: string;
  user: string | undefined;
  /** The ssh options without `privateKey`: a secret stays out of the state file. */
  ssh: Omit<SshOptions, "privateKey">;
}

export function nodeForState(host: string, user: string | undefined, ssh: SshOptions): RemoteResourceNode {
  const { privateKey: _, ...rest } = ssh;
  return { host, user, ssh: rest };
}
