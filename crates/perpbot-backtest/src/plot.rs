//! Charts of a backtest, as SVG files and one self-contained HTML page that shows them: price
//! with the bot's quotes and fills, position, and PnL before gas.
//!
//! Drawn with `plotters` (SVG backend only: text is left to the viewer, so no font library is
//! built). Values become `f64` here for drawing only; nothing computed from them goes back.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::series::Series;
use perpbot_model::Side;

const SIZE: (u32, u32) = (1000, 360);

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {detail}")]
pub struct PlotError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub detail: String,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Write `price.svg`, `position.svg`, `pnl.svg` and `index.html` (the three inline) into `dir`
/// (created). Returns the files written.
pub fn write_charts(series: &Series, title: &str, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    })?;
    let t0 = series.rows.first().map_or(0, |r| r.ts.0);
    let secs = |ns: u64| ns.saturating_sub(t0) as f64 / 1e9;
    let x_end = series.rows.last().map_or(1.0, |r| secs(r.ts.0)).max(1.0);
    let mut written = Vec::new();

    // Price: mid, the bot's best bid and ask, its fills.
    let mids: Vec<(f64, f64)> = series
        .rows
        .iter()
        .filter_map(|r| r.mid.map(|m| (secs(r.ts.0), f(m))))
        .collect();
    let bids: Vec<(f64, f64)> = series
        .rows
        .iter()
        .filter_map(|r| r.bid.map(|p| (secs(r.ts.0), f(p))))
        .collect();
    let asks: Vec<(f64, f64)> = series
        .rows
        .iter()
        .filter_map(|r| r.ask.map(|p| (secs(r.ts.0), f(p))))
        .collect();
    let fills: Vec<(f64, f64, Side)> = series
        .fills
        .iter()
        .map(|x| (secs(x.ts.0), f(x.price), x.side))
        .collect();
    let ys = mids
        .iter()
        .chain(&bids)
        .chain(&asks)
        .map(|p| p.1)
        .chain(fills.iter().map(|x| x.1));
    let (lo, hi) = bounds(ys);
    let path = dir.join("price.svg");
    chart(
        &path,
        &format!("{title}: mid, quotes and fills"),
        x_end,
        (lo, hi),
        |chart| {
            chart
                .draw_series(LineSeries::new(mids.clone(), BLACK.stroke_width(2)))?
                .label("mid")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
            chart
                .draw_series(LineSeries::new(bids.clone(), GREEN.mix(0.6)))?
                .label("own bid")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GREEN));
            chart
                .draw_series(LineSeries::new(asks.clone(), RED.mix(0.6)))?
                .label("own ask")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
            chart.draw_series(fills.iter().map(|&(x, y, side)| {
                let colour = if side == Side::Buy { GREEN } else { RED };
                Circle::new((x, y), 4, colour.filled())
            }))?;
            Ok(())
        },
    )?;
    written.push(path);

    // Position and PnL, summed over markets per row time.
    let position: Vec<(f64, f64)> = series
        .rows
        .iter()
        .map(|r| (secs(r.ts.0), f(r.position)))
        .collect();
    let (lo, hi) = bounds(position.iter().map(|p| p.1));
    let path = dir.join("position.svg");
    chart(
        &path,
        &format!("{title}: position (coins)"),
        x_end,
        (lo, hi),
        |chart| {
            chart.draw_series(LineSeries::new(position.clone(), BLUE.stroke_width(2)))?;
            Ok(())
        },
    )?;
    written.push(path);

    let pnl: Vec<(f64, f64)> = series
        .rows
        .iter()
        .map(|r| (secs(r.ts.0), f(r.pnl)))
        .collect();
    let (lo, hi) = bounds(pnl.iter().map(|p| p.1));
    let path = dir.join("pnl.svg");
    chart(
        &path,
        &format!("{title}: PnL before gas (quote)"),
        x_end,
        (lo, hi),
        |chart| {
            chart.draw_series(LineSeries::new(pnl.clone(), MAGENTA.stroke_width(2)))?;
            Ok(())
        },
    )?;
    written.push(path);

    // One page with the three inline, so it opens anywhere without its neighbours.
    let mut html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}</style></head><body>\n<h1>{title}</h1>\n"
    );
    for p in &written {
        let svg = std::fs::read_to_string(p).map_err(|e| PlotError {
            path: p.clone(),
            detail: e.to_string(),
        })?;
        html.push_str(&svg);
        html.push('\n');
    }
    html.push_str("</body></html>\n");
    let path = dir.join("index.html");
    std::fs::write(&path, html).map_err(|e| PlotError {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    written.push(path);
    Ok(written)
}

/// A y range with a margin, never empty.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (-1.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn chart(
    path: &Path,
    caption: &str,
    x_end: f64,
    (lo, hi): (f64, f64),
    draw: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), DrawingAreaErrorKind<std::io::Error>>,
) -> Result<(), PlotError> {
    let error = |e: &dyn std::fmt::Display| PlotError {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_end, lo..hi)
        .map_err(|e| error(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|e| error(&e))?;
    draw(&mut chart).map_err(|e| error(&e))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| error(&e))?;
    root.present().map_err(|e| error(&e))?;
    Ok(())
}
