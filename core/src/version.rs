//! The versions of the two byte formats, in one place: a peer or a file
//! of another version is refused rather than misread (docs/protocol.md
//! §3).

/// Version of the wire protocol, reported in
/// [`Response::Config`](crate::protocol::Response::Config).
/// Bumped on any incompatible change to the messages or the framing.
pub const PROTOCOL_VERSION: u16 = 3;

/// Version of the snapshot layout ([`crate::snapshot`]). Bumped on any
/// change to it (including a field added to a particle); older snapshots
/// are then refused.
pub const FORMAT_VERSION: u16 = 3;
