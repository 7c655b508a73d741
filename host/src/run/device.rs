//! The host's side of one device link: the `Hello`/`Reset`/`Status`
//! exchanges, one frame at a time with resends, and the checkpoint
//! streams (`Snapshot`, the two `Restore` passes).

use crate::link::{config_of, status_of, HostRequest, HostResponse, Received, RestoreRefused};
use crate::serial::Port;
use crate::telemetry;
use anyhow::{bail, Context as _};
use hsmoe_core::frame::{self, FrameAccumulator, FrameError, FrameEvent, MAX_FRAME};
use hsmoe_core::protocol::{
    ConfigMsg, RejectMsg, Request, Response, RestoreMsg, RestoreNextMsg, RestoredMsg,
    SnapshotBytes, SnapshotChunkMsg, StatusMsg, SNAPSHOT_CHUNK,
};
use hsmoe_core::snapshot::{Pass, SnapshotError};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// The host end of the link: frames requests, splits and decodes the
/// device's frames, and records every received byte to the telemetry
/// file.
#[derive(Debug)]
pub struct Device {
    port: Port,
    rx: FrameAccumulator<MAX_FRAME>,
    decoded: VecDeque<Received>,
    telemetry: Option<BufWriter<File>>,
}

impl Device {
    /// Talks over `port`.
    pub fn new(port: Port) -> Device {
        Device {
            port,
            rx: FrameAccumulator::new(),
            decoded: VecDeque::new(),
            telemetry: None,
        }
    }

    /// From now on, appends every received byte to a new telemetry file
    /// at `path`, which starts with the telemetry header
    /// ([`telemetry::header`]).
    ///
    /// # Errors
    /// If the file cannot be created.
    pub fn record_to(&mut self, path: &Path) -> anyhow::Result<()> {
        let cannot = || format!("{}: cannot create the telemetry file", path.display());
        let mut file = BufWriter::new(File::create(path).with_context(cannot)?);
        file.write_all(&telemetry::header()).with_context(cannot)?;
        self.telemetry = Some(file);
        Ok(())
    }

    /// Sends one request as a frame.
    ///
    /// # Errors
    /// If the request does not fit a frame or the port fails.
    pub fn send(&mut self, request: &HostRequest) -> anyhow::Result<()> {
        let mut buf = [0u8; MAX_FRAME];
        let bytes = frame::encode(request, &mut buf)
            .map_err(|e| anyhow::anyhow!("cannot frame {request:?}: {e}"))?;
        self.send_raw(bytes)
    }

