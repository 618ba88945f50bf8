/**
 * Where JSON text first goes wrong, as line and column (1-based), for a configuration
 * error people can act on: JSON.parse's own message gives a position only sometimes.
 * Called only after JSON.parse failed; a strict recursive-descent reading of RFC 8259.
 */
export function jsonErrorAt(text: string): { line: number; column: number; found: string } {
  const at = new JsonReader(text).firstError();
  const before = text.slice(0, at).split('\n');
  const found = at >= text.length ? 'the end of the file' : JSON.stringify(text[at]);
  return {
    line: before.length,
    column: (before[before.length - 1]?.length ?? 0) + 1,
    found,
  };
}

/** Thrown with the offset where the text stops being JSON; caught in firstError. */
class Stop {
  readonly at: number;
  constructor(at: number) {
    this.at = at;
  }
}

/** Reads one JSON document, one production per method, stopping at the first fault. */
class JsonReader {
  #i = 0;
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  /** The offset of the first fault, or the text's length when there is none. */
  firstError(): number {
    try {
      this.#value();
      this.#ws();
      return Math.min(this.#i, this.#text.length);
    } catch (stop) {
      if (stop instanceof Stop) return stop.at;
      throw stop;
    }
  }

  #fail(): never {
    throw new Stop(this.#i);
  }

  #ws() {
    while (this.#i < this.#text.length && ' \t\n\r'.includes(this.#text[this.#i] as string)) {
      this.#i++;
    }
  }

  #value(): void {
    this.#ws();
    const c = this.#text[this.#i];
    if (c === '{') this.#object();
    else if (c === '[') this.#array();
    else if (c === '"') this.#string();
    else if (c === 't') this.#literal('true');
    else if (c === 'f') this.#literal('false');
    else if (c === 'n') this.#literal('null');
    else this.#number();
  }

  #object() {
    this.#i++;
    this.#ws();
    if (this.#text[this.#i] === '}') {
      this.#i++;
      return;
    }
    for (;;) {
      this.#ws();
      this.#string();
      this.#ws();
      if (this.#text[this.#i] !== ':') this.#fail();
      this.#i++;
      this.#value();
      if (this.#closes('}')) return;
    }
  }

  #array() {
    this.#i++;
    this.#ws();
    if (this.#text[this.#i] === ']') {
      this.#i++;
      return;
    }
    for (;;) {
      this.#value();
      if (this.#closes(']')) return;
    }
  }

  /** After a member: true at the closing bracket, false after a comma, a fault otherwise. */
  #closes(bracket: string): boolean {
    this.#ws();
    const c = this.#text[this.#i];
    if (c !== ',' && c !== bracket) this.#fail();
    this.#i++;
    return c === bracket;
  }

  #string() {
    const text = this.#text;
    if (text[this.#i] !== '"') this.#fail();
    this.#i++;
    while (this.#i < text.length && text[this.#i] !== '"') {
      if (text.charCodeAt(this.#i) < 0x20) this.#fail();
      if (text[this.#i] === '\\') this.#escape();
      this.#i++;
    }
    if (this.#i >= text.length) this.#fail();
    this.#i++;
  }

  /** At a backslash: leaves the cursor on the escape's last character. */
  #escape() {
    const text = this.#text;
    this.#i++;
    if (text[this.#i] === 'u') {
      if (!/^[0-9a-fA-F]{4}$/.test(text.slice(this.#i + 1, this.#i + 5))) this.#fail();
      this.#i += 4;
    } else if (!'"\\/bfnrt'.includes(text[this.#i] ?? 'x')) this.#fail();
  }

  #number() {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.#text.slice(this.#i));
    if (!m) this.#fail();
    this.#i += m[0].length;
  }

  #literal(word: string) {
    if (!this.#text.startsWith(word, this.#i)) this.#fail();
    this.#i += word.length;
  }
}
