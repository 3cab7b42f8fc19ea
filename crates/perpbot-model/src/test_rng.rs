//! The seeded generator the unit tests of this crate share.

use rand::{Rng, SeedableRng};

/// 64-bit words from `rand_chacha`'s ChaCha8 seeded with `seed`: the same seed replays the
/// same cases.
pub(crate) fn seeded(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    move || rng.random()
}
