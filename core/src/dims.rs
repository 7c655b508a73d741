//! Array lengths derived from the sizes `K` and `D`: `K − 1` sticks and the
//! `D(D+1)/2` words of a packed lower triangle.
//!
//! Stable Rust cannot write `[T; K - 1]` or `[f32; D * (D + 1) / 2]` for
//! a generic `K` or `D`. Rather than spend memory on slots that are never
//! used, each supported size gets its array types spelled out by a macro:
//! [`Const<V>`] implements [`Experts`] and [`Features`] for `V` in
//! `1..=16`, and code generic over a particle states
//! `where Const<K>: Experts, Const<D>: Features`. The alternatives cost
//! memory: a `K`-slot stick array with its last slot unused takes 724
//! instead of 620 bytes per particle at K = D = 4, full `D × D` factors
//! 788. The bounds are the cheaper price; concrete sizes
//! (`Filter<128, 4, 4>`) need none.

use core::fmt::Debug;

/// A size as a type, so a trait can be implemented per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Const<const V: usize>;

/// Values with an all-zero placeholder, for `const` construction (a
/// `static` filter is then all zero bits and lands in `.bss`).
pub trait Zeroed: Copy {
    /// All zero bits; not necessarily a valid state.
    const ZERO: Self;
}

impl Zeroed for f32 {
    const ZERO: Self = 0.0;
}

impl<T: Zeroed, const L: usize> Zeroed for [T; L] {
    const ZERO: Self = [T::ZERO; L];
}

/// What a particle's parts are: copyable, comparable, printable, and
/// `Send + Sync` so the host can sweep particles in parallel.
pub trait Part: Zeroed + Debug + PartialEq + Send + Sync {}

impl<T: Zeroed + Debug + PartialEq + Send + Sync> Part for T {}

/// An array of `T` seen as a slice, whatever its (derived) length.
pub trait Array<T>: Part + AsRef<[T]> + AsMut<[T]> {}

impl<T: Part, const L: usize> Array<T> for [T; L] {}

mod sealed {
    pub trait Sealed {}
}

/// A supported number of experts `K` (1 to 16).
pub trait Experts: sealed::Sealed {
    /// `[T; K − 1]`: one `T` per stick of the gate.
    type PerStick<T: Part>: Array<T>;
}

/// A supported number of features `D` (1 to 16).
pub trait Features: sealed::Sealed {
    /// `[f32; D(D+1)/2]`: a packed lower triangle.
    type Triangle: Array<f32>;
}

macro_rules! sizes {
    ($($v:literal)+) => {$(
        impl sealed::Sealed for Const<$v> {}
        impl Experts for Const<$v> {
            type PerStick<T: Part> = [T; $v - 1];
        }
        impl Features for Const<$v> {
            type Triangle = [f32; $v * ($v + 1) / 2];
        }
    )+};
}

sizes!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
