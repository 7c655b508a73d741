//! The benchmark report as Markdown tables, and its splice into a
//! document between markers.

use anyhow::anyhow;
use std::fmt::Write as _;

use super::points::*;
use super::report::{BenchReport, Measurement};
use super::timing::{loglog_slope, UpdateTiming};

/// Whether a figure meets its target, for the target column.
fn verdict(met: bool) -> &'static str {
    if met {
        ": met"
    } else {
        ": **not met**"
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

impl BenchReport {
    /// The report as Markdown tables (what `hsmoe bench` prints).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = self.write_markdown(&mut s);
        s
    }

    fn write_markdown(&self, s: &mut String) -> std::fmt::Result {
        writeln!(
            s,
            "Machine: {}{}.\nFigures: {}.\n",
            self.machine,
            if self.quick { " (--quick)" } else { "" },
            self.source
        )?;
        let at = |f: &Measurement| match (f.n, f.k, f.d) {
            (Some(n), Some(k), Some(d)) => format!("N = {n}, K = {k}, D = {d}"),
            _ => f.note.clone(),
        };
        writeln!(s, "| figure | value | at | target |")?;
        writeln!(s, "|---|---|---|---|")?;
        let c = &self.core_update_ns;
        writeln!(s, "| core update | {} | {} | |", fmt_ns(c.value), at(c))?;
        let r = &self.reference_update_ns;
        writeln!(
            s,
            "| reference update | {} | {} | |",
            fmt_ns(r.value),
            at(r)
        )?;
        let ratio = &self.ratio_core_vs_reference;
        writeln!(
            s,
            "| core vs reference | {:.1}× faster | {} | ≥ 5×{} |",
            ratio.value,
            at(ratio),
            verdict(ratio.value >= 5.0)
        )?;
        let e = &self.exponent_d;
        writeln!(
            s,
            "| exponent of update time in D | {:.2} | N = {}, K = {}, {} | ≤ 2.2{} |",
            e.value,
            EXPONENT_NK.0,
            EXPONENT_NK.1,
            e.note,
            verdict(e.value <= 2.2)
        )?;
        let (pg, exact) = (&self.pg_draws_per_s, &self.pg_exact_draws_per_s);
        writeln!(
            s,
            "| PG(1, c) core (f32 approximation) | {:.2} M draws/s | {} | |",
            pg.value / 1e6,
            pg.note
        )?;
        writeln!(
            s,
            "| PG(1, c) exact (Devroye, f64) | {:.2} M draws/s | {} | |",
            exact.value / 1e6,
            exact.note
        )?;
        writeln!(
            s,
            "| PG core vs exact | {:.1}× | same run | ≥ 2×{} |",
            self.ratio_pg_vs_exact.value,
            verdict(self.ratio_pg_vs_exact.value >= 2.0)
        )?;
        let rr = &self.ratio_refresh_r1_vs_rd;
        writeln!(
            s,
            "| refresh R = 1 vs R = D | {:.2}× slower | {} | |",
            rr.value,
            at(rr)
        )?;
        match &self.firmware_instructions_per_update {
            Some(f) => {
                let per_particle = f.value / f.n.unwrap_or(1) as f64;
                writeln!(
                    s,
                    "| firmware instructions per update | {:.0} ({per_particle:.0} per particle) | {} (QEMU) | ≤ 5 000 per particle{} |",
                    f.value,
                    at(f),
                    verdict(per_particle <= 5_000.0)
                )?
            }
            None => writeln!(
                s,
                "| firmware instructions per update | not measured (--qemu) | | ≤ 5 000 per particle |"
            )?,
        }
        writeln!(
            s,
            "\nUpdate time against D (N = {}, K = {}, R = D):\n",
            EXPONENT_NK.0, EXPONENT_NK.1
        )?;
        series_table(s, "D", &self.update_vs_d, |p| p.d)?;
        writeln!(
            s,
            "\nUpdate time against N (K = {}, D = {}):\n",
            N_SERIES_KD.0, N_SERIES_KD.1
        )?;
        series_table(s, "N", &self.update_vs_n, |p| p.n)?;
        if !self.pg_by_c.is_empty() {
            writeln!(s, "\nPG(1, c) draws per second by c:\n")?;
            writeln!(s, "| c | core (M/s) | exact (M/s) | core vs exact |")?;
            writeln!(s, "|---|---|---|---|")?;
            for (c, core, exact) in &self.pg_by_c {
                writeln!(
                    s,
                    "| {c} | {:.2} | {:.2} | {:.1}× |",
                    core / 1e6,
                    exact / 1e6,
                    core / exact
                )?;
            }
        }
        if !self.cholesky.is_empty() {
            writeln!(
                s,
                "\nRank-1 Cholesky update against refactorization (P + x xᵀ):\n"
            )?;
            writeln!(s, "| D | rank-1 update | refactorization | ratio |")?;
            writeln!(s, "|---|---|---|---|")?;
            for (d, update, refactored) in &self.cholesky {
                writeln!(
                    s,
                    "| {d} | {} | {} | {:.1}× |",
                    fmt_ns(*update),
                    fmt_ns(*refactored),
                    refactored / update
                )?;
            }
        }
        if !self.grid.is_empty() {
            writeln!(
                s,
                "\nOne PL update, core against the f64 reference, same run (R = D):\n"
            )?;
            writeln!(
                s,
                "| N | K | D | core | core per particle | reference | core vs reference |"
            )?;
            writeln!(s, "|---|---|---|---|---|---|---|")?;
            for u in &self.grid {
                let p = u.point;
                writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {:.1}× |",
                    p.n,
                    p.k,
                    p.d,
                    fmt_ns(u.core_ns),
                    fmt_ns(u.core_ns / p.n as f64),
                    u.reference_ns.map_or("–".to_owned(), fmt_ns),
                    u.ratio.unwrap_or(f64::NAN)
                )?;
            }
            self.write_grid_exponents(s)?;
        }
        Ok(())
    }

    /// The exponent in D over the grid's D ≥ 4 at each (N, K).
    fn write_grid_exponents(&self, s: &mut String) -> std::fmt::Result {
        let ds: Vec<usize> = GRID_D.iter().copied().filter(|&d| d >= 4).collect();
        writeln!(
            s,
            "\nFitted exponent of update time in D over D ∈ {ds:?} (R = D), per (N, K):\n"
        )?;
        writeln!(s, "| N | K | core | reference |")?;
        writeln!(s, "|---|---|---|---|")?;
        for n in GRID_N {
            for k in GRID_K {
                let row: Vec<&UpdateTiming> = self
                    .grid
                    .iter()
                    .filter(|u| u.point.n == n && u.point.k == k && ds.contains(&u.point.d))
                    .collect();
                let xs: Vec<f64> = row.iter().map(|u| u.point.d as f64).collect();
                let core: Vec<f64> = row.iter().map(|u| u.core_ns).collect();
                let reference: Option<Vec<f64>> = row.iter().map(|u| u.reference_ns).collect();
                let reference = reference.map_or("–".to_owned(), |r| {
                    format!("{:.2}", loglog_slope(&xs, &r))
                });
                writeln!(
                    s,
                    "| {n} | {k} | {:.2} | {reference} |",
                    loglog_slope(&xs, &core)
                )?;
            }
        }
        Ok(())
    }
}

