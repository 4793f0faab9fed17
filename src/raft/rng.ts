/**
 * The core's only source of randomness is injected (DESIGN.md §1): the driver passes a seeded
 * PRNG in the simulator and a crypto-seeded one in production, so that every run of the
 * simulator with one seed makes the same choices.
 */
export interface Rng {
  /** A uniformly distributed integer in [0, bound). `bound` must be a positive integer. */
  nextInt(bound: number): number;
  /** A uniformly distributed float in [0, 1). */
  nextFloat(): number;
}

/**
 * sfc32 ("small fast counter", from PractRand): 128 bits of state, passes BigCrush, and fast in
 * plain 32-bit JavaScript arithmetic. Seeded through splitmix32 so that nearby seeds diverge.
 */
export class SeededRng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    // Discard the first outputs: sfc32's early outputs correlate with the seed.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  nextInt(bound: number): number {
    if (!(Number.isInteger(bound) && bound > 0)) {
      throw new RangeError(`nextInt bound must be a positive integer, got ${bound}`);
    }
    return Math.floor(this.nextFloat() * bound);
  }
}
