//! `--plot FILE.svg`: received bitrate, loss and latency (p50, p99) over
//! time, one panel each, from the per-second samples (plotters, SVG backend,
//! no font files needed).

use std::path::Path;

use plotters::prelude::*;

use super::Report;

pub fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let s = &report.samples;
    let t_max = s.last().map(|x| x.t_s).unwrap_or(1.0).max(1.0);
    let root = SVGBackend::new(path, (900, 780)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            &format!("relais-load {} ({} joined)", report.scenario, report.joined),
            ("sans-serif", 20),
        )
        .map_err(err)?;
    let panels = root.split_evenly((3, 1));
    type Series<'a> = Vec<(&'a str, RGBColor, Vec<(f64, f64)>)>;
    let all: [(&str, Series); 3] = [
        (
            "received Mbit/s (all subscribers)",
            vec![("rx", BLUE, s.iter().map(|x| (x.t_s, x.rx_mbps)).collect())],
        ),
        (
            "loss after retransmission, %",
            vec![(
                "loss",
                RED,
                s.iter().map(|x| (x.t_s, x.loss_percent)).collect(),
            )],
        ),
        (
            "end-to-end latency, ms",
            vec![
                (
                    "p50",
                    GREEN,
                    s.iter().map(|x| (x.t_s, x.latency_p50_ms)).collect(),
                ),
                (
                    "p99",
                    MAGENTA,
                    s.iter().map(|x| (x.t_s, x.latency_p99_ms)).collect(),
                ),
            ],
        ),
    ];
    for (area, (title, series)) in panels.iter().zip(all) {
        let y_max = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().map(|p| p.1))
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .draw()
            .map_err(err)?;
        for (name, color, points) in series {
            chart
                .draw_series(LineSeries::new(points, color))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {e}")
}
