//! The device's defmt log, decoded with the firmware ELF.
//!
//! defmt sends only an index into a string table and the raw arguments;
//! the table lives in the ELF's `.defmt` section, so the host needs the
//! exact ELF the device runs to turn the byte stream into readable lines.

use anyhow::Context as _;
use defmt_decoder::{DecodeError, Encoding, Table};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A background reader that decodes a defmt byte stream into lines.
#[derive(Debug)]
pub struct DeviceLog {
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl DeviceLog {
    /// Decodes `source` (e.g. QEMU's stdout carrying semihosting output)
    /// with the string table of `elf`, on a background thread, until it
    /// ends. With `echo` each line is also printed on stderr, prefixed
    /// with `device:`.
    ///
    /// # Errors
    /// If `elf` cannot be read or has no valid defmt table.
    pub fn spawn(
        elf: &Path,
        source: impl Read + Send + 'static,
        echo: bool,
    ) -> anyhow::Result<DeviceLog> {
        let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
        let table = Table::parse(&bytes)
            .with_context(|| format!("cannot read the defmt table of {}", elf.display()))?
            .with_context(|| format!("{} has no defmt table", elf.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            decode_stream(&table, source, |line| {
                if echo {
                    eprintln!("device: {line}");
                }
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            })
        });
        Ok(DeviceLog {
            lines,
            reader: Some(reader),
        })
    }

    /// The lines decoded so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits for the stream to end and returns every line.
    pub fn join(mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.lines()
    }
}

/// Reads `source` to its end, passing each decoded log line to `emit`.
/// Undecodable bytes become a `(malformed defmt frame)` line; an rzcobs
/// stream (the firmware's encoding) resumes at the next frame, a raw one
/// cannot resynchronize and ends there.
fn decode_stream(table: &Table, mut source: impl Read, mut emit: impl FnMut(String)) {
    let mut decoder = table.new_stream_decoder();
    let mut buf = [0u8; 4096];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.received(&buf[..n]);
        loop {
            match decoder.decode() {
                Ok(frame) => emit(frame.display(false).to_string()),
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) => {
                    emit("(malformed defmt frame)".to_owned());
                    if matches!(table.encoding(), Encoding::Raw) {
                        return;
                    }
                }
            }
        }
    }
}
