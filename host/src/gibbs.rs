//! Batch Gibbs sampler (SPEC §5).
