/** Resource commands: clients of the REST API. */
export async function runApiCommand(argv: string[]): Promise<number> {
  process.stderr.write(`dwsbox: unknown command ${argv.join(' ')}; see npx dwsbox --help\n`);
  return 2;
}
