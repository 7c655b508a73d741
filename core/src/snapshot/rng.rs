//! The caller's random number generator, carried in the snapshot header.

use rand_xorshift::XorShiftRng;

use super::layout::RNG_STATE_LEN;

/// The 16-byte state of an [`XorShiftRng`]: its words `x, y, z, w`,
/// little-endian, read through its `serde` implementation (the crate has
/// no accessor). [`xorshift_from_state`] is the inverse.
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::xorshift_state;
/// use rand_core::SeedableRng;
/// let seed = [3u8; 16];
/// let rng = rand_xorshift::XorShiftRng::from_seed(seed);
/// assert_eq!(xorshift_state(&rng), seed); // from_seed stores the seed as the state
/// ```
pub fn xorshift_state(rng: &XorShiftRng) -> [u8; RNG_STATE_LEN] {
    // postcard writes the four u32 fields as varints (≤ 5 bytes each) and
    // reads them back as a [u32; 4]; neither step can fail here.
    let mut buf = [0u8; 20];
    let words: [u32; 4] = postcard::to_slice(rng, &mut buf)
        .ok()
        .and_then(|bytes| postcard::from_bytes(bytes).ok())
        .unwrap_or_default();
    let mut state = [0u8; RNG_STATE_LEN];
    for (bytes, word) in state.chunks_exact_mut(4).zip(words) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    state
}

/// The [`XorShiftRng`] whose state is `state` (as from [`xorshift_state`]).
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::{xorshift_from_state, xorshift_state};
/// use rand_core::{RngCore, SeedableRng};
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(11);
/// rng.next_u32();
/// let mut copy = xorshift_from_state(&xorshift_state(&rng));
/// assert_eq!(copy.next_u64(), rng.next_u64());
/// ```
pub fn xorshift_from_state(state: &[u8; RNG_STATE_LEN]) -> XorShiftRng {
    // from_seed stores the seed as the state (an all-zero one, which
    // xorshift never reaches, would be replaced by a fixed constant).
    rand_core::SeedableRng::from_seed(*state)
}
