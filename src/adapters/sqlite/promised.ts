// The port face of a synchronous table: better-sqlite3 answers at once, so each method
// runs its statement (or its one transaction) when called and returns a settled promise.
// A throw becomes a rejection, as it would from a store over the network.

/** `T` with every method returning a Promise of what it returned. */
export type Promised<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : T[K] };

export function promised<T extends object>(table: T): Promised<T> {
  return new Proxy(table, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          return Promise.resolve(value.apply(target, args));
        } catch (err) {
          return Promise.reject(err);
        }
      };
    },
  }) as unknown as Promised<T>;
}
