//! `hsmoe decode`: reads recorded telemetry (every byte the device sent,
//! `0x00`-delimited frames, as `hsmoe run --telemetry` writes it) and
//! prints it as CSV or JSON.
//!
//! CSV has one row per `Update`, `Prediction` and `Reject` (a
//! `Prediction`'s mean and variance go in `pred_mean` and `pred_var`);
//! JSON has one object per frame, `Config`, `Status`, the checkpoint
//! answers and damaged frames included (a snapshot chunk as its offset,
//! total and length, not its bytes: the checkpoint file has those).
//! Floats are printed in the shortest form that reads back to the same
//! f32, so decoded telemetry can be compared bit for bit.

use crate::link::{HostResponse, Received, HOST_K};
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hsmoe_core::frame::{self, FrameAccumulator, FrameError, FrameEvent, MAX_FRAME};
use hsmoe_core::protocol::{
    ConfigMsg, PredictionMsg, RejectMsg, Response, RestoreNextMsg, RestoredMsg, SnapshotChunkMsg,
    StatusMsg, UpdateMsg,
};
use serde::Serialize;
use std::io::Write as _;
use std::path::PathBuf;

/// `hsmoe decode`.
#[derive(Debug, Clone, Args)]
pub struct DecodeArgs {
    /// Telemetry recorded by `hsmoe run --telemetry`.
    pub input: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Write here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
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

/// `hsmoe decode`: reads the file and writes CSV or JSON.
///
/// # Errors
/// If the input cannot be read or the output cannot be written.
pub fn decode(args: &DecodeArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let records: Vec<Record> = frames(&bytes).iter().map(Record::from).collect();
    let text = match args.format {
        Format::Csv => to_csv(&records),
        Format::Json => serde_json::to_string_pretty(&records)? + "\n",
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing to stdout"),
    }
}
