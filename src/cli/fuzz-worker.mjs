// Worker entry for `hvcoco fuzz --workers K`: Node 20 cannot start a .ts worker
// directly, so this JavaScript file registers tsx and loads the TypeScript body.
import { register } from "tsx/esm/api";

register();
await import("./fuzz-worker.ts");
