//! Loading data files: CSV with a header row; the response is the column
//! named `y` (or `--y NAME`), the features every other column in file
//! order (or `--features a,b,c`). A first column without a name is a row
//! index (pandas' `to_csv()`) and is not a feature. Missing cells (`NA`,
//! empty, `nan`, see [`is_missing`]) are an error naming the row, or with
//! `--drop-missing` the row is skipped and counted.
//!
//! Errors name the file, the line and the column at fault. Lines are
//! counted 1-based as in a text editor, so the header is line 1 and the
//! first data row is line 2. Columns are counted 1-based and also named
//! by their header.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Name given to the intercept column in [`Dataset::feature_names`].
pub const INTERCEPT_NAME: &str = "intercept";

/// A loaded data set: features and response, row by row.
///
/// # Examples
/// ```
/// use hsmoe_host::data::{load, LoadOptions};
/// let path = std::env::temp_dir().join("hsmoe-doc-dataset.csv");
/// std::fs::write(&path, "x1,y\n0.5,1.0\n1.5,2.0\n").unwrap();
/// let data = load(&path, &LoadOptions::default()).unwrap();
/// assert_eq!(data.feature_names, ["intercept", "x1"]);
/// assert_eq!(data.x, [vec![1.0, 0.5], vec![1.0, 1.5]]);
/// assert_eq!(data.y, [1.0, 2.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Names of the columns of `x`: [`INTERCEPT_NAME`] first (unless the
    /// intercept is off), then the file's feature columns in file order.
    pub feature_names: Vec<String>,
    /// Feature rows; every row has `feature_names.len()` entries.
    pub x: Vec<Vec<f64>>,
    /// Responses, one per row; empty when the file has no response
    /// column and [`LoadOptions::response_optional`] allowed that.
    pub y: Vec<f64>,
}

impl Dataset {
    /// Number of features `d`, the intercept included.
    ///
    /// # Examples
    /// ```
    /// let data = hsmoe_host::data::Dataset {
    ///     feature_names: vec!["intercept".into(), "x1".into()],
    ///     x: vec![vec![1.0, 2.0]],
    ///     y: vec![3.0],
    /// };
    /// assert_eq!(data.d(), 2);
    /// ```
    pub fn d(&self) -> usize {
        self.feature_names.len()
    }

    /// Column means of `x` (the intercept column's mean is 1).
    ///
    /// # Examples
    /// ```
    /// let data = hsmoe_host::data::Dataset {
    ///     feature_names: vec!["intercept".into(), "x1".into()],
    ///     x: vec![vec![1.0, 2.0], vec![1.0, 4.0]],
    ///     y: vec![0.0, 0.0],
    /// };
    /// assert_eq!(data.x_mean(), [1.0, 3.0]);
    /// ```
    pub fn x_mean(&self) -> Vec<f64> {
        let t = self.x.len().max(1) as f64;
        let mut mean = vec![0.0; self.d()];
        for row in &self.x {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / t;
            }
        }
        mean
    }
}

/// The `--data` path that means standard input.
pub const STDIN: &str = "-";

/// The means and standard deviations (divisor T − 1) a standardized
/// data set was z-scored with, to undo it (original units) or to read
/// further files the same way (`predict`, `update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Per feature column of the file, in the order of
    /// [`Dataset::feature_names`] without the intercept.
    pub x_mean: Vec<f64>,
    /// Standard deviations of the same columns.
    pub x_sd: Vec<f64>,
    /// Mean of the response.
    pub y_mean: f64,
    /// Standard deviation of the response.
    pub y_sd: f64,
}

impl Scaling {
    /// A standardized response value in original units.
    ///
    /// # Examples
    /// ```
    /// let s = hsmoe_host::data::Scaling { x_mean: vec![], x_sd: vec![], y_mean: 10.0, y_sd: 2.0 };
    /// assert_eq!(s.y_original(1.5), 13.0);
    /// ```
    pub fn y_original(&self, y: f64) -> f64 {
        y * self.y_sd + self.y_mean
    }
}

