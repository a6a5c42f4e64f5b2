//! Hand-written SVG charts of a comparison.
//!
//! - `pauses.svg`: the pause distribution of every implementation on every
//!   workload, on a log scale: a bar from the median-of-runs p50 to p99 and
//!   a whisker up to the max. One `<g class="series" data-impl="…">` per
//!   implementation (so a reader, or a test, can pick a series out).
//! - `heap-<workload>.svg`: heap size (gctrace H1, the heap at the end of
//!   mark) and heap goal over time, for gomem and Go, from the gctrace lines
//!   of each one's median-wall run. One `<g class="series" data-impl="…"
//!   data-quantity="heap|goal">` per implementation and quantity.
//!
//! No plotting crate: the charts are a few rectangles, lines and labels,
//! and SVG written by hand keeps the dependency tree small and the output
//! stable (same input, same bytes).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::gctrace::GcTraceLine;
use super::model::{Metric, Results, Status};
use super::report::fmt_ns;

const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\"";

/// The colour of an implementation (stable across charts).
pub fn colour(imp: &str) -> &'static str {
    match imp {
        "gomem" | "gomem-lox" => "#1f5fd1",
        "clox" => "#495057",
        "go" => "#00a1b8",
        "boxrc" => "#7f7f7f",
        "gc-arena" => "#d9480f",
        "gc" => "#e8a317",
        "dumpster" => "#2b8a3e",
        "bacon-rajan-cc" => "#9c36b5",
        _ => "#c2255c",
    }
}

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            _ => o.push(c),
        }
    }
    o
}

