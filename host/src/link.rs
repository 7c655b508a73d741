//! What the host reads from and writes to a device link: the widest
//! message types the protocol allows, and the device's answers decoded
//! into host types. The device session (`run`), telemetry decoding and
//! validation all build on these.

use hsmoe_core::frame::FrameError;
use hsmoe_core::protocol::{ConfigMsg, Request, Response, StatusMsg};
use hsmoe_core::snapshot::{Pass, SnapshotError};
use std::fmt;

/// Largest `D` the host sends: the protocol's limit (`MAX_FRAME`).
pub const HOST_D: usize = 32;
/// Largest `K` the host decodes: the protocol's limit.
pub const HOST_K: usize = 32;
/// A request as the host builds it (any device `D ≤ 32`).
pub type HostRequest = Request<HOST_D>;
/// A response as the host decodes it (any device `K ≤ 32`).
pub type HostResponse = Response<HOST_K>;

/// The device's `Config` answer, or `None` for another response.
pub fn config_of(response: &HostResponse) -> Option<ConfigMsg> {
    match response {
        Response::Config(config) => Some(*config),
        _ => None,
    }
}

/// The device's `Status` answer (what it absorbed since the `Reset`), or
/// `None` for another response.
pub fn status_of(response: &HostResponse) -> Option<StatusMsg> {
    match response {
        Response::Status(status) => Some(*status),
        _ => None,
    }
}

/// The device refused a checkpoint stream (`RestoreRefused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreRefused {
    /// The device's reason.
    pub reason: SnapshotError,
    /// The pass it was in.
    pub pass: Pass,
    /// Offset of the refused chunk.
    pub offset: usize,
}

impl fmt::Display for RestoreRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = match self.pass {
            Pass::Verify => "verify",
            Pass::Write => "write",
        };
        write!(
            f,
            "the device refused it: {} ({pass} pass, chunk at byte {})",
            self.reason, self.offset
        )?;
        if self.reason == SnapshotError::CommitFailed {
            write!(
                f,
                "; the device now refuses observations until a good restore or a reset"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RestoreRefused {}

/// One frame from the device.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A decoded response.
    Response(HostResponse),
    /// A frame that failed COBS, CRC, decoding or the length limit.
    Damaged(FrameError),
}