/// How to turn a file into a [`Dataset`].
///
/// # Examples
/// ```
/// let opts = hsmoe_host::data::LoadOptions::default();
/// assert!(opts.intercept && !opts.standardize && !opts.drop_missing);
/// assert_eq!((opts.y.as_str(), opts.features), ("y", None));
/// assert!(opts.scaling.is_none() && !opts.response_optional);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Add a column of ones as the first feature.
    pub intercept: bool,
    /// Z-score every feature column and `y` with the whole file's mean and
    /// standard deviation (divisor T − 1).
    pub standardize: bool,
    /// Name of the response column.
    pub y: String,
    /// The feature columns by name, in this order; `None`: every column
    /// but the response and a leading unnamed index column (as pandas'
    /// `to_csv()` writes), in file order.
    pub features: Option<Vec<String>>,
    /// Skip rows with a missing value (see [`is_missing`]) in a used
    /// column instead of failing.
    pub drop_missing: bool,
    /// Standardize with these recorded moments instead of the file's own
    /// (a saved model reading new rows); `standardize` is then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    /// A file without the response column is read with an empty
    /// [`Dataset::y`] instead of being refused (`predict`).
    #[serde(default)]
    pub response_optional: bool,
    /// The response must be 0 or 1 and is never standardized (Bernoulli
    /// experts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary_response: bool,
}

impl LoadOptions {
    /// These options as a saved fit records them for `loaded` (what they
    /// read): the features named explicitly and the standardization's
    /// moments fixed, so that another file is read exactly the same way.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::data::{parse, LoadOptions};
    /// let opts = LoadOptions { standardize: true, ..LoadOptions::default() };
    /// let loaded = parse("a,y\n1,10\n3,20\n", "f.csv".as_ref(), &opts).unwrap();
    /// let recorded = opts.recorded(&loaded);
    /// assert_eq!(recorded.features.unwrap(), ["a"]);
    /// assert_eq!(recorded.scaling.unwrap().y_mean, 15.0);
    /// ```
    pub fn recorded(&self, loaded: &Loaded) -> LoadOptions {
        let names = &loaded.data.feature_names;
        let features = names[usize::from(self.intercept).min(names.len())..].to_vec();
        LoadOptions {
            features: Some(features),
            scaling: loaded.scaling.clone(),
            response_optional: false,
            ..self.clone()
        }
    }
}

impl Default for LoadOptions {
    /// Intercept on, standardization off, response `y`, every other
    /// column a feature, missing values an error (the CLI defaults).
    fn default() -> Self {
        LoadOptions {
            intercept: true,
            standardize: false,
            y: "y".to_owned(),
            features: None,
            drop_missing: false,
            scaling: None,
            response_optional: false,
            binary_response: false,
        }
    }
}

/// A data row left out by [`LoadOptions::drop_missing`]: its first
/// missing cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number (header = 1).
    pub line: usize,
    /// The column's header name.
    pub column: String,
    /// The cell's text.
    pub text: String,
}

/// A loaded file: the data set and the rows left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The rows used.
    pub data: Dataset,
    /// Rows with a missing value, skipped (only with `drop_missing`).
    pub skipped: Vec<Skipped>,
    /// The moments the data were standardized with (`None`: not
    /// standardized).
    pub scaling: Option<Scaling>,
}

