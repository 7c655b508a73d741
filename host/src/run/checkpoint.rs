//! Checkpoint files: the device's snapshot stream, checked against the
//! device before a restore and written atomically.

use super::device::Device;
use super::shadow::{Shadow, TAIL};
use crate::family::Family;
use anyhow::{bail, Context as _};
use hsmoe_core::protocol::ConfigMsg;
use hsmoe_core::snapshot::{self, SnapshotError, SnapshotShape};
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how often [`session`](super::session) saves checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// The checkpoint file (replaced atomically each time).
    pub path: PathBuf,
    /// Save when every row below a multiple of this has been answered,
    /// and after the last row.
    pub every: usize,
}

/// Checks a checkpoint's header and length against the device, so that
/// a wrong file gets a message naming what differs (the device would
/// refuse it too, with a bare reason).
pub(super) fn check_checkpoint(bytes: &[u8], device: &ConfigMsg) -> anyhow::Result<()> {
    let SnapshotShape {
        format_version: format,
        protocol_version: protocol,
        n,
        k,
        d,
        family_tag,
    } = match SnapshotShape::read(bytes) {
        Ok(shape) => shape,
        Err(SnapshotError::BadMagic) => {
            bail!("not an hsmoe checkpoint (it does not start with HSMS)")
        }
        Err(_) => bail!("not an hsmoe checkpoint: only {} bytes", bytes.len()),
    };
    if (format, protocol) != (snapshot::FORMAT_VERSION, device.version) {
        bail!(
            "a checkpoint of snapshot format {format}, protocol {protocol}; the device uses format {}, protocol {}",
            snapshot::FORMAT_VERSION,
            device.version
        );
    }
    if (n, k, d) != (device.n, device.k, device.d) {
        bail!(
            "a checkpoint of N = {n}, K = {k}, D = {d}; the device has N = {}, K = {}, D = {}",
            device.n,
            device.k,
            device.d
        );
    }
    if family_tag != device.family_tag {
        bail!(
            "a checkpoint of {}; the device runs {}",
            family_name(family_tag),
            family_name(device.family_tag)
        );
    }
    let Some(family) = Family::from_tag(family_tag) else {
        bail!("a checkpoint of {}", family_name(family_tag));
    };
    let expected = snapshot::checkpoint_len(n as usize, k as usize, d as usize, family);
    if bytes.len() != expected {
        bail!(
            "{} bytes, but a checkpoint of this N, K, D has {expected}: truncated or damaged",
            bytes.len()
        );
    }
    Ok(())
}

/// The experts a family tag names, for messages.
pub(super) fn family_name(tag: u32) -> String {
    match Family::from_tag(tag) {
        Some(Family::Student) => format!("student experts (ν = {})", tag >> 8),
        Some(family) => format!("{family} experts"),
        None => format!("experts of an unknown family (tag {tag:#x})"),
    }
}

/// Saves the device's checkpoint, replacing the file atomically: the
/// host's copy of the stream if the device confirms it (its last
/// [`TAIL`] bytes, see [`super::shadow`]), else the whole stream read from
/// the device, which then also re-seeds the copy.
pub(super) fn save_checkpoint(
    device: &mut Device,
    shadow: Option<&mut Box<dyn Shadow>>,
    checkpoint: &CheckpointOptions,
    timeout: Duration,
    retries: u32,
) -> anyhow::Result<()> {
    let reading = "reading the device's checkpoint";
    let mut shadow = shadow;
    if let Some(bytes) = shadow.as_mut().and_then(|s| s.checkpoint()) {
        let tail = device
            .snapshot_tail(bytes.len(), TAIL, timeout, retries)
            .context(reading)?;
        if tail.as_deref() == bytes.get(bytes.len().saturating_sub(TAIL)..) {
            return write_atomically(&checkpoint.path, &bytes);
        }
    }
    let bytes = device.snapshot(timeout, retries).context(reading)?;
    if let Some(shadow) = shadow {
        shadow.restore(&bytes);
    }
    write_atomically(&checkpoint.path, &bytes)
}

/// Writes `bytes` to a temporary file next to `path`, syncs it and
/// renames it over `path`: readers see the old file or the new one, never
/// a part.
///
/// # Errors
/// If the file cannot be written or renamed (the message names it).
///
/// # Examples
/// ```
/// let path = std::env::temp_dir().join(format!("hsmoe-doc-{}.ckpt", std::process::id()));
/// hsmoe_host::run::write_atomically(&path, b"one").unwrap();
/// hsmoe_host::run::write_atomically(&path, b"two").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"two");
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let temp = path.with_file_name(name);
    let write = || -> io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().with_context(|| format!("cannot write checkpoint {}", path.display()))
}