/// "Nice" linear ticks from 0 covering `hi` (steps of 1, 2 or 5 × 10^k).
fn nice_ticks(hi: f64, target: usize) -> Vec<f64> {
    let hi = if hi > 0.0 && hi.is_finite() { hi } else { 1.0 };
    let raw = hi / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (hi / step).ceil() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick label with as many decimals as the tick step needs.
fn fmt_tick(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step < 1.0 {
        (-step.log10().floor()) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

struct Svg {
    s: String,
}

impl Svg {
    fn new(w: f64, h: f64, title: &str) -> Self {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" {FONT} font-size=\"12\">"
        );
        let _ = writeln!(s, "<title>{}</title>", esc(title));
        let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>");
        let _ = writeln!(
            s,
            "<text class=\"title\" x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>",
            w / 2.0,
            esc(title)
        );
        Svg { s }
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = writeln!(
            self.s,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {style}/>"
        );
    }

    /// The y axis (left edge) and x axis (bottom edge) of a plot area.
    fn axes(&mut self, frame: &Frame) {
        let style = "stroke=\"#333\"";
        self.line(frame.left, frame.top, frame.left, frame.bottom(), style);
        self.line(
            frame.left,
            frame.bottom(),
            frame.right(),
            frame.bottom(),
            style,
        );
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, extra: &str, t: &str) {
        let _ = writeln!(
            self.s,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" {extra}>{}</text>",
            esc(t)
        );
    }

    fn raw(&mut self, t: &str) {
        self.s.push_str(t);
        self.s.push('\n');
    }

    fn finish(mut self) -> String {
        self.s.push_str("</svg>\n");
        self.s
    }
}

/// Plot-area geometry.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl Frame {
    fn bottom(&self) -> f64 {
        self.top + self.height
    }
    fn right(&self) -> f64 {
        self.left + self.width
    }
}

/// The pause chart, or `None` if no implementation reported pauses.
pub fn pause_chart(res: &Results) -> Option<String> {
    let pause = |w: &str, imp: &str| -> Option<[f64; 3]> {
        let s = res.summary(w, imp)?;
        if s.status != Status::Ok {
            return None;
        }
        let p50 = s.get(Metric::PauseP50)?;
        let p99 = s.get(Metric::PauseP99).unwrap_or(p50);
        let max = s.get(Metric::PauseMax).unwrap_or(p99);
        (max > 0.0).then_some([p50, p99, max])
    };
    let workloads: Vec<&String> = res
        .meta
        .workloads
        .iter()
        .filter(|w| res.meta.impls.iter().any(|i| pause(w, i).is_some()))
        .collect();
    let impls: Vec<&String> = res
        .meta
        .impls
        .iter()
        .filter(|i| workloads.iter().any(|w| pause(w, i).is_some()))
        .collect();
    if workloads.is_empty() {
        return None;
    }

    let values: Vec<f64> = workloads
        .iter()
        .flat_map(|w| impls.iter().filter_map(move |i| pause(w, i)))
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let vmin = values.iter().copied().fold(f64::INFINITY, f64::min);
    let vmax = values.iter().copied().fold(0.0, f64::max);
    let lo_dec = vmin.log10().floor() as i32;
    let mut hi_dec = vmax.log10().ceil() as i32;
    if hi_dec <= lo_dec {
        hi_dec = lo_dec + 1;
    }

    let slot = 26.0;
    let group = impls.len() as f64 * slot + 36.0;
    let frame = Frame {
        left: 80.0,
        top: 64.0,
        width: (workloads.len() as f64 * group).max(360.0),
        height: 340.0,
    };
    let legend_w = 190.0;
    let w = frame.right() + legend_w;
    let h = frame.bottom() + 64.0;
    let title = format!(
        "GC pauses per implementation (size {}, median of {} run{})",
        res.meta.size,
        res.meta.runs,
        if res.meta.runs == 1 { "" } else { "s" }
    );
    let mut svg = Svg::new(w.max(560.0), h, &title);
    svg.text(
        w.max(560.0) / 2.0,
        44.0,
        "middle",
        "fill=\"#555\"",
        "log scale · bar: p50 to p99 · whisker: max",
    );

    let y_of = |v: f64| -> f64 {
        let t = (v.log10() - f64::from(lo_dec)) / f64::from(hi_dec - lo_dec);
        frame.bottom() - t.clamp(0.0, 1.0) * frame.height
    };

    // Grid and y axis.
    svg.raw("<g class=\"axis y\">");
    for d in lo_dec..=hi_dec {
        let base = 10f64.powi(d);
        let y = y_of(base);
        svg.line(
            frame.left,
            y,
            frame.right(),
            y,
            "stroke=\"#cccccc\" stroke-width=\"1\"",
        );
        svg.line(frame.left - 5.0, y, frame.left, y, "stroke=\"#333\"");
        svg.text(frame.left - 8.0, y + 4.0, "end", "", &fmt_ns(base));
        if d < hi_dec {
            for k in 2..10 {
                let y = y_of(base * f64::from(k));
                svg.line(
                    frame.left,
                    y,
                    frame.right(),
                    y,
                    "stroke=\"#eeeeee\" stroke-width=\"1\"",
                );
            }
        }
    }
    svg.axes(&frame);
    let _ = writeln!(
        svg.s,
        "<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">pause (log scale)</text>",
        frame.top + frame.height / 2.0,
        frame.top + frame.height / 2.0
    );
    svg.raw("</g>");

    // Workload labels.
    svg.raw("<g class=\"axis x\">");
    for (gi, wname) in workloads.iter().enumerate() {
        let cx = frame.left + (gi as f64 + 0.5) * (frame.width / workloads.len() as f64);
        svg.text(cx, frame.bottom() + 20.0, "middle", "", wname);
    }
    svg.raw("</g>");

    // One series per implementation.
    let group_w = frame.width / workloads.len() as f64;
    for (ii, imp) in impls.iter().enumerate() {
        let c = colour(imp);
        let _ = writeln!(
            svg.s,
            "<g class=\"series\" data-impl=\"{}\" fill=\"{c}\" stroke=\"{c}\">",
            esc(imp)
        );
        for (gi, wname) in workloads.iter().enumerate() {
            let Some([p50, p99, max]) = pause(wname, imp) else {
                continue;
            };
            let x0 = frame.left
                + gi as f64 * group_w
                + (group_w - impls.len() as f64 * slot) / 2.0
                + ii as f64 * slot;
            let cx = x0 + slot / 2.0;
            let (y50, y99, ymax) = (y_of(p50.max(1e-9)), y_of(p99.max(1e-9)), y_of(max));
            let tip = format!(
                "{imp} · {wname}: p50 {} · p99 {} · max {}",
                fmt_ns(p50),
                fmt_ns(p99),
                fmt_ns(max)
            );
            let _ = writeln!(svg.s, "<g><title>{}</title>", esc(&tip));
            svg.line(cx, y99, cx, ymax, "stroke-width=\"1.5\"");
            svg.line(cx - 5.0, ymax, cx + 5.0, ymax, "stroke-width=\"2\"");
            let _ = writeln!(
                svg.s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill-opacity=\"0.85\" stroke-width=\"1\"/>",
                x0 + 4.0,
                y99,
                slot - 8.0,
                (y50 - y99).max(2.0)
            );
            svg.raw("</g>");
        }
        svg.raw("</g>");
    }

    // Legend.
    let lx = frame.right() + 24.0;
    svg.raw("<g class=\"legend\">");
    for (ii, imp) in impls.iter().enumerate() {
        let y = frame.top + 8.0 + ii as f64 * 20.0;
        let _ = writeln!(
            svg.s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"12\" fill=\"{}\"/>",
            y - 10.0,
            colour(imp)
        );
        svg.text(lx + 20.0, y, "start", "", imp);
    }
    let ky = frame.top + 8.0 + impls.len() as f64 * 20.0 + 14.0;
    svg.line(lx + 7.0, ky, lx + 7.0, ky + 34.0, "stroke=\"#333\"");
    svg.line(
        lx + 2.0,
        ky,
        lx + 12.0,
        ky,
        "stroke=\"#333\" stroke-width=\"2\"",
    );
    let _ = writeln!(
        svg.s,
        "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"18\" fill=\"#999\"/>",
        ky + 16.0
    );
    svg.text(lx + 20.0, ky + 4.0, "start", "", "max");
    svg.text(lx + 20.0, ky + 20.0, "start", "", "p99");
    svg.text(lx + 20.0, ky + 37.0, "start", "", "p50");
    svg.raw("</g>");
    Some(svg.finish())
}

/// The run of (workload, impl) whose wall time is the median of the ok runs
/// with gctrace lines.
fn representative<'a>(res: &'a Results, workload: &str, imp: &str) -> Option<&'a [GcTraceLine]> {
    let mut runs: Vec<_> = res
        .ok_runs(workload, imp)
        .into_iter()
        .filter(|r| !r.gctrace.is_empty())
        .collect();
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    Some(&runs[(runs.len() - 1) / 2].gctrace)
}

