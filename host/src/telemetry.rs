//! Telemetry files and `hsmoe decode`. A telemetry file (as `hsmoe run
//! --telemetry` writes it) is a [`HEADER_LEN`]-byte header — the magic
//! [`MAGIC`], the file format version [`TELEMETRY_VERSION`] and the
//! protocol version of the frames, see docs/protocol.md §5 — followed by
//! every byte the device sent: `0x00`-delimited frames. `decode` prints
//! them as CSV or JSON.
//!
//! CSV has one row per `Update`, `Prediction` and `Reject` (a
//! `Prediction`'s mean and variance go in `pred_mean` and `pred_var`);
//! JSON has one object per frame, `Config`, `Status`, the checkpoint
//! answers and damaged frames included (a snapshot chunk as its offset,
//! total and length, not its bytes: the checkpoint file has those).
//! Floats are printed in the shortest form that reads back to the same
//! f32, so decoded telemetry can be compared bit for bit. A file that
//! ends inside a frame (the recording stopped mid-frame) decodes up to
//! its last whole frame and says where it stopped.

use crate::link::{HostResponse, Received, HOST_K};
use crate::output;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hsmoe_core::frame::{self, FrameAccumulator, FrameError, FrameEvent, MAX_FRAME};
use hsmoe_core::protocol::{
    ConfigMsg, PredictionMsg, RejectMsg, Response, RestoreNextMsg, RestoredMsg, SnapshotChunkMsg,
    StatusMsg, UpdateMsg,
};
use hsmoe_core::version::PROTOCOL_VERSION;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The first bytes of a telemetry file.
pub const MAGIC: [u8; 4] = *b"HSMT";

/// Version of the telemetry file layout (the header and what follows
/// it). Bumped on any change to it; a file of another version is refused.
pub const TELEMETRY_VERSION: u16 = 1;

/// Bytes before the first frame: [`MAGIC`], [`TELEMETRY_VERSION`] and
/// `PROTOCOL_VERSION` (each `u16` little-endian).
pub const HEADER_LEN: usize = 8;

/// The header this build writes at the start of a telemetry file.
///
/// # Examples
/// ```
/// let header = hsmoe_host::telemetry::header();
/// assert_eq!(header, *b"HSMT\x01\x00\x03\x00");
/// ```
pub fn header() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4..6].copy_from_slice(&TELEMETRY_VERSION.to_le_bytes());
    header[6..].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    header
}

/// Why bytes are not telemetry this build can read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The bytes do not start with [`MAGIC`].
    NotTelemetry,
    /// The file ends inside its header.
    TruncatedHeader {
        /// Bytes in the file.
        len: usize,
    },
    /// Another [`TELEMETRY_VERSION`].
    Version {
        /// The file's.
        found: u16,
    },
    /// Frames of another protocol version.
    Protocol {
        /// The file's.
        found: u16,
    },
}

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelemetryError::NotTelemetry => write!(
                f,
                "not hsmoe telemetry (no {:?} magic number at the start); record telemetry with `hsmoe run --telemetry FILE`",
                String::from_utf8_lossy(&MAGIC)
            ),
            TelemetryError::TruncatedHeader { len } => write!(
                f,
                "truncated: {len} bytes, shorter than the {HEADER_LEN}-byte telemetry header; nothing was recorded"
            ),
            TelemetryError::Version { found } => write!(
                f,
                "telemetry file format version {found}, but this hsmoe reads version {TELEMETRY_VERSION}; decode it with the hsmoe that recorded it"
            ),
            TelemetryError::Protocol { found } => write!(
                f,
                "telemetry of protocol version {found}, but this hsmoe speaks version {PROTOCOL_VERSION}; decode it with the hsmoe that recorded it"
            ),
        }
    }
}

impl std::error::Error for TelemetryError {}

/// A telemetry file, split into frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Every whole frame, decoded (or damaged), in order.
    pub frames: Vec<Received>,
    /// Where the whole frames end, if bytes of an unfinished frame
    /// follow: the file offset of its first byte (the file's length is
    /// the other end).
    pub incomplete_from: Option<usize>,
    /// The file's length in bytes.
    pub len: usize,
}