impl Loaded {
    /// One line saying which rows were skipped, if any (the first few by
    /// line number).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::data::{parse, LoadOptions};
    /// let opts = LoadOptions { drop_missing: true, ..LoadOptions::default() };
    /// let loaded = parse("x,y\n1,2\nNA,3\n4,5\n", "d.csv".as_ref(), &opts).unwrap();
    /// assert_eq!(loaded.data.y, [2.0, 5.0]);
    /// assert_eq!(
    ///     loaded.skipped_note("d.csv".as_ref()).unwrap(),
    ///     "d.csv: skipped 1 row with a missing value (--drop-missing), 2 used: line 3 (`x` is \"NA\")"
    /// );
    /// ```
    pub fn skipped_note(&self, path: &Path) -> Option<String> {
        const SHOWN: usize = 5;
        let n = self.skipped.len();
        if n == 0 {
            return None;
        }
        let mut lines: Vec<String> = self
            .skipped
            .iter()
            .take(SHOWN)
            .map(|s| format!("line {} (`{}` is {:?})", s.line, s.column, s.text))
            .collect();
        if n > SHOWN {
            lines.push(format!("… {} more", n - SHOWN));
        }
        Some(format!(
            "{}: skipped {n} row{} with a missing value (--drop-missing), {} used: {}",
            display_path(path).display(),
            if n == 1 { "" } else { "s" },
            self.data.y.len(),
            lines.join(", ")
        ))
    }
}

/// Why a data file could not be loaded. `Display` is one line naming the
/// file and, where there is one, the line (1-based, header = line 1) and
/// the column (1-based, with its header name), and what to do.
///
/// # Examples
/// ```
/// use hsmoe_host::data::{load, LoadOptions};
/// let path = std::env::temp_dir().join("hsmoe-doc-error.csv");
/// std::fs::write(&path, "x1,y\n0.5,1.0\n0.7,abc\n").unwrap();
/// let err = load(&path, &LoadOptions::default()).unwrap_err();
/// let text = err.to_string();
/// assert!(text.contains("line 3") && text.contains("column 2 (`y`)"), "{text}");
/// assert!(!text.contains('\n'));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid CSV text (e.g. not UTF-8).
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV reader's message.
        message: String,
    },
    /// The file has no header or no data row.
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The header has no column of a name asked for.
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
        /// `true` for the response (`--y`), `false` for a feature.
        response: bool,
        /// The header's names.
        columns: Vec<String>,
    },
    /// `--features` names a column twice, or names the response.
    BadFeatures {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two header columns have the same name, or one is empty.
    BadHeader {
        /// The file.
        path: PathBuf,
        /// 1-based column number.
        column: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A data row has a different number of fields than the header.
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number (header = 1).
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields on this line.
        found: usize,
    },
    /// A field is not a number.
    BadNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number (header = 1).
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's header name.
        name: String,
        /// The offending text.
        text: String,
        /// Whether the column was picked by `--features` (else it is
        /// used because every column is by default).
        picked: bool,
    },
    /// A field is missing (see [`is_missing`]).
    Missing {
        /// The file.
        path: PathBuf,
        /// 1-based line number (header = 1).
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's header name.
        name: String,
        /// The offending text.
        text: String,
    },
    /// A field is infinite.
    NonFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number (header = 1).
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's header name.
        name: String,
        /// The offending text.
        text: String,
    },
    /// A binary response (Bernoulli experts) is neither 0 nor 1.
    NotBinary {
        /// The file.
        path: PathBuf,
        /// 1-based line number (header = 1).
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's header name.
        name: String,
        /// The offending text.
        text: String,
    },
    /// `--standardize` met a column with zero spread.
    Constant {
        /// The file.
        path: PathBuf,
        /// 1-based column number.
        column: usize,
        /// The column's header name.
        name: String,
    },
    /// No feature column is left (no column but `y` and no intercept).
    NoFeatures {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            DataError::Csv { path, message } => {
                write!(f, "{}: not CSV text: {message}", path.display())
            }
            DataError::Empty { path } => {
                write!(f, "{}: no header or no data rows", path.display())
            }
            DataError::MissingColumn {
                path,
                name,
                response,
                columns,
            } => {
                let columns: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
                let (role, flag) = if *response {
                    (" (the response)", "choose the response with --y NAME")
                } else {
                    ("", "list features with --features a,b,c")
                };
                write!(
                    f,
                    "{}: line 1 (header): no column named `{name}`{role}; the columns are {}; {flag}",
                    path.display(),
                    columns.join(", ")
                )
            }
            DataError::BadFeatures { path, name, reason } => {
                write!(f, "{}: --features: `{name}` {reason}", path.display())
            }
            DataError::BadHeader {
                path,
                column,
                reason,
            } => write!(
                f,
                "{}: line 1 (header), column {column}: {reason}",
                path.display()
            ),
            DataError::Ragged {
                path,
                line,
                expected,
                found,
            } => write!(
                f,
                "{}: line {line}: {found} field(s), but the header has {expected}",
                path.display()
            ),
            DataError::BadNumber {
                path,
                line,
                column,
                name,
                text,
                picked,
            } => {
                write!(
                    f,
                    "{}: line {line}, column {column} (`{name}`): {text:?} is not a number",
                    path.display()
                )?;
                if !picked {
                    write!(
                        f,
                        "; to leave the column out, list the features with --features a,b,c"
                    )?;
                }
                Ok(())
            }
            DataError::Missing {
                path,
                line,
                column,
                name,
                text,
            }
            | DataError::NonFinite {
                path,
                line,
                column,
                name,
                text,
            }
            | DataError::NotBinary {
                path,
                line,
                column,
                name,
                text,
            } => {
                write!(
                    f,
                    "{}: line {line}, column {column} (`{name}`): ",
                    path.display()
                )?;
                match self {
                    DataError::Missing { .. } => write!(
                        f,
                        "missing value {text:?}; fill it in, or skip such rows with --drop-missing"
                    ),
                    DataError::NonFinite { .. } => write!(f, "{text:?} is not finite"),
                    _ => write!(
                        f,
                        "{text:?} is not 0 or 1, as a response of Bernoulli experts must be"
                    ),
                }
            }
            DataError::Constant { path, column, name } => write!(
                f,
                "{}: column {column} (`{name}`) is constant and cannot be standardized",
                path.display()
            ),
            DataError::NoFeatures { path } => write!(
                f,
                "{}: no feature column besides the response, and the intercept is off",
                path.display()
            ),
        }
    }
}

