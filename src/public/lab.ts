export { Lab, type LabNode, type LabNodeOptions, type LabOptions } from "../lab/lab.js";
export { describeLab, labDown, labUp, parseNodeSpec } from "../lab/lab-commands.js";
export type { LabNetwork } from "../lab/lab-state.js";
export type { LabSubnets } from "../lab/lab-subnets.js";