impl Recording {
    /// Parses a telemetry file's bytes: checks the header, then splits
    /// the rest into frames (see [`frames`]).
    ///
    /// # Errors
    /// A [`TelemetryError`] if the header is missing, truncated or of
    /// another version.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::telemetry::{header, Recording, TelemetryError};
    /// let mut bytes = header().to_vec();
    /// bytes.extend([0x42, 0x00, 0x17]); // a damaged frame, then one cut short
    /// let recording = Recording::parse(&bytes).unwrap();
    /// assert_eq!((recording.frames.len(), recording.incomplete_from), (1, Some(10)));
    /// assert_eq!(Recording::parse(b"PK\x03\x04 a zip file"), Err(TelemetryError::NotTelemetry));
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Recording, TelemetryError> {
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] || bytes.is_empty() {
            return Err(if bytes.is_empty() {
                TelemetryError::TruncatedHeader { len: 0 }
            } else {
                TelemetryError::NotTelemetry
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(TelemetryError::TruncatedHeader { len: bytes.len() });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != TELEMETRY_VERSION {
            return Err(TelemetryError::Version { found: version });
        }
        let protocol = u16::from_le_bytes([bytes[6], bytes[7]]);
        if protocol != PROTOCOL_VERSION {
            return Err(TelemetryError::Protocol { found: protocol });
        }
        let body = &bytes[HEADER_LEN..];
        // Bytes after the last delimiter are a frame the recording cut.
        let whole = body.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
        Ok(Recording {
            frames: frames(&body[..whole]),
            incomplete_from: (whole < body.len()).then_some(HEADER_LEN + whole),
            len: bytes.len(),
        })
    }

    /// Reads and parses a telemetry file.
    ///
    /// # Errors
    /// An unreadable file or a [`TelemetryError`], naming `path`.
    pub fn read(path: &Path) -> anyhow::Result<Recording> {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        Recording::parse(&bytes).with_context(|| path.display().to_string())
    }

    /// One line saying where an incomplete recording stopped, if it did.
    pub fn truncation_note(&self) -> Option<String> {
        self.incomplete_from.map(|offset| {
            format!(
                "truncated: the last whole frame ends at byte offset {offset}; the {} bytes after it are an unfinished frame and were left out ({} whole frames decoded)",
                self.len - offset,
                self.frames.len()
            )
        })
    }
}

/// `hsmoe decode`.
#[derive(Debug, Clone, Args)]
pub struct DecodeArgs {
    /// Telemetry recorded by `hsmoe run --telemetry`.
    pub input: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Write here instead of standard output (`-` is standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `hsmoe decode --format json`: the records and where the file stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decoded<'a> {
    /// The telemetry file format version.
    pub telemetry_version: u16,
    /// The protocol version of the frames.
    pub protocol_version: u16,
    /// One record per whole frame.
    pub records: &'a [Record],
    /// See [`Recording::incomplete_from`].
    pub incomplete_from: Option<usize>,
}

/// Output formats of `hsmoe decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One row per update, prediction or reject.
    Csv,
    /// An array with one object per frame.
    Json,
}

/// One frame of telemetry, flattened for output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// `Response::Config`.
    Config(ConfigMsg),
    /// `Response::Update`.
    Update(UpdateMsg<HOST_K>),
    /// `Response::Prediction`.
    Prediction(PredictionMsg<HOST_K>),
    /// `Response::Reject`.
    Reject {
        /// Sequence number, if the request was decoded.
        seq: Option<u32>,
        /// Why (the `RejectReason` variant name).
        reason: String,
    },
    /// `Response::Status`.
    Status(StatusMsg),
    /// `Response::SnapshotChunk` (the bytes are in the checkpoint file).
    SnapshotChunk {
        /// Offset of the chunk in the checkpoint stream.
        offset: u32,
        /// Length of the stream.
        total: u32,
        /// Bytes in the chunk.
        len: usize,
    },
    /// `Response::RestoreNext`.
    RestoreNext {
        /// The pass in progress (`Verify` or `Write`).
        pass: String,
        /// The next offset the device needs.
        offset: u32,
    },
    /// `Response::Restored`.
    Restored(RestoredMsg),
    /// `Response::RestoreRefused`.
    RestoreRefused {
        /// Why (the `SnapshotError`, as text).
        reason: String,
    },
    /// A frame that did not decode.
    Damaged {
        /// Why.
        error: String,
    },
}

impl From<&Received> for Record {
    fn from(received: &Received) -> Record {
        match received {
            Received::Response(response) => Record::from(response),
            Received::Damaged(error) => Record::Damaged {
                error: error.to_string(),
            },
        }
    }
}

impl From<&HostResponse> for Record {
    fn from(response: &HostResponse) -> Record {
        match response.clone() {
            Response::Config(config) => Record::Config(config),
            Response::Update(update) => Record::Update(update),
            Response::Prediction(prediction) => Record::Prediction(prediction),
            Response::Reject(RejectMsg { seq, reason }) => Record::Reject {
                seq,
                reason: format!("{reason:?}"),
            },
            Response::Status(status) => Record::Status(status),
            Response::SnapshotChunk(SnapshotChunkMsg {
                offset,
                total,
                bytes,
            }) => Record::SnapshotChunk {
                offset,
                total,
                len: bytes.len(),
            },
            Response::RestoreNext(RestoreNextMsg { pass, offset }) => Record::RestoreNext {
                pass: format!("{pass:?}"),
                offset,
            },
            Response::Restored(restored) => Record::Restored(restored),
            Response::RestoreRefused { reason } => Record::RestoreRefused {
                reason: reason.to_string(),
            },
        }
    }
}

/// Splits a recorded byte stream into frames and decodes each.
///
/// # Examples
/// ```
/// use hsmoe_core::frame;
/// use hsmoe_core::protocol::{RejectReason, Response, RejectMsg};
/// use hsmoe_host::link::Received;
/// use hsmoe_host::telemetry::frames;
///
/// let reject: Response<4> = Response::Reject(RejectMsg { seq: Some(3), reason: RejectReason::OutOfOrder });
/// let mut buf = [0u8; 64];
/// let mut bytes = frame::encode(&reject, &mut buf).unwrap().to_vec();
/// bytes.extend([0x42, 0x00]); // one damaged frame
/// let got = frames(&bytes);
/// assert_eq!(got.len(), 2);
/// assert!(matches!(&got[0], Received::Response(Response::Reject(RejectMsg { seq: Some(3), .. }))));
/// assert!(matches!(got[1], Received::Damaged(_)));
/// ```
pub fn frames(bytes: &[u8]) -> Vec<Received> {
    let mut rx = FrameAccumulator::<MAX_FRAME>::new();
    let mut out = Vec::new();
    for &byte in bytes {
        match rx.push(byte) {
            Some(FrameEvent::Frame(body)) => out.push(match frame::decode::<HostResponse>(body) {
                Ok(response) => Received::Response(response),
                Err(error) => Received::Damaged(error),
            }),
            Some(FrameEvent::Overflow) => out.push(Received::Damaged(FrameError::TooLong)),
            None => {}
        }
    }
    out
}

/// The records as CSV: a header, then one line per update, prediction or
/// reject (configs and damaged frames are left out).
///
/// # Examples
/// ```
/// use hsmoe_host::telemetry::{to_csv, Record};
/// let records = [Record::Reject { seq: Some(4), reason: "NonFinite".into() }];
/// let csv = to_csv(&records);
/// assert!(csv.starts_with("type,seq,pred_mean"));
/// assert!(csv.lines().nth(1).unwrap().starts_with("reject,4,"));
/// ```
pub fn to_csv(records: &[Record]) -> String {
    let k = records
        .iter()
        .map(|r| match r {
            Record::Update(UpdateMsg { gate, .. })
            | Record::Prediction(PredictionMsg { gate, .. }) => gate.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let mut header: Vec<String> = [
        "type",
        "seq",
        "pred_mean",
        "pred_var",
        "log_pred",
        "ess",
        "resampled",
        "ticks",
        "reason",
    ]
    .map(String::from)
    .to_vec();
    header.extend((0..k).map(|j| format!("gate_{j}")));
    let mut out = header.join(",") + "\n";
    let text = |v: &dyn ToString| v.to_string();
    for record in records {
        // The fields before the gate columns, in header order.
        let (mut fields, gate): (Vec<String>, &[f32]) = match record {
            Record::Update(UpdateMsg {
                seq,
                pred_mean,
                pred_var,
                log_pred,
                ess,
                resampled,
                gate,
                ticks,
            }) => (
                vec![
                    "update".into(),
                    text(seq),
                    text(pred_mean),
                    text(pred_var),
                    text(log_pred),
                    text(ess),
                    text(resampled),
                    text(ticks),
                    String::new(),
                ],
                gate,
            ),
            Record::Prediction(PredictionMsg {
                seq,
                mean,
                var,
                gate,
            }) => {
                let mut fields = vec!["prediction".into(), text(seq), text(mean), text(var)];
                fields.resize(9, String::new());
                (fields, gate)
            }
            Record::Reject { seq, reason } => {
                let mut fields = vec![
                    "reject".into(),
                    seq.map_or(String::new(), |s| s.to_string()),
                ];
                fields.resize(8, String::new());
                fields.push(reason.clone());
                (fields, &[])
            }
            Record::Config(_)
            | Record::Status(_)
            | Record::SnapshotChunk { .. }
            | Record::RestoreNext { .. }
            | Record::Restored(_)
            | Record::RestoreRefused { .. }
            | Record::Damaged { .. } => continue,
        };
        fields.extend((0..k).map(|j| gate.get(j).map_or(String::new(), f32::to_string)));
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// `hsmoe decode`: reads the file and writes CSV or JSON; a file that
/// stops inside a frame is decoded up to its last whole frame, with a
/// note on stderr saying where it stopped.
///
/// # Errors
/// If the input cannot be read or is not telemetry (see
/// [`TelemetryError`]), or the output cannot be written.
pub fn decode(args: &DecodeArgs) -> anyhow::Result<()> {
    let recording = Recording::read(&args.input)?;
    let records: Vec<Record> = recording.frames.iter().map(Record::from).collect();
    let text = match args.format {
        Format::Csv => to_csv(&records),
        Format::Json => {
            let decoded = Decoded {
                telemetry_version: TELEMETRY_VERSION,
                protocol_version: PROTOCOL_VERSION,
                records: &records,
                incomplete_from: recording.incomplete_from,
            };
            output::json(&decoded)? + "\n"
        }
    };
    let path = args.output.as_deref().unwrap_or(Path::new(output::STDOUT));
    output::write(path, text.as_bytes())?;
    if let Some(note) = recording.truncation_note() {
        eprintln!("hsmoe: {}: {note}", args.input.display());
    }
    Ok(())
}