/// The I/O error is part of the one-line message (`Display`), so it is not
/// also reported as a `source`: an error chain would print it twice.
impl std::error::Error for DataError {}

/// Whether a cell's text (trimmed) is a missing value: empty, `NA`,
/// `N/A`, `NaN` or `null`, in any case (what pandas, R and spreadsheets
/// write for one).
///
/// # Examples
/// ```
/// use hsmoe_host::data::is_missing;
/// assert!(is_missing("") && is_missing("NA") && is_missing("nan") && is_missing("NULL"));
/// assert!(!is_missing("0") && !is_missing("inf"));
/// ```
pub fn is_missing(text: &str) -> bool {
    text.is_empty()
        || ["na", "n/a", "nan", "null"]
            .iter()
            .any(|m| text.eq_ignore_ascii_case(m))
}

/// How `path` is named in messages: standard input for [`STDIN`].
fn display_path(path: &Path) -> &Path {
    if path == Path::new(STDIN) {
        Path::new("<standard input>")
    } else {
        path
    }
}

/// Loads a CSV data file (see the module documentation); [`STDIN`]
/// reads standard input.
///
/// # Errors
/// A [`DataError`] naming the file, line and column at fault.
///
/// # Examples
/// ```
/// use hsmoe_host::data::{load, LoadOptions};
/// let path = std::env::temp_dir().join("hsmoe-doc-load.csv");
/// std::fs::write(&path, "y,a\n1,2\n3,6\n").unwrap();
/// let opts = LoadOptions { intercept: false, standardize: true, ..LoadOptions::default() };
/// let data = load(&path, &opts).unwrap();
/// assert_eq!(data.feature_names, ["a"]);
/// let s = std::f64::consts::FRAC_1_SQRT_2; // (v − mean)/sd with divisor T − 1
/// assert!((data.x[1][0] - s).abs() < 1e-12 && (data.y[0] + s).abs() < 1e-12);
/// ```
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    read(path, opts).map(|loaded| loaded.data)
}

