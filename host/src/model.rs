//! A saved model (`hsmoe fit --save`): the core filter's state and what
//! the host needs to use and continue it, in one small versioned file
//! (docs/protocol.md §5, "Model files").
//!
//! # Format (version [`MODEL_VERSION`])
//! | bytes | content |
//! |---|---|
//! | 4 | [`MAGIC`] |
//! | 2 | [`MODEL_VERSION`], `u16` little-endian |
//! | 2 | zero (reserved) |
//! | 8 + m | section `META`: tag, length `m` (`u32` LE), [`ModelMeta`] and each island's moves as JSON |
//! | (8 + s) × M | one section `SNAP` per island: tag, length, the core snapshot (its own format, version and CRC) |
//! | 8 + o | section `OBSV`: tag, length, rows `u32`, width `D + 1` `u32`, then each stored row's `x` and `y` as f32 LE |
//! | 4 | CRC-32C of every byte before it |
//!
//! A fit of `M` islands ([`crate::islands`]) has `M` snapshots; they all
//! absorbed the same rows, so the stored rows are written once.
//!
//! The filter state is written and read only through the core's snapshot
//! writer and restorer, so a change of the snapshot format is the core's
//! own (it bumps its version and the restorer refuses old snapshots).

use crate::data::{LoadOptions, Scaling};
use crate::engine::{EngineError, EngineKind, EngineState, OnlineEngine};
use crate::family::Family;
use crate::islands::resume;
use crate::moves::MoverState;
use hsmoe_core::snapshot::{SnapshotError, SnapshotShape};
use hsmoe_core::Config;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The first bytes of every model file.
pub const MAGIC: [u8; 4] = *b"HSMM";

/// The model file layout version; a change a reader would notice bumps it.
pub const MODEL_VERSION: u16 = 2;

/// Bytes before the first section.
const HEADER_LEN: usize = 8;

/// The section tags: metadata, one snapshot per island, stored rows.
const META: [u8; 4] = *b"META";
const SNAP: [u8; 4] = *b"SNAP";
const OBSV: [u8; 4] = *b"OBSV";

/// CRC-32C, the core's checksum (docs/protocol.md §1).
static CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&hsmoe_core::crc::CRC_ALGORITHM);

/// What the host records beside the filter: how to read data for it and
/// how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The hsmoe version that wrote the file.
    pub written_by: String,
    /// How rows are read for this model: the fit's data options with the
    /// features named explicitly and the standardization's moments
    /// recorded, so new files are read exactly as the fit's.
    pub data: LoadOptions,
    /// Names of the d features (intercept included).
    pub feature_names: Vec<String>,
    /// The engine (always core: only it has a saved form).
    pub engine: EngineKind,
    /// Particles N.
    pub n_particles: usize,
    /// Experts K.
    pub k: usize,
    /// Features d, intercept included.
    pub d: usize,
    /// The fit's seed (it seeds the moves' streams).
    pub seed: u64,
    /// Prior and refresh period (also inside the snapshot).
    pub prior: Config,
    /// Rows the filter has absorbed.
    pub n_obs: usize,
    /// `Σ_t ln p̂(y_t | past)` over them.
    pub log_marginal: f64,
}

/// The `META` section as written: the metadata and where each island's
/// moves stand.
// Nested, not flattened: serde's flatten buffers numbers in a form that
// this serde_json build cannot read back as f32.
#[derive(Serialize)]
struct MetaOut<'a> {
    meta: &'a ModelMeta,
    movers: Vec<&'a Option<MoverState>>,
}

/// The `META` section as read.
#[derive(Deserialize)]
struct MetaIn {
    meta: ModelMeta,
    movers: Vec<Option<MoverState>>,
}

/// A saved model: the recorded options and the engine's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// What the host records.
    pub meta: ModelMeta,
    /// Per island (one for a single filter): the filter, its RNG, the
    /// moves and their stored observations (the same for every island).
    pub states: Vec<EngineState>,
}

/// What is wrong with a model file's bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelErrorKind {
    /// The file could not be read or written.
    Io(std::io::Error),
    /// The file does not start with [`MAGIC`].
    NotAModel {
        /// Its first bytes (up to 4).
        found: Vec<u8>,
    },
    /// Another [`MODEL_VERSION`].
    Version {
        /// The file's version.
        found: u16,
    },
    /// The file ends inside `what`.
    Truncated {
        /// The part cut off (a section tag, "header" or "CRC").
        what: String,
        /// Byte offset where the part starts.
        at: usize,
        /// Bytes it needs.
        needed: usize,
        /// The file's length.
        len: usize,
    },
    /// A section other than the one expected at `at`.
    Section {
        /// The tag expected.
        expected: String,
        /// Byte offset.
        at: usize,
    },
    /// The CRC does not match: the file was damaged.
    Crc {
        /// The CRC stored in the file.
        stored: u32,
        /// The CRC of its bytes.
        computed: u32,
    },
    /// Bytes after the CRC.
    Trailing {
        /// Offset of the first extra byte.
        at: usize,
    },
    /// The `META` section is not valid.
    Meta(String),
    /// The number of `SNAP` sections is not the number of islands `META`
    /// records moves for.
    Islands {
        /// `SNAP` sections.
        snapshots: usize,
        /// Islands in `META`.
        recorded: usize,
    },
    /// The `OBSV` section does not hold `D + 1` columns.
    Stream {
        /// Width found.
        width: usize,
        /// Width expected.
        expected: usize,
    },
    /// The filter state inside could not be restored.
    Engine(EngineError),
}

