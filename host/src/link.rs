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

/// The device's `Config` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeviceConfig {
    /// Protocol version.
    pub version: u16,
    /// Particles.
    pub n: u32,
    /// Experts.
    pub k: u32,
    /// Features, intercept included.
    pub d: u32,
    /// Seed of the device's current run.
    pub seed: u64,
    /// Longest frame the device accepts.
    pub max_frame: u32,
}

impl DeviceConfig {
    /// The fields of a `Response::Config`, or `None` for another response.
    pub fn from_response(response: &HostResponse) -> Option<DeviceConfig> {
        match *response {
            Response::Config(ConfigMsg {
                version,
                n,
                k,
                d,
                seed,
                max_frame,
            }) => Some(DeviceConfig {
                version,
                n,
                k,
                d,
                seed,
                max_frame,
            }),
            _ => None,
        }
    }
}

/// The device's `Status` answer: what it absorbed since the `Reset`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DeviceStatus {
    /// Observations absorbed.
    pub steps: u32,
    /// The last observation answered with `Update` or a final `Reject`.
    pub last_seq: Option<u32>,
    /// Observations refused with a final `Reject`.
    pub rejected: u32,
    /// The device's log marginal likelihood estimate.
    pub log_marginal: f64,
}

impl DeviceStatus {
    /// The fields of a `Response::Status`, or `None` for another response.
    pub fn from_response(response: &HostResponse) -> Option<DeviceStatus> {
        match *response {
            Response::Status(StatusMsg {
                steps,
                last_seq,
                rejected,
                log_marginal,
            }) => Some(DeviceStatus {
                steps,
                last_seq,
                rejected,
                log_marginal,
            }),
            _ => None,
        }
    }
}

/// The device's `Restored` answer: where the checkpointed run stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRestored {
    /// Seed of the checkpointed run.
    pub seed: u64,
    /// Observations it had absorbed.
    pub steps: u32,
    /// Its last answered `seq`; the run continues with the next.
    pub last_seq: Option<u32>,
    /// Observations it had refused.
    pub rejected: u32,
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