/// [`load`], also returning the rows skipped for a missing value.
///
/// # Errors
/// As [`load`].
pub fn read(path: &Path, opts: &LoadOptions) -> Result<Loaded, DataError> {
    let io_error = |source| DataError::Io {
        path: display_path(path).to_path_buf(),
        source,
    };
    let text = if path == Path::new(STDIN) {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text).map_err(io_error)?;
        text
    } else {
        std::fs::read_to_string(path).map_err(io_error)?
    };
    parse(&text, path, opts)
}

/// [`read`] on text already in memory; `path` is only used in messages.
///
/// Quoted fields (RFC 4180) are accepted, as are a UTF-8 byte-order
/// mark, `\r\n` line ends, blank lines and spaces around fields.
///
/// # Errors
/// As [`load`].
///
/// # Examples
/// ```
/// use hsmoe_host::data::{parse, LoadOptions};
/// let err = parse("x,y\n1,2,3\n", "mem.csv".as_ref(), &LoadOptions::default()).unwrap_err();
/// assert_eq!(err.to_string(), "mem.csv: line 2: 3 field(s), but the header has 2");
/// // pandas' `to_csv()`: an unnamed index column, quoted names, NA.
/// let text = ",\"speed, km/h\",y\n0,1.5,2\n1,NA,3\n";
/// let opts = LoadOptions { drop_missing: true, ..LoadOptions::default() };
/// let loaded = parse(text, "p.csv".as_ref(), &opts).unwrap();
/// assert_eq!(loaded.data.feature_names, ["intercept", "speed, km/h"]);
/// assert_eq!((loaded.data.y.as_slice(), loaded.skipped.len()), (&[2.0][..], 1));
/// ```
pub fn parse(text: &str, path: &Path, opts: &LoadOptions) -> Result<Loaded, DataError> {
    let path = display_path(path);
    let path_buf = || path.to_path_buf();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // A line of spaces reads as one empty field: a blank line.
    let mut records = reader
        .records()
        .filter(|r| !r.as_ref().is_ok_and(|r| r.len() == 1 && r[0].is_empty()));
    let csv_error = |e: csv::Error| DataError::Csv {
        path: path_buf(),
        message: e.to_string(),
    };
    let header = records
        .next()
        .ok_or_else(|| DataError::Empty { path: path_buf() })?
        .map_err(csv_error)?;
    let names: Vec<String> = header.iter().map(str::to_owned).collect();
    // pandas writes its row index as a first column with an empty name.
    let index_column = names.len() > 1 && names[0].is_empty();
    let index = |i: usize| i == 0 && index_column;
    let reasons = ["empty column name", "duplicate column name"];
    if let Some((i, reason)) = first_bad_name(&names, index, reasons) {
        return Err(DataError::BadHeader {
            path: path_buf(),
            column: i + 1,
            reason,
        });
    }
    let column_of = |name: &str, response: bool| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| DataError::MissingColumn {
                path: path_buf(),
                name: name.to_owned(),
                response,
                columns: names.iter().filter(|n| !n.is_empty()).cloned().collect(),
            })
    };
    let y_col = match column_of(&opts.y, true) {
        Err(_) if opts.response_optional => None,
        found => Some(found?),
    };
    let feature_cols: Vec<usize> = match &opts.features {
        None => (usize::from(index_column)..names.len())
            .filter(|&c| Some(c) != y_col)
            .collect(),
        Some(features) => {
            let bad = features
                .iter()
                .position(|name| *name == opts.y)
                .map(|i| (i, "is the response"))
                .or_else(|| first_bad_name(features, |_| false, ["is empty", "is listed twice"]));
            if let Some((i, reason)) = bad {
                return Err(DataError::BadFeatures {
                    path: path_buf(),
                    name: features[i].clone(),
                    reason,
                });
            }
            features
                .iter()
                .map(|name| column_of(name, false))
                .collect::<Result<_, _>>()?
        }
    };
    if feature_cols.is_empty() && !opts.intercept {
        return Err(DataError::NoFeatures { path: path_buf() });
    }

    // The used columns: the features, then y.
    let used: Vec<usize> = feature_cols.iter().copied().chain(y_col).collect();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); used.len()];
    let mut skipped = Vec::new();
    let mut row = Vec::with_capacity(used.len());
    let mut lines = LineCounter {
        text: text.as_bytes(),
        byte: 0,
        line: 1,
    };
    for record in records {
        let record = record.map_err(csv_error)?;
        let line = lines.at(record.position().map_or(0, |p| p.byte() as usize));
        if record.len() != names.len() {
            return Err(DataError::Ragged {
                path: path_buf(),
                line,
                expected: names.len(),
                found: record.len(),
            });
        }
        row.clear();
        let mut missing = None;
        for &c in &used {
            let field = &record[c];
            let at = |c: usize| (path_buf(), line, c + 1, names[c].clone(), field.to_owned());
            if is_missing(field) {
                if !opts.drop_missing {
                    let (path, line, column, name, text) = at(c);
                    return Err(DataError::Missing {
                        path,
                        line,
                        column,
                        name,
                        text,
                    });
                }
                missing.get_or_insert(Skipped {
                    line,
                    column: names[c].clone(),
                    text: field.to_owned(),
                });
                continue;
            }
            let value: f64 = field.parse().map_err(|_| {
                let (path, line, column, name, text) = at(c);
                DataError::BadNumber {
                    path,
                    line,
                    column,
                    name,
                    text,
                    picked: opts.features.is_some(),
                }
            })?;
            if !value.is_finite() {
                let (path, line, column, name, text) = at(c);
                return Err(DataError::NonFinite {
                    path,
                    line,
                    column,
                    name,
                    text,
                });
            }
            if opts.binary_response && Some(c) == y_col && value != 0.0 && value != 1.0 {
                let (path, line, column, name, text) = at(c);
                return Err(DataError::NotBinary {
                    path,
                    line,
                    column,
                    name,
                    text,
                });
            }
            row.push(value);
        }
        match missing {
            Some(skip) => skipped.push(skip),
            None => {
                for (column, &v) in columns.iter_mut().zip(&row) {
                    column.push(v);
                }
            }
        }
    }
    let rows = columns.first().map_or(0, Vec::len);
    if rows == 0 {
        return Err(DataError::Empty { path: path_buf() });
    }
    let scaling = match &opts.scaling {
        Some(recorded) => Some(recorded.clone()),
        None if opts.standardize => {
            // A binary response keeps its 0 and 1: its moments are (0, 1).
            let standardized = if opts.binary_response {
                &used[..feature_cols.len()]
            } else {
                &used[..]
            };
            let mut moments = Vec::with_capacity(used.len());
            for (column, &c) in columns.iter().zip(standardized) {
                moments.push(column_moments(column).ok_or_else(|| DataError::Constant {
                    path: path_buf(),
                    column: c + 1,
                    name: names[c].clone(),
                })?);
            }
            // Without a response column there is nothing to record for it.
            let (y_mean, y_sd) = match y_col {
                Some(_) if !opts.binary_response => moments.pop().unwrap_or((0.0, 1.0)),
                _ => (0.0, 1.0),
            };
            Some(Scaling {
                x_mean: moments.iter().map(|m| m.0).collect(),
                x_sd: moments.iter().map(|m| m.1).collect(),
                y_mean,
                y_sd,
            })
        }
        None => None,
    };
    if let Some(scaling) = &scaling {
        let y_moments = y_col.map(|_| (scaling.y_mean, scaling.y_sd));
        let moments = scaling
            .x_mean
            .iter()
            .copied()
            .zip(scaling.x_sd.iter().copied());
        for (column, (mean, sd)) in columns.iter_mut().zip(moments.chain(y_moments)) {
            for v in column.iter_mut() {
                *v = (*v - mean) / sd;
            }
        }
    }

    let y = if y_col.is_some() {
        columns.pop().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut feature_names: Vec<String> = Vec::with_capacity(feature_cols.len() + 1);
    if opts.intercept {
        feature_names.push(INTERCEPT_NAME.to_owned());
    }
    feature_names.extend(feature_cols.iter().map(|&c| names[c].clone()));
    let x = (0..rows)
        .map(|t| {
            let ones = opts.intercept.then_some(1.0);
            ones.into_iter()
                .chain(columns.iter().map(|column| column[t]))
                .collect()
        })
        .collect();
    Ok(Loaded {
        data: Dataset {
            feature_names,
            x,
            y,
        },
        skipped,
        scaling,
    })
}

