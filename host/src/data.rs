//! Loading data files: CSV with a header
//! row, the column named `y` is the response, every other column is a
//! feature in file order.
//!
//! Errors name the file, the line and the column at fault. Lines are
//! counted 1-based as in a text editor, so the header is line 1 and the
//! first data row is line 2. Columns are counted 1-based and also named
//! by their header.

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
    /// Responses, one per row.
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

/// How to turn a file into a [`Dataset`].
///
/// # Examples
/// ```
/// let opts = hsmoe_host::data::LoadOptions::default();
/// assert!(opts.intercept && !opts.standardize);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Add a column of ones as the first feature.
    pub intercept: bool,
    /// Z-score every feature column and `y` with the whole file's mean and
    /// standard deviation (divisor T − 1).
    pub standardize: bool,
}

impl Default for LoadOptions {
    /// Intercept on, standardization off (the CLI defaults).
    fn default() -> Self {
        LoadOptions {
            intercept: true,
            standardize: false,
        }
    }
}

/// Why a data file could not be loaded. `Display` is one line naming the
/// file and, where there is one, the line (1-based, header = line 1) and
/// the column (1-based, with its header name).
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
    /// The file has no header or no data row.
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The header has no column named `y`.
    MissingY {
        /// The file.
        path: PathBuf,
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
    },
    /// A field is NaN or infinite.
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
            DataError::Empty { path } => {
                write!(f, "{}: no header or no data rows", path.display())
            }
            DataError::MissingY { path } => write!(
                f,
                "{}: line 1 (header): no column named `y` (the response)",
                path.display()
            ),
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
            } => write!(
                f,
                "{}: line {line}, column {column} (`{name}`): {text:?} is not a number",
                path.display()
            ),
            DataError::NonFinite {
                path,
                line,
                column,
                name,
                text,
            } => write!(
                f,
                "{}: line {line}, column {column} (`{name}`): {text:?} is not finite",
                path.display()
            ),
            DataError::Constant { path, column, name } => write!(
                f,
                "{}: column {column} (`{name}`) is constant and cannot be standardized",
                path.display()
            ),
            DataError::NoFeatures { path } => write!(
                f,
                "{}: no feature column besides `y`, and the intercept is off",
                path.display()
            ),
        }
    }
}

/// The I/O error is part of the one-line message (`Display`), so it is not
/// also reported as a `source`: an error chain would print it twice.
impl std::error::Error for DataError {}

/// Splits one CSV line into trimmed fields; a field wrapped in double
/// quotes loses them (quoted commas are not supported: data files here
/// are numeric).
fn fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| {
            let f = f.trim();
            f.strip_prefix('"')
                .and_then(|g| g.strip_suffix('"'))
                .unwrap_or(f)
        })
        .collect()
}

/// Loads a CSV data file (see the module documentation).
///
/// Blank lines are skipped; a UTF-8 byte-order mark and `\r\n` line ends
/// are accepted.
///
/// # Errors
/// A [`DataError`] naming the file, line and column at fault.
///
/// # Examples
/// ```
/// use hsmoe_host::data::{load, LoadOptions};
/// let path = std::env::temp_dir().join("hsmoe-doc-load.csv");
/// std::fs::write(&path, "y,a\n1,2\n3,6\n").unwrap();
/// let opts = LoadOptions { intercept: false, standardize: true };
/// let data = load(&path, &opts).unwrap();
/// assert_eq!(data.feature_names, ["a"]);
/// let s = std::f64::consts::FRAC_1_SQRT_2; // (v − mean)/sd with divisor T − 1
/// assert!((data.x[1][0] - s).abs() < 1e-12 && (data.y[0] + s).abs() < 1e-12);
/// ```
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, opts)
}