impl fmt::Display for ModelErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelErrorKind::Io(e) => write!(f, "{e}"),
            ModelErrorKind::NotAModel { found } => write!(
                f,
                "not an hsmoe model file (it starts with {found:02x?}, a model with \"HSMM\"); \
                 write one with `hsmoe fit --save`"
            ),
            ModelErrorKind::Version { found } => write!(
                f,
                "model file version {found}, but this hsmoe reads version {MODEL_VERSION}; \
                 refit with this hsmoe"
            ),
            ModelErrorKind::Truncated {
                what,
                at,
                needed,
                len,
            } => write!(
                f,
                "truncated: the {what} at byte {at} needs {needed} bytes, but the file ends at byte {len}"
            ),
            ModelErrorKind::Section { expected, at } => {
                write!(f, "damaged: expected the {expected} section at byte {at}")
            }
            ModelErrorKind::Crc { stored, computed } => write!(
                f,
                "damaged: CRC-32C {computed:#010x} of the contents, but the file records {stored:#010x}"
            ),
            ModelErrorKind::Trailing { at } => {
                write!(f, "damaged: extra bytes after the CRC at byte {at}")
            }
            ModelErrorKind::Meta(e) => write!(f, "damaged META section: {e}"),
            ModelErrorKind::Islands {
                snapshots,
                recorded,
            } => write!(
                f,
                "damaged: {snapshots} SNAP sections, but META records {recorded} islands"
            ),
            ModelErrorKind::Stream { width, expected } => write!(
                f,
                "damaged OBSV section: rows of {width} values, expected {expected}"
            ),
            ModelErrorKind::Engine(e) => write!(f, "SNAP section: {e}"),
        }
    }
}

/// A model file that could not be read or written: the file and what is
/// wrong, on one line.
#[derive(Debug)]
pub struct ModelError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: ModelErrorKind,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for ModelError {}

impl Model {
    /// The file's bytes.
    ///
    /// # Errors
    /// If the metadata cannot be written as JSON (not expected).
    pub fn to_bytes(&self) -> serde_json::Result<Vec<u8>> {
        let meta = serde_json::to_vec(&MetaOut {
            meta: &self.meta,
            movers: self.states.iter().map(|s| &s.moves).collect(),
        })?;
        let stream: &[(Vec<f32>, f32)] = self.states.first().map_or(&[], |s| &s.stream);
        let width = self.meta.d + 1;
        let mut observations = Vec::with_capacity(8 + 4 * width * stream.len());
        observations.extend((stream.len() as u32).to_le_bytes());
        observations.extend((width as u32).to_le_bytes());
        for (x, y) in stream {
            for v in x.iter().chain([y]) {
                observations.extend(v.to_le_bytes());
            }
        }
        let mut bytes = Vec::new();
        bytes.extend(MAGIC);
        bytes.extend(MODEL_VERSION.to_le_bytes());
        bytes.extend([0, 0]);
        let sections = [(META, &meta)]
            .into_iter()
            .chain(self.states.iter().map(|s| (SNAP, &s.snapshot)))
            .chain([(OBSV, &observations)]);
        for (tag, body) in sections {
            bytes.extend(tag);
            bytes.extend((body.len() as u32).to_le_bytes());
            bytes.extend(body.iter());
        }
        let crc = CRC.checksum(&bytes);
        bytes.extend(crc.to_le_bytes());
        Ok(bytes)
    }