/// The heap-over-time chart of `workload`, or `None` without gctrace data.
pub fn heap_chart(res: &Results, workload: &str) -> Option<String> {
    let series: Vec<(&String, &[GcTraceLine])> = res
        .meta
        .impls
        .iter()
        .filter_map(|i| representative(res, workload, i).map(|t| (i, t)))
        .collect();
    if series.is_empty() {
        return None;
    }
    let tmax = series
        .iter()
        .flat_map(|(_, t)| t.iter().map(|l| l.t_s))
        .fold(0.0, f64::max);
    let ymax = series
        .iter()
        .flat_map(|(_, t)| t.iter().map(|l| l.heap_mb[1].max(l.goal_mb) as f64))
        .fold(0.0, f64::max);
    let xt = nice_ticks(tmax, 8);
    let yt = nice_ticks(ymax, 6);
    let (xhi, yhi) = (*xt.last().unwrap_or(&1.0), *yt.last().unwrap_or(&1.0));
    let step = |t: &[f64]| if t.len() > 1 { t[1] - t[0] } else { 1.0 };
    let (xstep, ystep) = (step(&xt), step(&yt));

    let frame = Frame {
        left: 72.0,
        top: 64.0,
        width: 640.0,
        height: 320.0,
    };
    let w = frame.right() + 200.0;
    let h = frame.bottom() + 60.0;
    let title = format!(
        "Heap and heap goal over time: {workload} (size {})",
        res.meta.size
    );
    let mut svg = Svg::new(w, h, &title);
    svg.text(
        w / 2.0,
        44.0,
        "middle",
        "fill=\"#555\"",
        "from gctrace: heap = H1 (at end of mark), goal = pacer goal; median-wall run",
    );
    let x_of = |t: f64| frame.left + t / xhi * frame.width;
    let y_of = |v: f64| frame.bottom() - v / yhi * frame.height;

    svg.raw("<g class=\"axis\">");
    for v in &yt {
        let y = y_of(*v);
        svg.line(frame.left, y, frame.right(), y, "stroke=\"#e4e4e4\"");
        svg.line(frame.left - 5.0, y, frame.left, y, "stroke=\"#333\"");
        svg.text(frame.left - 8.0, y + 4.0, "end", "", &fmt_tick(*v, ystep));
    }
    for t in &xt {
        let x = x_of(*t);
        svg.line(
            x,
            frame.bottom(),
            x,
            frame.bottom() + 5.0,
            "stroke=\"#333\"",
        );
        svg.text(x, frame.bottom() + 18.0, "middle", "", &fmt_tick(*t, xstep));
    }
    svg.axes(&frame);
    svg.text(
        frame.left + frame.width / 2.0,
        frame.bottom() + 40.0,
        "middle",
        "",
        "time since start (s)",
    );
    let _ = writeln!(
        svg.s,
        "<text x=\"20\" y=\"{0:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {0:.1})\">MiB</text>",
        frame.top + frame.height / 2.0
    );
    svg.raw("</g>");

    for (imp, trace) in &series {
        let c = colour(imp);
        for (quantity, dash) in [("heap", ""), ("goal", " stroke-dasharray=\"6 4\"")] {
            let pts: Vec<String> = trace
                .iter()
                .map(|l| {
                    let v = if quantity == "heap" {
                        l.heap_mb[1]
                    } else {
                        l.goal_mb
                    };
                    format!("{:.1},{:.1}", x_of(l.t_s), y_of(v as f64))
                })
                .collect();
            let _ = writeln!(
                svg.s,
                "<g class=\"series\" data-impl=\"{}\" data-quantity=\"{quantity}\"><title>{} {quantity}</title>",
                esc(imp),
                esc(imp)
            );
            let _ = writeln!(
                svg.s,
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.6\"{dash} points=\"{}\"/>",
                pts.join(" ")
            );
            if trace.len() <= 60 && quantity == "heap" {
                for p in &pts {
                    if let Some((x, y)) = p.split_once(',') {
                        let _ = writeln!(
                            svg.s,
                            "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.2\" fill=\"{c}\"/>"
                        );
                    }
                }
            }
            svg.raw("</g>");
        }
    }

    let lx = frame.right() + 24.0;
    svg.raw("<g class=\"legend\">");
    let mut row = 0.0;
    for (imp, trace) in &series {
        for (quantity, dash) in [("heap", ""), ("goal", " stroke-dasharray=\"6 4\"")] {
            let y = frame.top + 8.0 + row * 20.0;
            let _ = writeln!(
                svg.s,
                "<line x1=\"{lx:.1}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"{2}\" stroke-width=\"2\"{dash}/>",
                y - 4.0,
                lx + 26.0,
                colour(imp)
            );
            svg.text(
                lx + 32.0,
                y,
                "start",
                "",
                &format!("{imp} {quantity} ({} GCs)", trace.len()),
            );
            row += 1.0;
        }
    }
    svg.raw("</g>");
    Some(svg.finish())
}

