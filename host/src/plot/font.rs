//! The one font of every plot, shipped with the crate.

use plotters::style::FontStyle;
use std::sync::Once;

/// Registers the shipped font as plotters' "sans-serif" (once).
pub(super) fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // The font file is part of the build; it parses.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}