    /// Reads a model from its file's bytes (see the module docs).
    ///
    /// # Errors
    /// A [`ModelErrorKind`] saying what is wrong and where.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::model::{Model, ModelErrorKind};
    /// let err = Model::from_bytes(b"not a model").unwrap_err();
    /// assert!(matches!(err, ModelErrorKind::NotAModel { .. }));
    /// assert!(err.to_string().starts_with("not an hsmoe model file"));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelErrorKind> {
        let len = bytes.len();
        let need = |what: &str, at: usize, needed: usize| {
            bytes
                .get(at..at + needed)
                .ok_or_else(|| ModelErrorKind::Truncated {
                    what: what.to_owned(),
                    at,
                    needed,
                    len,
                })
        };
        let magic = &bytes[..len.min(4)];
        if magic != MAGIC {
            return Err(ModelErrorKind::NotAModel {
                found: magic.to_vec(),
            });
        }
        let header = need("header", 0, HEADER_LEN)?;
        let version = u16::from_le_bytes([header[4], header[5]]);
        if version != MODEL_VERSION {
            return Err(ModelErrorKind::Version { found: version });
        }
        let mut at = HEADER_LEN;
        // The next section's tag and body, which must be one of `tags`.
        let mut section = |tags: &[[u8; 4]]| {
            let name = String::from_utf8_lossy(&tags[0]).into_owned();
            let head = need(&format!("{name} section header"), at, 8)?;
            let tag: [u8; 4] = [head[0], head[1], head[2], head[3]];
            if !tags.contains(&tag) {
                return Err(ModelErrorKind::Section { expected: name, at });
            }
            let size = le_u32(&head[4..]) as usize;
            let body = need(&format!("{name} section"), at + 8, size)?;
            at += 8 + size;
            Ok((tag, body))
        };
        let (_, meta_body) = section(&[META])?;
        let mut snapshots = vec![section(&[SNAP])?.1];
        let observations = loop {
            match section(&[SNAP, OBSV])? {
                (SNAP, body) => snapshots.push(body),
                (_, body) => break body,
            }
        };
        let stored = le_u32(need("CRC", at, 4)?);
        if at + 4 != len {
            return Err(ModelErrorKind::Trailing { at: at + 4 });
        }
        let computed = CRC.checksum(&bytes[..at]);
        if stored != computed {
            return Err(ModelErrorKind::Crc { stored, computed });
        }
        let MetaIn { meta, movers } =
            serde_json::from_slice(meta_body).map_err(|e| ModelErrorKind::Meta(e.to_string()))?;
        if movers.len() != snapshots.len() {
            return Err(ModelErrorKind::Islands {
                snapshots: snapshots.len(),
                recorded: movers.len(),
            });
        }
        let stream = read_stream(observations, meta.d + 1)?;
        let states = snapshots
            .iter()
            .zip(movers)
            .map(|(snapshot, moves)| EngineState {
                snapshot: snapshot.to_vec(),
                moves,
                stream: stream.clone(),
            })
            .collect();
        Ok(Model { meta, states })
    }

    /// Writes the model to `path` (through a temporary file renamed into
    /// place, so a crash never leaves half a model).
    ///
    /// # Errors
    /// [`ModelError`] naming the file.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let error = |kind| ModelError {
            path: path.to_path_buf(),
            kind,
        };
        let bytes = self
            .to_bytes()
            .map_err(|e| error(ModelErrorKind::Meta(e.to_string())))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| error(ModelErrorKind::Io(e)))
    }

    /// Reads the model in `path`.
    ///
    /// # Errors
    /// [`ModelError`] naming the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let error = |kind| ModelError {
            path: path.to_path_buf(),
            kind,
        };
        let bytes = std::fs::read(path).map_err(|e| error(ModelErrorKind::Io(e)))?;
        Model::from_bytes(&bytes).map_err(error)
    }

    /// The core engine continuing from this model.
    ///
    /// # Errors
    /// [`ModelErrorKind::Engine`] if the snapshot does not restore (other
    /// sizes or format version, damage).
    pub fn engine(&self) -> Result<Box<dyn OnlineEngine>, ModelErrorKind> {
        resume(self.meta.k, self.meta.d, &self.states, self.meta.seed)
            .map_err(ModelErrorKind::Engine)
    }

    /// The experts' family, from the first island's snapshot header.
    ///
    /// # Errors
    /// [`ModelErrorKind::Engine`] if the model has no snapshot or its
    /// header names no family.
    pub fn family(&self) -> Result<Family, ModelErrorKind> {
        let snapshot = self.states.first().map_or(&[][..], |s| &s.snapshot[..]);
        SnapshotShape::read(snapshot)
            .and_then(|shape| shape.family().ok_or(SnapshotError::Family))
            .map_err(|e| ModelErrorKind::Engine(e.into()))
    }

    /// How new rows are read for this model (`response_optional` for
    /// predictions).
    pub fn load_options(&self, response_optional: bool) -> LoadOptions {
        LoadOptions {
            response_optional,
            ..self.meta.data.clone()
        }
    }

    /// The standardization's moments, if the fit standardized.
    pub fn scaling(&self) -> Option<&Scaling> {
        self.meta.data.scaling.as_ref()
    }
}

/// A little-endian `u32` from the first 4 bytes.
fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The stored observations of an `OBSV` body with `width` columns.
fn read_stream(body: &[u8], width: usize) -> Result<Vec<(Vec<f32>, f32)>, ModelErrorKind> {
    let bad = |found: usize| ModelErrorKind::Stream {
        width: found,
        expected: width,
    };
    if body.len() < 8 {
        return Err(bad(0));
    }
    let (rows, found) = (le_u32(body) as usize, le_u32(&body[4..]) as usize);
    let values = &body[8..];
    if found != width || values.len() != rows * width * 4 {
        return Err(bad(found));
    }
    Ok(values
        .chunks_exact(width * 4)
        .map(|row| {
            let mut v: Vec<f32> = row
                .chunks_exact(4)
                .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let y = v.pop().unwrap_or(f32::NAN);
            (v, y)
        })
        .collect())
}