/// The first of `names` that is empty (unless `may_be_empty(i)`) or
/// repeats an earlier name, with the matching one of `reasons`
/// (`[empty, duplicate]`): the header's check and `--features`'.
fn first_bad_name(
    names: &[String],
    may_be_empty: impl Fn(usize) -> bool,
    reasons: [&'static str; 2],
) -> Option<(usize, &'static str)> {
    names.iter().enumerate().find_map(|(i, name)| {
        if name.is_empty() {
            (!may_be_empty(i)).then_some((i, reasons[0]))
        } else {
            names[..i].contains(name).then_some((i, reasons[1]))
        }
    })
}

/// Line numbers of byte offsets, counted incrementally (the CSV reader's
/// own count leaves out the blank lines it skips).
struct LineCounter<'a> {
    text: &'a [u8],
    byte: usize,
    line: usize,
}

impl LineCounter<'_> {
    /// The 1-based line of the record read from byte `offset` on (which
    /// may start with the blank lines skipped before it), not before the
    /// previous one.
    fn at(&mut self, offset: usize) -> usize {
        let mut offset = offset.clamp(self.byte, self.text.len());
        while self
            .text
            .get(offset)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            offset += 1;
        }
        self.line += self.text[self.byte..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.byte = offset;
        self.line
    }
}

