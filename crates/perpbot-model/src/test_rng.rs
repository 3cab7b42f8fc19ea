//! The seeded generator the unit tests of this crate share (`rand_chacha`'s ChaCha8, as
//! perpbot-core's `test_support::below`).

use rand::{Rng, SeedableRng};

/// 64-bit words from `rand_chacha`'s ChaCha8 seeded with `seed`: the same seed replays the
/// same cases.
pub(crate) fn seeded(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    move || rng.random()
}

/// Numbers below their argument (which must not be 0), from the same generator.
pub(crate) fn below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    move |n| rng.random_range(0..n)
}
