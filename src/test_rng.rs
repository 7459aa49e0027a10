//! The one deterministic random number generator of chatd's tests (xorshift64):
//! the unit tests' random inputs, the property tests (tests/it/properties.rs),
//! the fuzz helpers (fuzz/src/lib.rs) and the integration tests' noise all
//! come from it, reproducible from a seed, with no extra crate. Public only for
//! those tests (hidden from the docs); the daemon does not use it.

/// xorshift64. The seed must not be zero.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.bits() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `len` bytes, each as likely as any other.
    pub fn uniform_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.bits() >> 32) as u8).collect()
    }
}