/// [`load`] on text already in memory; `path` is only used in errors.
///
/// # Errors
/// As [`load`].
///
/// # Examples
/// ```
/// use hsmoe_host::data::{parse, LoadOptions};
/// let err = parse("x,y\n1,2,3\n", "mem.csv".as_ref(), &LoadOptions::default()).unwrap_err();
/// assert_eq!(err.to_string(), "mem.csv: line 2: 3 field(s), but the header has 2");
/// ```
pub fn parse(text: &str, path: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let path_buf = || path.to_path_buf();
    let (_, header) = lines
        .next()
        .ok_or_else(|| DataError::Empty { path: path_buf() })?;
    let names: Vec<String> = fields(header).into_iter().map(str::to_owned).collect();
    for (i, name) in names.iter().enumerate() {
        let reason = if name.is_empty() {
            Some("empty column name")
        } else if names[..i].contains(name) {
            Some("duplicate column name")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DataError::BadHeader {
                path: path_buf(),
                column: i + 1,
                reason,
            });
        }
    }
    let y_col = names
        .iter()
        .position(|n| n == "y")
        .ok_or_else(|| DataError::MissingY { path: path_buf() })?;
    if names.len() == 1 && !opts.intercept {
        return Err(DataError::NoFeatures { path: path_buf() });
    }

    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for (line, text) in lines {
        let row = fields(text);
        if row.len() != names.len() {
            return Err(DataError::Ragged {
                path: path_buf(),
                line,
                expected: names.len(),
                found: row.len(),
            });
        }
        for (c, (field, column)) in row.iter().zip(&mut columns).enumerate() {
            let value: f64 = field.parse().map_err(|_| DataError::BadNumber {
                path: path_buf(),
                line,
                column: c + 1,
                name: names[c].clone(),
                text: (*field).to_owned(),
            })?;
            if !value.is_finite() {
                return Err(DataError::NonFinite {
                    path: path_buf(),
                    line,
                    column: c + 1,
                    name: names[c].clone(),
                    text: (*field).to_owned(),
                });
            }
            column.push(value);
        }
    }
    if columns[y_col].is_empty() {
        return Err(DataError::Empty { path: path_buf() });
    }
    if opts.standardize {
        for (c, column) in columns.iter_mut().enumerate() {
            if !standardize(column) {
                return Err(DataError::Constant {
                    path: path_buf(),
                    column: c + 1,
                    name: names[c].clone(),
                });
            }
        }
    }

    let y = columns[y_col].clone();
    let feature_cols: Vec<usize> = (0..names.len()).filter(|&c| c != y_col).collect();
    let mut feature_names: Vec<String> = Vec::with_capacity(feature_cols.len() + 1);
    if opts.intercept {
        feature_names.push(INTERCEPT_NAME.to_owned());
    }
    feature_names.extend(feature_cols.iter().map(|&c| names[c].clone()));
    let x = (0..y.len())
        .map(|t| {
            let ones = opts.intercept.then_some(1.0);
            ones.into_iter()
                .chain(feature_cols.iter().map(|&c| columns[c][t]))
                .collect()
        })
        .collect();
    Ok(Dataset {
        feature_names,
        x,
        y,
    })
}

/// Z-scores `values` in place (divisor T − 1); false if their spread is
/// zero (or there is one value), leaving them unchanged.
fn standardize(values: &mut [f64]) -> bool {
    let t = values.len() as f64;
    let mean = values.iter().sum::<f64>() / t;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (t - 1.0);
    let sd = var.sqrt();
    if !(sd.is_finite() && sd > 0.0) {
        return false;
    }
    for v in values.iter_mut() {
        *v = (*v - mean) / sd;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        let err = parse(text, Path::new("f.csv"), &LoadOptions::default()).unwrap_err();
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
            "f.csv: line 1 (header): no column named `y` (the response)"
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
            "f.csv: line 3, column 3 (`b`): \"x7\" is not a number"
        );
        assert_eq!(
            parse_err("a,y\n1,NaN\n"),
            "f.csv: line 2, column 2 (`y`): \"NaN\" is not finite"
        );
        assert_eq!(
            parse_err("a,y\n1,-inf\n"),
            "f.csv: line 2, column 2 (`y`): \"-inf\" is not finite"
        );
        assert_eq!(
            parse_err("a,y\n1,\n"),
            "f.csv: line 2, column 2 (`y`): \"\" is not a number"
        );
    }

    #[test]
    fn standardize_rejects_constant_columns() {
        let opts = LoadOptions {
            intercept: true,
            standardize: true,
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
            standardize: false,
        };
        let data = parse(text, Path::new("f.csv"), &opts).unwrap();
        assert_eq!(data.feature_names, ["b", "a"]);
        assert_eq!(data.x, [vec![2.0, 3.0], vec![5.0, 6.0]]);
        assert_eq!(data.y, [1.0, 4.0]);
        let only_y = parse("y\n1\n", Path::new("f.csv"), &opts).unwrap_err();
        assert!(only_y.to_string().contains("no feature column"));
        let with_intercept = parse("y\n1\n2\n", Path::new("f.csv"), &LoadOptions::default());
        assert_eq!(with_intercept.unwrap().x, [vec![1.0], vec![1.0]]);
    }

    #[test]
    fn standardized_columns_have_zero_mean_unit_sd() {
        let opts = LoadOptions {
            intercept: true,
            standardize: true,
        };
        let data = parse("a,y\n1,10\n2,20\n4,15\n", Path::new("f.csv"), &opts).unwrap();
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