    /// Sends raw bytes (a test can send damaged frames this way).
    ///
    /// # Errors
    /// If the port fails.
    pub fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.port
            .write_all(bytes)
            .context("writing to the device")?;
        self.port.flush().context("writing to the device")
    }

    /// The next frame from the device, waiting until `deadline`; `None`
    /// if none arrived in time.
    ///
    /// # Errors
    /// If the port fails or the device closed the link (QEMU exited).
    pub fn receive(&mut self, deadline: Instant) -> anyhow::Result<Option<Received>> {
        let mut buf = [0u8; 512];
        loop {
            if let Some(frame) = self.decoded.pop_front() {
                return Ok(Some(frame));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.port.set_read_timeout(deadline - now)?;
            let n = match self.port.read(&mut buf) {
                Ok(0) => bail!("the device closed the link"),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    continue
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading from the device"),
            };
            self.absorb(&buf[..n])?;
        }
    }

    /// Records and splits received bytes into decoded frames.
    fn absorb(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(telemetry) = self.telemetry.as_mut() {
            telemetry.write_all(bytes).context("writing telemetry")?;
        }
        for &byte in bytes {
            let frame = match self.rx.push(byte) {
                Some(FrameEvent::Frame(body)) => match frame::decode::<HostResponse>(body) {
                    Ok(response) => Received::Response(response),
                    Err(error) => Received::Damaged(error),
                },
                Some(FrameEvent::Overflow) => Received::Damaged(FrameError::TooLong),
                None => continue,
            };
            self.decoded.push_back(frame);
        }
        Ok(())
    }

    /// Sends `request` until a `Config` satisfying `accept` comes back,
    /// at most `1 + retries` times, waiting `timeout` each; other frames
    /// are skipped.
    ///
    /// # Errors
    /// If no such answer arrives or the link fails.
    pub fn request_config(
        &mut self,
        request: &HostRequest,
        timeout: Duration,
        retries: u32,
        accept: impl Fn(&ConfigMsg) -> bool,
    ) -> anyhow::Result<ConfigMsg> {
        self.request(request, timeout, retries, |response| {
            config_of(response).filter(&accept)
        })
    }

    /// Asks for the device's `Status` (as [`request_config`](Self::request_config)).
    ///
    /// # Errors
    /// If no `Status` arrives or the link fails.
    pub fn request_status(&mut self, timeout: Duration, retries: u32) -> anyhow::Result<StatusMsg> {
        self.request(&Request::Status, timeout, retries, status_of)
    }

    /// Sends `request` until `pick` takes an answer, at most `1 + retries`
    /// times, waiting `timeout` each; a `Reject` without a seq (the device
    /// got a damaged frame) is a reason to resend at once.
    fn request<T>(
        &mut self,
        request: &HostRequest,
        timeout: Duration,
        retries: u32,
        pick: impl Fn(&HostResponse) -> Option<T>,
    ) -> anyhow::Result<T> {
        for _ in 0..=retries {
            self.send(request)?;
            let deadline = Instant::now() + timeout;
            while let Some(frame) = self.receive(deadline)? {
                let Received::Response(response) = frame else {
                    continue;
                };
                if let Some(answer) = pick(&response) {
                    return Ok(answer);
                }
                if matches!(response, Response::Reject(RejectMsg { seq: None, .. })) {
                    break;
                }
            }
        }
        bail!(
            "the device did not answer {request:?} ({} tries, {timeout:?} each)",
            retries + 1
        )
    }

    /// The chunk of the device's checkpoint stream at `offset` and the
    /// stream's length, with `Snapshot { offset }`.
    fn snapshot_chunk(
        &mut self,
        offset: usize,
        timeout: Duration,
        retries: u32,
    ) -> anyhow::Result<(usize, SnapshotBytes)> {
        let offset = u32::try_from(offset).context("checkpoint longer than 4 GiB")?;
        self.request(
            &Request::Snapshot { offset },
            timeout,
            retries,
            |r| match r {
                Response::SnapshotChunk(SnapshotChunkMsg {
                    offset: at,
                    total,
                    bytes,
                }) if *at == offset => Some((*total as usize, bytes.clone())),
                _ => None,
            },
        )
    }

    /// The last `tail` bytes of the device's checkpoint stream, if it is
    /// `len` bytes long (one request: the checkpoint's identity, see
    /// `shadow`); `None` if the device's stream has another length.
    ///
    /// # Errors
    /// If no answer comes after `1 + retries` tries.
    pub(super) fn snapshot_tail(
        &mut self,
        len: usize,
        tail: usize,
        timeout: Duration,
        retries: u32,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let (total, chunk) = self.snapshot_chunk(len.saturating_sub(tail), timeout, retries)?;
        Ok((total == len).then(|| chunk.to_vec()))
    }

    /// Reads the device's whole checkpoint stream, chunk by chunk with
    /// `Snapshot` (see [`Request`]). No observation may be in flight.
    ///
    /// # Errors
    /// If a chunk does not come after `1 + retries` tries, the device
    /// changes the stream's length or sends an empty chunk early.
    pub fn snapshot(&mut self, timeout: Duration, retries: u32) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut total = None;
        while total != Some(bytes.len()) {
            let offset = bytes.len();
            let (length, chunk) = self.snapshot_chunk(offset, timeout, retries)?;
            if total.is_some_and(|t| t != length) {
                bail!("the device changed its checkpoint length during a snapshot");
            }
            total = Some(length);
            let want = length.saturating_sub(bytes.len());
            if chunk.is_empty() && want > 0 {
                bail!(
                    "the device sent no bytes at offset {offset} of its {length}-byte checkpoint"
                );
            }
            bytes.extend_from_slice(&chunk[..chunk.len().min(want)]);
        }
        Ok(bytes)
    }

    /// Restores `checkpoint` into the device: sends it twice with
    /// `Restore` (verify pass, then write pass), always the chunk at the
    /// offset the device asks for next, so lost and repeated chunks are
    /// repaired. Answers that do not move the device's position forward
    /// (late copies) are skipped.
    ///
    /// # Errors
    /// A [`RestoreRefused`] (downcast it from the error) if the device
    /// refuses the stream; otherwise if the device stops answering, asks
    /// for bytes past the end of `checkpoint` (a truncated stream) or
    /// does not finish.
    pub fn restore(
        &mut self,
        checkpoint: &[u8],
        timeout: Duration,
        retries: u32,
    ) -> anyhow::Result<RestoredMsg> {
        let (mut pass, mut offset) = (Pass::Verify, 0usize);
        // Two passes, plus room for a repair per chunk.
        let limit = 4 * (checkpoint.len() / SNAPSHOT_CHUNK + 2);
        for _ in 0..limit {
            let rest = checkpoint.get(offset..).unwrap_or_default();
            if rest.is_empty() {
                bail!(
                    "the device needs byte {offset} of the checkpoint, which has {}: it is truncated",
                    checkpoint.len()
                );
            }
            let chunk = &rest[..rest.len().min(SNAPSHOT_CHUNK)];
            let request = Request::Restore(RestoreMsg {
                offset: u32::try_from(offset).context("checkpoint longer than 4 GiB")?,
                bytes: SnapshotBytes::from_slice(chunk).unwrap_or_default(),
            });
            // The device's position only moves forward (verify pass, then
            // write pass), so an answer that does not is a late copy (of
            // a resent chunk's answer): acting on it would keep the host
            // one answer behind for the rest of the restore.
            let here = progress_rank(pass, offset);
            let answer = self.request(&request, timeout, retries, |r| match r {
                Response::RestoreNext(RestoreNextMsg {
                    pass: next_pass,
                    offset: next,
                }) if progress_rank(*next_pass, *next as usize) <= here => None,
                Response::RestoreNext(RestoreNextMsg { .. })
                | Response::Restored(RestoredMsg { .. })
                | Response::RestoreRefused { .. } => Some(r.clone()),
                _ => None,
            })?;
            match answer {
                Response::RestoreNext(RestoreNextMsg {
                    pass: next_pass,
                    offset: next,
                }) => (pass, offset) = (next_pass, next as usize),
                Response::RestoreRefused {
                    reason: SnapshotError::OutOfOrder { expected },
                } => offset = expected,
                Response::RestoreRefused { reason } => {
                    return Err(RestoreRefused {
                        reason,
                        pass,
                        offset,
                    }
                    .into())
                }
                Response::Restored(RestoredMsg {
                    seed,
                    steps,
                    last_seq,
                    rejected,
                }) => {
                    return Ok(RestoredMsg {
                        seed,
                        steps,
                        last_seq,
                        rejected,
                    })
                }
                _ => {}
            }
        }
        bail!("the restore did not finish after {limit} chunks")
    }

    /// Writes out buffered telemetry.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn flush_telemetry(&mut self) -> anyhow::Result<()> {
        if let Some(telemetry) = self.telemetry.as_mut() {
            telemetry.flush().context("writing telemetry")?;
        }
        Ok(())
    }
}

/// Orders restore positions: the whole verify pass before the write pass.
fn progress_rank(pass: Pass, offset: usize) -> (bool, usize) {
    (pass == Pass::Write, offset)
}
