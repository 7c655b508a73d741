//! The one checksum of the crate, CRC-32C, shared by frames
//! ([`crate::frame`]) and snapshots ([`crate::snapshot`]).

use ::crc::{Algorithm, Crc, CRC_32_ISCSI};

/// The frame check: CRC-32C (Castagnoli; `CRC-32/ISCSI` in the CRC
/// catalogue), chosen over CRC-32/ISO-HDLC for its larger Hamming distance
/// at our frame lengths: 6 against 5 up to `MAX_FRAME`'s ≈ 1300 bits
/// (Koopman, "32-bit cyclic redundancy codes for Internet applications",
/// DSN 2002).
pub const CRC_ALGORITHM: Algorithm<u32> = CRC_32_ISCSI;

/// Table-driven CRC-32C engine (1 KiB table, built at compile time): the
/// one table of the crate.
pub(crate) static CRC: Crc<u32> = Crc::<u32>::new(&CRC_ALGORITHM);
