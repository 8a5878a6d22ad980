/**
 * `compute` remembered for at most `entries` keys: for pure functions whose
 * answers are asked for over and over on hot paths (the same cursor MACs,
 * the same formatted times on every list). When full it starts over, which
 * keeps the bound without an eviction order to maintain; a key flood costs
 * only speed.
 */
export function boundedMemo<K, V>(entries: number, compute: (key: K) => V): (key: K) => V {
  const memo = new Map<K, V>();
  return (key) => {
    let value = memo.get(key);
    if (value === undefined) {
      value = compute(key);
      if (memo.size >= entries) memo.clear();
      memo.set(key, value);
    }
    return value;
  };
}
