export { Harness, type ServiceHandles } from "../harness/harness.js";
export { HarnessBuilder, type ServiceMap } from "../harness/builder.js";
export { ServiceHandle, type ServiceStatus } from "../harness/service-handle.js";
export { HarnessFaults, type Fault } from "../harness/harness-faults.js";
export type { FaultInfo, FaultStream, Stream, Toxic } from "../topology/fault-types.js";
export type { HarnessDescriptor, ServiceDescriptor, Registry, RegistryEntry } from "../plan/descriptor.js";
export type { ServiceState } from "../harness/service-controller.js";
export type { LogLine, LogsOptions } from "../logs/service-log.js";
export type { Plan, PlannedProxy, PlannedService, ServiceAddresses } from "../plan/plan.js";
export { parseTopology } from "../topology/yaml.js";
export { renderEnvFile } from "../plan/env-file.js";
export type { DockerBuild, DockerContainerOptions, DockerFile, DockerOptions } from "../runtimes/docker/docker-options.js";
export type { ServiceFile } from "../topology/service-files.js";
export type { RemoteBinaryOptions, RemoteLanOptions, RemotePackageOptions, SshOptions } from "../runtimes/ssh/ssh-options.js";
export type { WireguardOptions } from "../mesh/wireguard-options.js";
export type { MeshControl, PeerStatus } from "../mesh/mesh-control.js";
export { pack, type PackResult, type PackageManifest } from "../package/pack.js";
export type {
  CommonServiceOptions,
  FaultOptions,
  HarnessEvent,
  HarnessOptions,
  HealthCheck,
  NetworkOptions,
  ProcessOptions,
  RestartPolicy,
  StartOptions,
  TargetKind,
  TopologySpec,
} from "../topology/types.js";
export { ConfigError, HarnessError, StartError, StopError, type ErrorCode } from "../errors.js";
