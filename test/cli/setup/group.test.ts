// Every other test file of this directory, in this one process (test/helpers/group.ts).
import { runGroup } from '../../helpers/group.js';

await runGroup(import.meta.url);