/// A series of update times against one coordinate of the point, with the
/// reference where measured.
fn series_table(
    s: &mut String,
    name: &str,
    series: &[UpdateTiming],
    x: impl Fn(&Point) -> usize,
) -> std::fmt::Result {
    writeln!(
        s,
        "| {name} | core | core per particle | reference | core vs reference |"
    )?;
    writeln!(s, "|---|---|---|---|---|")?;
    for u in series {
        writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            x(&u.point),
            fmt_ns(u.core_ns),
            fmt_ns(u.core_ns / u.point.n as f64),
            u.reference_ns.map_or("–".to_owned(), fmt_ns),
            u.ratio.map_or("–".to_owned(), |r| format!("{r:.1}×"))
        )?;
    }
    Ok(())
}

/// The lines around the generated block of a Markdown file (`--into`).
const BLOCK: (&str, &str) = ("<!-- hsmoe bench: begin -->", "<!-- hsmoe bench: end -->");

/// `text` with the block between the marker lines
/// `<!-- hsmoe bench: begin -->` and `<!-- hsmoe bench: end -->` replaced by
/// `report`, markers kept.
///
/// # Errors
/// If `text` lacks either marker, or has them out of order.
///
/// # Examples
/// ```
/// let doc = "# B\n<!-- hsmoe bench: begin -->\nold\n<!-- hsmoe bench: end -->\ntail\n";
/// let new = hsmoe_host::bench::markdown::splice(doc, "new\n").unwrap();
/// assert_eq!(new, "# B\n<!-- hsmoe bench: begin -->\nnew\n<!-- hsmoe bench: end -->\ntail\n");
/// assert!(hsmoe_host::bench::markdown::splice("# B\n", "new\n").is_err());
/// ```
pub fn splice(text: &str, report: &str) -> anyhow::Result<String> {
    let begin = text
        .find(BLOCK.0)
        .ok_or_else(|| anyhow!("no line {}", BLOCK.0))?
        + BLOCK.0.len();
    let end = text[begin..]
        .find(BLOCK.1)
        .ok_or_else(|| anyhow!("no line {} after {}", BLOCK.1, BLOCK.0))?
        + begin;
    Ok(format!("{}\n{report}{}", &text[..begin], &text[end..]))
}
