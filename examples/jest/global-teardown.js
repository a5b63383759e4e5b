import { globalTeardown } from "meshbed/jest";

export default globalTeardown();
