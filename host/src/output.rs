//! Where a command's output files go: `-` for `--json`, `--csv`, `-o`
//! and the like means standard output, and the command's own messages
//! then go to standard error so that the output can be piped.

use anyhow::Context as _;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// The layout version of every JSON document hsmoe writes (fit and
/// validation reports, decoded telemetry, benchmarks, a simulation's
/// truth), its first field `schema_version`: a change to any of them
/// that a reader would notice bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON document: `schema_version` first, then `body`'s fields.
#[derive(Serialize)]
struct Versioned<'a, T> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `value` (a struct or map) as pretty JSON with [`SCHEMA_VERSION`] as
/// its first field.
///
/// # Errors
/// If `value` does not serialize to a JSON object.
///
/// # Examples
/// ```
/// #[derive(serde::Serialize)]
/// struct Report { n: u32 }
/// let text = hsmoe_host::output::json(&Report { n: 3 }).unwrap();
/// assert_eq!(text, "{\n  \"schema_version\": 1,\n  \"n\": 3\n}");
/// ```
pub fn json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Versioned {
        schema_version: SCHEMA_VERSION,
        body: value,
    })
}

/// Checks the `schema_version` of a JSON document hsmoe wrote.
///
/// # Errors
/// Text that is not a JSON object, or one without [`SCHEMA_VERSION`].
///
/// # Examples
/// ```
/// use hsmoe_host::output::check_schema;
/// assert!(check_schema(b"{\"schema_version\": 1, \"n\": 3}").is_ok());
/// let old = check_schema(b"{\"n\": 3}").unwrap_err().to_string();
/// assert!(old.contains("no schema_version"), "{old}");
/// ```
pub fn check_schema(bytes: &[u8]) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Header {
        schema_version: Option<u32>,
    }
    let header: Header = serde_json::from_slice(bytes).context("not a JSON object")?;
    match header.schema_version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(v) => anyhow::bail!(
            "schema_version {v}, but this hsmoe reads {SCHEMA_VERSION}: use the hsmoe that wrote it"
        ),
        None => anyhow::bail!(
            "no schema_version: not written by this hsmoe (rerun the command that made it)"
        ),
    }
}

/// The output path that means standard output.
pub const STDOUT: &str = "-";

/// Whether `path` is [`STDOUT`].
///
/// # Examples
/// ```
/// use hsmoe_host::output::is_stdout;
/// assert!(is_stdout("-".as_ref()) && !is_stdout("./-".as_ref()));
/// ```
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new(STDOUT)
}

/// Writes `bytes` to the file `path`, or to standard output for [`STDOUT`].
///
/// # Errors
/// If the file cannot be written (naming it) or standard output is
/// closed.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .context("writing to standard output")
    } else {
        std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// Where a command prints its messages: standard error when one of its
/// `outputs` is standard output, else standard output.
pub fn messages<'a>(outputs: impl IntoIterator<Item = &'a Path>) -> Box<dyn Write> {
    if outputs.into_iter().any(is_stdout) {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

/// What a command with a table and an optional JSON report prints: the
/// JSON (`json()`, then a newline) to `path` if one is given, then `table`
/// and, for a file, a "wrote PATH" line as the command's messages. The
/// file comes first, so a closed standard output cannot lose it.
///
/// # Errors
/// The JSON cannot be made or written, or the messages cannot be printed.
pub fn table_and_json(
    path: Option<&Path>,
    json: impl FnOnce() -> anyhow::Result<String>,
    table: &str,
) -> anyhow::Result<()> {
    if let Some(path) = path {
        write(path, (json()? + "\n").as_bytes())?;
    }
    let mut out = messages(path);
    writeln!(out, "{table}")?;
    if let Some(path) = path.filter(|p| !is_stdout(p)) {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}
