//! Values as runs of 32-bit words: the one field list per type from
//! which a snapshot is both written and restored ([`crate::snapshot`]).
//! The lowest layer of the snapshot format, so that the types it
//! serializes can declare their own layout without importing the
//! snapshot code.

/// A value stored as a run of 32-bit words, visited in a fixed order:
/// `words` reads them (to write a snapshot), `words_mut` overwrites them
/// (to restore one). Implemented with [`impl_words!`] next to each type's
/// fields, so one field list serves both directions.
pub trait Words {
    /// Calls `f` with each word, in stream order.
    fn words(&self, f: &mut impl FnMut(u32));
    /// Calls `f` with each word, in stream order, storing what it leaves.
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32));
}

/// Implements [`Words`] for a struct as the concatenation of its fields'
/// words, in the order listed: `impl_words!([const D: usize] T<D> { a, b })`,
/// with bounds if needed: `impl_words!([const D: usize] T<D> where [Const<D>: Features] { a })`.
macro_rules! impl_words {
    ([$($generics:tt)*] $ty:ty $(where [$($bounds:tt)*])? { $($field:ident),+ $(,)? }) => {
        impl<$($generics)*> $crate::words::Words for $ty $(where $($bounds)*)? {
            fn words(&self, f: &mut impl FnMut(u32)) {
                $($crate::words::Words::words(&self.$field, f);)+
            }
            fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
                $($crate::words::Words::words_mut(&mut self.$field, f);)+
            }
        }
    };
}
pub(crate) use impl_words;

impl Words for u32 {
    fn words(&self, f: &mut impl FnMut(u32)) {
        f(*self);
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        f(self);
    }
}

impl Words for f32 {
    fn words(&self, f: &mut impl FnMut(u32)) {
        f(self.to_bits());
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        let mut w = self.to_bits();
        f(&mut w);
        *self = f32::from_bits(w);
    }
}

impl Words for f64 {
    fn words(&self, f: &mut impl FnMut(u32)) {
        let bits = self.to_bits();
        f(bits as u32);
        f((bits >> 32) as u32);
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        let bits = self.to_bits();
        let (mut low, mut high) = (bits as u32, (bits >> 32) as u32);
        f(&mut low);
        f(&mut high);
        *self = f64::from_bits(u64::from(low) | u64::from(high) << 32);
    }
}

impl Words for bool {
    fn words(&self, f: &mut impl FnMut(u32)) {
        f(u32::from(*self));
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        let mut w = u32::from(*self);
        f(&mut w);
        *self = w != 0;
    }
}

impl<T: Words, const L: usize> Words for [T; L] {
    fn words(&self, f: &mut impl FnMut(u32)) {
        for item in self {
            item.words(f);
        }
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        for item in self {
            item.words_mut(f);
        }
    }
}

/// A little-endian word from the first four bytes of `bytes` (0 if fewer).
pub(crate) fn le_word(bytes: &[u8]) -> u32 {
    bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    extern crate alloc;

    use super::*;
    use alloc::vec::Vec;

    fn to_words<W: Words>(item: &W) -> Vec<u32> {
        let mut words = Vec::new();
        item.words(&mut |w| words.push(w));
        words
    }

    fn from_words<W: Words>(item: &mut W, words: &[u32]) {
        let mut source = words.iter();
        item.words_mut(&mut |w| *w = *source.next().unwrap());
        assert!(source.next().is_none());
    }

    /// NaN payloads, signed zeros and subnormals survive the round trip.
    #[test]
    fn scalars_round_trip_bit_for_bit() {
        for bits in [0x7fc0_1234u32, 0x8000_0000, 1, f32::INFINITY.to_bits()] {
            let mut back = 0.0f32;
            from_words(&mut back, &to_words(&f32::from_bits(bits)));
            assert_eq!(back.to_bits(), bits);
        }
        let value = -1.234_567_890_123e-300f64;
        assert_eq!(to_words(&value).len(), 2);
        let mut back = 0.0f64;
        from_words(&mut back, &to_words(&value));
        assert_eq!(back.to_bits(), value.to_bits());
        let mut flag = false;
        from_words(&mut flag, &to_words(&true));
        assert!(flag);
    }
}
