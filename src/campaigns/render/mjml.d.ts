// mjml 5 ships no types; this declares only what render/compile.ts uses.
declare module 'mjml' {
  interface MjmlError {
    line: number;
    message: string;
    tagName: string;
    formattedMessage: string;
  }
  interface MjmlOptions {
    validationLevel?: 'strict' | 'soft' | 'skip';
    keepComments?: boolean;
    filePath?: string;
  }
  interface MjmlResult {
    html: string;
    errors: MjmlError[];
  }
  /** Rejects with an Error carrying `errors: MjmlError[]` when strict validation fails. */
  export default function mjml2html(source: string, options?: MjmlOptions): Promise<MjmlResult>;
}
