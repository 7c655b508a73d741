//! Host side of hsmoe.

pub mod gibbs;
pub mod reference;