/// Mean and standard deviation (divisor T − 1) of `values`; `None` if
/// their spread is zero (or there is one value): they cannot be z-scored.
fn column_moments(values: &[f64]) -> Option<(f64, f64)> {
    let t = values.len() as f64;
    let mean = values.iter().sum::<f64>() / t;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (t - 1.0);
    let sd = var.sqrt();
    (sd.is_finite() && sd > 0.0).then_some((mean, sd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse_err_with(text, &LoadOptions::default())
    }

    fn parse_err_with(text: &str, opts: &LoadOptions) -> String {
        let err = parse(text, Path::new("f.csv"), opts).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        msg
    }

    #[test]
    fn every_error_names_file_line_and_column() {
        assert_eq!(parse_err(""), "f.csv: no header or no data rows");
        assert_eq!(parse_err("x,y\n"), "f.csv: no header or no data rows");
        assert_eq!(
            parse_err("x,z\n1,2\n"),
            "f.csv: line 1 (header): no column named `y` (the response); \
             the columns are `x`, `z`; choose the response with --y NAME"
        );
        assert_eq!(
            parse_err("x,y,x\n1,2,3\n"),
            "f.csv: line 1 (header), column 3: duplicate column name"
        );
        assert_eq!(
            parse_err("x,y\n1,2\n\n3\n"),
            "f.csv: line 4: 1 field(s), but the header has 2"
        );
        assert_eq!(
            parse_err("a,y,b\n1,2,3\n4,5,x7\n"),
            "f.csv: line 3, column 3 (`b`): \"x7\" is not a number; \
             to leave the column out, list the features with --features a,b,c"
        );
        assert_eq!(
            parse_err("a,y\n1,NaN\n"),
            "f.csv: line 2, column 2 (`y`): missing value \"NaN\"; \
             fill it in, or skip such rows with --drop-missing"
        );
        assert_eq!(
            parse_err("a,y\n1,-inf\n"),
            "f.csv: line 2, column 2 (`y`): \"-inf\" is not finite"
        );
        assert!(parse_err("a,y\n1,\n").contains("missing value \"\""));
        let picked = LoadOptions {
            features: Some(vec!["a".into(), "c".into()]),
            ..LoadOptions::default()
        };
        assert_eq!(
            parse_err_with("a,y,b\n1,2,3\n", &picked),
            "f.csv: line 1 (header): no column named `c`; \
             the columns are `a`, `y`, `b`; list features with --features a,b,c"
        );
        let response = LoadOptions {
            features: Some(vec!["y".into()]),
            ..LoadOptions::default()
        };
        assert_eq!(
            parse_err_with("a,y\n1,2\n", &response),
            "f.csv: --features: `y` is the response"
        );
        assert_eq!(
            parse_err("a,,y\n1,2,3\n"),
            "f.csv: line 1 (header), column 2: empty column name"
        );
    }

    #[test]
    fn pandas_files_with_index_quotes_and_missing_values() {
        let text = ",\"name, full\",x1,x2,target\n\
                    0,\"Smith, J.\",1.5,2,10\n\
                    1,\"Doe\",NA,3,11\n\
                    2,\"Roe\",2.5,4,\n\
                    3,\"Poe\",3.5,5,12\n";
        let opts = LoadOptions {
            y: "target".into(),
            features: Some(vec!["x2".into(), "x1".into()]),
            drop_missing: true,
            ..LoadOptions::default()
        };
        let loaded = parse(text, Path::new("p.csv"), &opts).unwrap();
        assert_eq!(loaded.data.feature_names, ["intercept", "x2", "x1"]);
        assert_eq!(loaded.data.x, [vec![1.0, 2.0, 1.5], vec![1.0, 5.0, 3.5]]);
        assert_eq!(loaded.data.y, [10.0, 12.0]);
        let lines: Vec<usize> = loaded.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4]);
        assert_eq!(loaded.skipped[1].column, "target");
        // Without --drop-missing the first missing cell is an error.
        let strict = LoadOptions {
            drop_missing: false,
            ..opts
        };
        assert_eq!(
            parse_err_with(text, &strict),
            "f.csv: line 3, column 3 (`x1`): missing value \"NA\"; \
             fill it in, or skip such rows with --drop-missing"
        );
    }

    #[test]
    fn standardize_rejects_constant_columns() {
        let opts = LoadOptions {
            standardize: true,
            ..LoadOptions::default()
        };
        let err = parse("a,y\n1,2\n1,3\n", Path::new("f.csv"), &opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.csv: column 1 (`a`) is constant and cannot be standardized"
        );
    }

    #[test]
    fn y_may_be_anywhere_and_quotes_bom_crlf_are_accepted() {
        let text = "\u{feff}\"y\",\"b\",a\r\n1, 2 ,3\r\n4,5,6\r\n";
        let opts = LoadOptions {
            intercept: false,
            ..LoadOptions::default()
        };
        let data = parse(text, Path::new("f.csv"), &opts).unwrap().data;
        assert_eq!(data.feature_names, ["b", "a"]);
        assert_eq!(data.x, [vec![2.0, 3.0], vec![5.0, 6.0]]);
        assert_eq!(data.y, [1.0, 4.0]);
        let only_y = parse("y\n1\n", Path::new("f.csv"), &opts).unwrap_err();
        assert!(only_y.to_string().contains("no feature column"));
        let with_intercept = parse("y\n1\n2\n", Path::new("f.csv"), &LoadOptions::default());
        assert_eq!(with_intercept.unwrap().data.x, [vec![1.0], vec![1.0]]);
    }

    #[test]
    fn standardized_columns_have_zero_mean_unit_sd() {
        let opts = LoadOptions {
            standardize: true,
            ..LoadOptions::default()
        };
        let data = parse("a,y\n1,10\n2,20\n4,15\n", Path::new("f.csv"), &opts)
            .unwrap()
            .data;
        for column in [
            data.x.iter().map(|r| r[1]).collect::<Vec<_>>(),
            data.y.clone(),
        ] {
            let mean = column.iter().sum::<f64>() / 3.0;
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
        }
        assert!(
            data.x.iter().all(|r| r[0] == 1.0),
            "the intercept is not standardized"
        );
    }
}
