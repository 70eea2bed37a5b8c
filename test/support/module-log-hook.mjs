// Loaded with `node --import` into a child process: records the URL of every module the process
// resolves (one a line) in the file named by SWITCHYARD_TEST_MODULE_LOG, so a test can see which
// packages a running server has loaded.
import { register } from 'node:module';

register(new URL('./module-log-loader.mjs', import.meta.url), {
  data: { file: process.env.SWITCHYARD_TEST_MODULE_LOG },
});
