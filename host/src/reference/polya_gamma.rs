//! Exact PG(1, c) sampler (Devroye).
