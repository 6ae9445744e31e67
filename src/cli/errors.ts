// Exit codes of every hvcoco command: 0 ok, 1 a finding (leak, violation), 2 bad input.
export const EXIT_OK = 0;
export const EXIT_FINDING = 1;
export const EXIT_BAD_INPUT = 2;

/** Bad input from the user: printed as one line, exit code 2, no stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