/// Writes every chart into `dir`; returns the files written.
pub fn write_all(res: &Results, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if let Some(s) = pause_chart(res) {
        let p = dir.join("pauses.svg");
        std::fs::write(&p, s)?;
        files.push(p);
    }
    for w in &res.meta.workloads {
        if let Some(s) = heap_chart(res, w) {
            let p = dir.join(format!("heap-{}.svg", w.replace('/', "-")));
            std::fs::write(&p, s)?;
            files.push(p);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::synthetic_results;

    fn series(doc: &roxmltree::Document<'_>) -> Vec<(String, Option<String>)> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("series"))
            .map(|n| {
                (
                    n.attribute("data-impl").unwrap().to_string(),
                    n.attribute("data-quantity").map(str::to_string),
                )
            })
            .collect()
    }

    #[test]
    fn pause_chart_has_one_series_per_impl() {
        let res = synthetic_results();
        let svg = pause_chart(&res).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let s = series(&doc);
        let names: Vec<&str> = s.iter().map(|(i, _)| i.as_str()).collect();
        // boxrc reports no pauses, so it has no series.
        assert_eq!(names, ["gomem", "go", "gc-arena"]);
    }

    #[test]
    fn heap_chart_has_heap_and_goal_per_impl() {
        let res = synthetic_results();
        let svg = heap_chart(&res, "binary-trees").unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let s = series(&doc);
        assert_eq!(s.len(), 4);
        for imp in ["gomem", "go"] {
            for q in ["heap", "goal"] {
                assert!(s.contains(&(imp.to_string(), Some(q.to_string()))));
            }
        }
        assert!(heap_chart(&res, "latency").is_none());
    }

    #[test]
    fn ticks_and_escaping() {
        assert_eq!(nice_ticks(7.3, 6), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(nice_ticks(0.0, 6).last(), Some(&1.0));
        assert_eq!(fmt_tick(0.4, 0.2), "0.4");
        assert_eq!(fmt_tick(0.25, 0.05), "0.25");
        assert_eq!(fmt_tick(40.0, 20.0), "40");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
