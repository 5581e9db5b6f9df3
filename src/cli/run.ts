/** Entry point that runs the CLI from source or from dist (tests start the service through it with tsx). */
import { main } from './cli.js';

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
