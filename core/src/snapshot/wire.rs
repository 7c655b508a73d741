//! The snapshot types that travel in protocol messages: why a restore
//! was refused, and which pass it is in.

use core::fmt;

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::layout::MAGIC;
#[cfg(doc)]
use crate::version::{FORMAT_VERSION, PROTOCOL_VERSION};
#[cfg(doc)]
use crate::Config;

/// Why a snapshot was refused. Unless stated otherwise the filter being
/// restored is untouched.
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::SnapshotError;
/// assert_eq!(SnapshotError::Shape.to_string(), "snapshot has other N, K or D");
/// ```
///
/// It travels in [`Response::RestoreRefused`](crate::protocol::Response::RestoreRefused),
/// so its variants are append-only like the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotError {
    /// The stream does not start with [`MAGIC`]: not a snapshot.
    BadMagic,
    /// Another [`FORMAT_VERSION`] or [`PROTOCOL_VERSION`].
    Version,
    /// The snapshot is of a filter with another `N`, `K` or `D`.
    Shape,
    /// The settings in the snapshot are invalid (see
    /// [`Config::validate`]).
    Invalid,
    /// The CRC does not match: the bytes were damaged.
    Crc,
    /// A chunk starts after the next byte expected, at `expected`. Nothing
    /// was consumed; send the chunk at `expected`.
    OutOfOrder {
        /// The offset of the next byte the restorer needs.
        expected: usize,
    },
    /// A chunk runs past the end of the snapshot: the stream is longer
    /// than this filter's snapshot.
    TooLong,
    /// The stream ended before the snapshot was complete.
    Truncated,
    /// The write pass's bytes differ from the verified ones. The particles
    /// were partly overwritten: the filter reports
    /// [`Error::Uninitialized`](crate::Error::Uninitialized) until a
    /// restore completes or it is reset.
    CommitFailed,
    /// The snapshot is of a filter whose experts are of another family
    /// (or another fixed parameter of it, such as Student's ν).
    Family,
}

impl SnapshotError {
    /// A short, static description, for logs and `Display`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(hsmoe_core::snapshot::SnapshotError::Crc.as_str(), "snapshot CRC mismatch");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            SnapshotError::BadMagic => "not a snapshot",
            SnapshotError::Version => "snapshot of another format or protocol version",
            SnapshotError::Shape => "snapshot has other N, K or D",
            SnapshotError::Invalid => "snapshot settings are invalid",
            SnapshotError::Crc => "snapshot CRC mismatch",
            SnapshotError::OutOfOrder { .. } => "snapshot chunk out of order",
            SnapshotError::TooLong => "snapshot chunk past the end",
            SnapshotError::Truncated => "snapshot incomplete",
            SnapshotError::CommitFailed => "snapshot changed between passes",
            SnapshotError::Family => "snapshot has another expert family",
        }
    }
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for SnapshotError {}

/// Which reading of the stream a [`Restorer`](super::Restorer) is in (also on the wire, in
/// [`Response::RestoreNext`](crate::protocol::Response::RestoreNext)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pass {
    /// Checking only; the filter is not touched.
    Verify,
    /// Writing the verified bytes into the filter.
    Write,
}
